/*
 * The layers of README.md's Layout section: every import of every file in
 * src/ (type-only ones, re-exports, dynamic import() and the worker
 * modules named by URL included) points along the arrows of its sentence.
 * The order is read from that sentence, written there once.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Each directory of src/ and the directories it may import from (its own aside). */
type Order = ReadonlyMap<string, ReadonlySet<string>>;

/** The order of the "Imports point one way" paragraph: every `a → b → c` line in it, closed transitively. */
function layer_order(readme: string): Order {
  const layout = readme.slice(readme.indexOf('\n## Layout\n'));
  const sentence = /Imports point one way[\s\S]*?\n\n/.exec(layout)?.[0];
  assert.ok(sentence, "README.md's Layout section has no 'Imports point one way' paragraph");
  const next = new Map<string, Set<string>>();
  for (const line of sentence.matchAll(/\w+(?:\s*→\s*\w+)+/g)) {
    const names = line[0].split('→').map((s) => s.trim());
    names.forEach((name, i) => {
      const after = next.get(name) ?? new Set<string>();
      next.set(name, after);
      if (i + 1 < names.length) after.add(names[i + 1]!);
    });
  }
  const reach = (from: string, seen: Set<string>): Set<string> => {
    for (const n of next.get(from) ?? []) if (!seen.has(n)) reach(n, seen.add(n));
    return seen;
  };
  return new Map([...next.keys()].map((name) => [name, reach(name, new Set())]));
}

const is_import_meta_url = (n: ts.Node | undefined): boolean =>
  n !== undefined && n.getText() === 'import.meta.url';

/** The module a node names, where it is an import of one. */
function specifier_of(node: ts.Node): string | undefined {
  if (
    (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
    node.moduleSpecifier &&
    ts.isStringLiteral(node.moduleSpecifier)
  )
    return node.moduleSpecifier.text;
  if (
    ts.isImportTypeNode(node) &&
    ts.isLiteralTypeNode(node.argument) &&
    ts.isStringLiteral(node.argument.literal)
  )
    return node.argument.literal.text;
  if (ts.isCallExpression(node)) {
    const [a0, a1] = node.arguments;
    if (node.expression.kind === ts.SyntaxKind.ImportKeyword && a0 && ts.isStringLiteralLike(a0))
      return a0.text;
    // runtime/worker_source.ts's sibling_url(import.meta.url, 'name'): a worker's module.
    if (
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'sibling_url' &&
      is_import_meta_url(a0) &&
      a1 &&
      ts.isStringLiteralLike(a1)
    )
      return `./${a1.text}.js`;
  }
  if (
    ts.isNewExpression(node) &&
    ts.isIdentifier(node.expression) &&
    node.expression.text === 'URL'
  ) {
    const [a0, a1] = node.arguments ?? [];
    if (a0 && ts.isStringLiteralLike(a0) && is_import_meta_url(a1)) return a0.text;
  }
  return undefined;
}

/** Every module a source file imports, as written. */
function specifiers(path: string, text: string): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    const s = specifier_of(node);
    if (s !== undefined) found.push(s);
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true));
  return found;
}

const layer_of = (path: string): string | undefined => /^src\/([^/]+)\//.exec(path)?.[1];

/** 'importer -> imported' for each import of `files` (path under the root -> text) against `order`. */
function upward_imports(files: ReadonlyMap<string, string>, order: Order): string[] {
  const found = new Set<string>();
  for (const [file, text] of files) {
    const from = layer_of(file);
    for (const spec of specifiers(file, text)) {
      if (!spec.startsWith('.')) continue;
      const target = posix.join(posix.dirname(file), spec).replace(/\.js$/, '.ts');
      const to = layer_of(target);
      if (from && to && from !== to && !order.get(from)?.has(to)) found.add(`${file} -> ${target}`);
    }
  }
  return [...found].sort();
}

function src_files(): Map<string, string> {
  const paths = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' });
  return new Map(
    paths
      .filter((p) => p.endsWith('.ts'))
      .map((p) => `src/${p.split('\\').join('/')}`)
      .map((p) => [p, readFileSync(join(ROOT, p), 'utf8')]),
  );
}

const ORDER = layer_order(readFileSync(join(ROOT, 'README.md'), 'utf8'));

test("README's Layout sentence places every directory of src/, and no arrow comes back", () => {
  const entries = readdirSync(join(ROOT, 'src'), { withFileTypes: true });
  assert.deepEqual(
    entries.filter((e) => !e.isDirectory()).map((e) => e.name),
    [],
    'src/ holds directories only: a layer each',
  );
  assert.deepEqual(entries.map((e) => e.name).sort(), [...ORDER.keys()].sort());
  for (const [name, below] of ORDER) assert.ok(!below.has(name), `${name} leads back to itself`);
});

test('the order reads as the arrows say: down a line, across to the other line only below check', () => {
  const may = (from: string, to: string): boolean => ORDER.get(from)!.has(to);
  assert.ok(may('cli', 'runtime') && may('bench', 'check') && may('check', 'scenarios'));
  assert.ok(may('oracle', 'script') && may('oracle', 'kernel') && may('script', 'check'));
  assert.ok(!may('check', 'bench') && !may('scenarios', 'check') && !may('runtime', 'kernel'));
  assert.ok(!may('bench', 'oracle') && !may('oracle', 'bench') && !may('script', 'oracle'));
});

test('every form of import is seen, and a module named in a comment or a string is not', () => {
  const text = `
    import { a } from './a.js';
    import type { B } from '../b/b.js';
    import './side_effect.js';
    export { c } from './c.js';
    export * from './d.js';
    export type { E } from './e.js';
    type F = import('./f.js').F;
    const g = await import('./g.js');
    const h = new URL('./h.js', import.meta.url);
    const i = sibling_url(import.meta.url, 'i_worker');
    // import { no } from './comment.js';
    const s = "from './string.js'";
    const elsewhere = new URL('./not_a_module.js', 'file:///tmp/');
  `;
  assert.deepEqual(specifiers('src/x/x.ts', text), [
    './a.js',
    '../b/b.js',
    './side_effect.js',
    './c.js',
    './d.js',
    './e.js',
    './f.js',
    './g.js',
    './h.js',
    './i_worker.js',
  ]);
});

test('an import from a layer above is caught, whatever its form; one down or within is not', () => {
  const files = new Map([
    ['src/check/a.ts', "import type { B } from '../bench/b.js';\nimport { c } from './c.js';"],
    ['src/check/c.ts', "const w = sibling_url(import.meta.url, '../report/w');"],
    ['src/bench/b.ts', "export { k } from '../kernel/mm/k.js';"],
    ['src/kernel/mm/k.ts', "const r = await import('../../scenarios/r.js');"],
  ]);
  assert.deepEqual(upward_imports(files, ORDER), [
    'src/check/a.ts -> src/bench/b.ts',
    'src/check/c.ts -> src/report/w.ts',
    'src/kernel/mm/k.ts -> src/scenarios/r.ts',
  ]);
});

test('no file in src/ imports from a layer above its own', () => {
  assert.deepEqual(
    upward_imports(src_files(), ORDER),
    [],
    `these imports point up README.md's Layout order (${ORDER.size} directories): import the other way, or move the code down`,
  );
});
