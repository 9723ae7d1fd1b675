/*
 * The source a worker thread starts from: it imports modules and calls
 * one function of the first with the others. From dist/ it imports the
 * compiled .js modules; under tsx (development and tests) it loads the .ts
 * sources through tsx's tsImport, since Node 20 applies no loader hooks to
 * a worker's entry. `args` may name `imp`, the function that imports one
 * more module the same way, for a worker that loads modules as it goes. A
 * failure to start is posted as a 'bug' message, the shape every mmlab
 * worker uses for failures.
 */
export function worker_source(
  modules: readonly string[],
  main: string,
  args: (names: readonly string[]) => string,
): string {
  const imp = import.meta.url.endsWith('.ts')
    ? `(u) => import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => api.tsImport(u, ${JSON.stringify(import.meta.url)}))`
    : '(u) => import(u)';
  const names = modules.map((_, i) => `m${i}`);
  return `const imp = ${imp};
Promise.all([${modules.map((u) => `imp(${JSON.stringify(u)})`).join(', ')}])
  .then(([${names.join(', ')}]) => m0.${main}(${args(names.slice(1))}))
  .catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'bug', bug_class: 'exception', message: String(e && e.message || e), stack: String(e && e.stack || '') }); });`;
}

/** The URL of a sibling module of `base`, with the extension `base` has (.ts or .js). */
export function sibling_url(base: string, name: string): string {
  const ext = base.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, base).href;
}
