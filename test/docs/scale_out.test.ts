/*
 * docs/examples/: the GitHub Actions workflow and the Kubernetes Indexed
 * Job of docs/scale-out.md, read with mini_yaml.ts and run here as their
 * machines would run them, with N = 2: parts 0/2 and 1/2 of their search,
 * then their merge, which must have every part and give the verdict and
 * bound of the same search unsharded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { facts, run_line } from './examples.js';
import { parse_yaml, type Yaml } from './mini_yaml.js';

const EXAMPLES = new URL('../../docs/examples/', import.meta.url);

/* A field of parsed YAML, by path; a missing one fails the test naming it. */
function at(doc: Yaml, ...path: (string | number)[]): Yaml {
  let v = doc;
  for (const k of path) {
    assert.ok(v !== null && typeof v === 'object', `no ${path.join('.')}`);
    v = (v as Record<string, Yaml>)[k]!;
    assert.ok(v !== undefined, `no ${path.join('.')}`);
  }
  return v;
}

/* The one step or argument of `list` whose command runs `mmlab WHAT`. */
function command(list: readonly string[], what: 'check' | 'merge'): string {
  const found = list.filter((c) => c.startsWith(`node dist/cli/main.js ${what} `));
  assert.equal(found.length, 1, `one 'mmlab ${what}' command, not ${found.length}`);
  return found[0]!;
}

/*
 * A shell line of an example as run_line() runs it here: `node
 * dist/cli/main.js` is mmlab, the shared volume /parts/ is the test's
 * directory, `|| test $? -eq 1` (a part's bug is its result) is checked and
 * dropped, and a `*` is expanded as the shell would.
 */
function local(dir: string, line: string): string {
  const [cmd, ...or] = line.replaceAll('/parts/', '').split(' || ');
  if (or.length > 0) assert.deepEqual(or, ['test $? -eq 1']);
  return cmd!
    .replace(/^node dist\/cli\/main\.js /, 'mmlab ')
    .split(' ')
    .flatMap((w) => {
      if (!w.includes('*')) return [w];
      const re = new RegExp(`^${w.replaceAll('.', '\\.').replaceAll('*', '.*')}$`);
      return readdirSync(dir)
        .filter((f) => re.test(f))
        .sort();
    })
    .join(' ');
}

/*
 * Run `check` (a part's command, INDEX standing for its index, over `n`
 * parts as the file declares) as parts 0/2 and 1/2, then `merge`; compare
 * with the search unsharded.
 */
function run_as_two_parts(check: string, merge: string, index: string, n: number): void {
  assert.ok(check.includes(`--shard ${index}/${n} `), `--shard ${index}/${n}: N as declared`);
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-scale-out-'));
  try {
    const part = (i: number) => check.replaceAll(index, String(i)).replace(`/${n} `, '/2 ');
    for (const i of [0, 1]) {
      const r = run_line(dir, local(dir, part(i)), []);
      assert.ok(r.code === 0 || r.code === 1, `part ${i}: exit ${r.code}: ${r.err}`);
    }
    const merged = run_line(dir, local(dir, merge), []);
    const unsharded = local(dir, part(0)).replace(/ --shard \S+ --json > .*$/, '');
    const whole = run_line(dir, unsharded, []);
    const m = facts(merged.out);
    const w = facts(whole.out);
    assert.equal(m.get('parts'), 'all of them', merged.out + merged.err);
    assert.equal(m.get('verdict'), w.get('verdict'));
    assert.equal(m.get('bound'), w.get('bound'));
    assert.equal(merged.code, whole.code);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('github-actions.yml: a matrix job a part, the merge job after them all', () => {
  const [wf, ...more] = parse_yaml(readFileSync(new URL('github-actions.yml', EXAMPLES), 'utf8'));
  assert.equal(more.length, 0);
  const index = at(wf!, 'jobs', 'part', 'strategy', 'matrix', 'index') as number[];
  assert.deepEqual(index, [...index.keys()], 'the matrix indices are 0..N-1');
  assert.equal(at(wf!, 'jobs', 'merge', 'needs'), 'part');
  const runs = (job: string) =>
    (at(wf!, 'jobs', job, 'steps') as Yaml[])
      .map((s) => (s as Record<string, Yaml>).run)
      .filter((r): r is string => typeof r === 'string');
  const check = command(runs('part'), 'check');
  const merge = command(runs('merge'), 'merge');
  // GitHub's expression for the job's index, not a template string.
  const matrix_index = ['$', '{{ matrix.index }}'].join('');
  run_as_two_parts(check, merge, matrix_index, index.length);
});

test('k8s-indexed-job.yaml: an Indexed Job a part, JOB_COMPLETION_INDEX its shard, then the merge', () => {
  const docs = parse_yaml(readFileSync(new URL('k8s-indexed-job.yaml', EXAMPLES), 'utf8'));
  assert.equal(docs.length, 2);
  const [parts, merge] = docs as [Yaml, Yaml];
  assert.equal(at(parts, 'kind'), 'Job');
  assert.equal(at(parts, 'spec', 'completionMode'), 'Indexed');
  const n = at(parts, 'spec', 'completions') as number;
  const args = (job: Yaml) => {
    const c = at(job, 'spec', 'template', 'spec', 'containers', 0);
    assert.deepEqual(at(c, 'command'), ['sh', '-c']);
    return at(c, 'args') as string[];
  };
  const mounts = (job: Yaml) =>
    at(job, 'spec', 'template', 'spec', 'volumes', 0, 'persistentVolumeClaim');
  assert.deepEqual(mounts(parts), mounts(merge), 'the parts and the merge share one volume');
  run_as_two_parts(
    command(args(parts), 'check'),
    command(args(merge), 'merge'),
    '$JOB_COMPLETION_INDEX',
    n,
  );
});

test('the YAML reader rejects what it does not read, naming the line', () => {
  for (const [text, line] of [
    ['a: 1\n\tb: 2', 2],
    ['a: &x 1', 1],
    ['a:\n  - 1\n b: 2', 3],
    ['a: 1\na: 2', 2],
    ['a: {b: 1}', 1],
  ] as const)
    assert.throws(() => parse_yaml(text), new RegExp(`^Error: line ${line}:`), text);
  assert.deepEqual(parse_yaml('a:\n  - b: 1\n    c: "x # y"\n  - [1, two]\nd: |\n  l1\n  # l2\n'), [
    { a: [{ b: 1, c: 'x # y' }, [1, 'two']], d: 'l1\n# l2\n' },
  ]);
});
