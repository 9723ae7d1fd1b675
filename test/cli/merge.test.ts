/*
 * mmlab merge as a user drives it: the parts of one sharded run merge,
 * each once; anything else is one line naming the file, exit 2.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mmlab } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mmlab-merge-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/* Part `shard` of a run, as `mmlab check --shard I/N --json` writes it, in a file. */
function part(shard: string, ...args: string[]): string {
  // lock-selftest, unless the args name a --script to explore instead.
  const target = args.includes('--script') ? [] : ['lock-selftest'];
  const r = mmlab('check', ...target, '--schedules', '20', '--shard', shard, ...args, '--json');
  assert.equal(r.code, 0, r.err);
  const path = join(dir, `${shard.replace('/', 'of')}${args.join('').replace(/[/.]/g, '_')}.json`);
  writeFileSync(path, r.out);
  return path;
}

/* A merge refused: one line naming `file` and the problem, exit 2, nothing on stdout. */
function refused(files: string[], file: string, problem: RegExp): void {
  const r = mmlab('merge', ...files);
  assert.equal(r.code, 2, r.out);
  assert.equal(r.out, '');
  assert.equal(r.err.split('\n').length, 2, r.err);
  assert.ok(r.err.startsWith(`mmlab: ${file}: `), r.err);
  assert.match(r.err, problem);
}

test('a file that holds null, or no object, is not a part', () => {
  for (const [text, what] of [
    ['null', /it holds null/],
    ['[1, 2]', /it holds an array/],
    ['7', /it holds a number/],
  ] as const) {
    const path = join(dir, 'not-a-part.json');
    writeFileSync(path, text);
    refused([path], path, what);
  }
  const bug = join(dir, 'bad-bug.json');
  writeFileSync(
    bug,
    JSON.stringify({
      ...JSON.parse(mmlab('check', 'lock-selftest', '--schedules', '1', '--json').out),
      bug: 5,
    }),
  );
  refused([bug], bug, /a bug without preemptions or replay/);
});

test('the same part given twice is refused, alone or in a set that looks complete', () => {
  const [p0, p1] = [part('0/2'), part('1/2')];
  refused([p0, p0], p0, /part 0\/2 again/);
  refused([p0, p1, p1], p1, /part 1\/2 again/);
  const m = mmlab('merge', p0, p1, '--json');
  assert.equal(m.code, 0, m.err);
  const j = JSON.parse(m.out);
  assert.equal(j.complete, true);
  assert.equal(j.schedules, 40);
});

test('parts of two different scripts are parts of different runs; parts of one script merge', () => {
  const script = (name: string) => join('docs', 'examples', 'scripts', name);
  const a = part('0/2', '--script', script('fault-vs-munmap.txt'));
  const b = part('1/2', '--script', script('lookup-retry.txt'));
  refused([a, b], b, /its script differs from .*: parts of different runs/);
  const b_same = part('1/2', '--script', script('fault-vs-munmap.txt'));
  const m = mmlab('merge', a, b_same, '--json');
  assert.equal(m.code, 0, m.err);
  assert.match(JSON.parse(m.out).script, /^cpu 0:|\ncpu 0:/);
});

test('parts of searches split differently do not merge', () => {
  const a = part('0/2');
  const b = part('0/3');
  refused([a, b], b, /part 0\/3 of a search split in 3, .* split in 2: parts of different splits/);
});

test('merged DFS parts whose budget ended before the bound say so', () => {
  const dfs = ['--strategy', 'dfs', '--bound', '2'];
  const parts = ['0/2', '1/2'].map((s) => part(s, ...dfs));
  const r = mmlab('merge', ...parts);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out.split('\n')[1]!,
    /^every schedule with at most 0 preemptions explored \(up to reordering of commuting accesses\); the budget of parts? [0-9/, ]+ ended the search before bound 1, short of --bound 2 \(raise --schedules\)$/,
  );
  const j = JSON.parse(mmlab('merge', ...parts, '--json').out);
  assert.equal(j.bound, 2);
  assert.equal(j.proved_bound, 0);
  assert.equal(j.budget_exhausted, true);
  assert.equal(j.exhausted, 'schedules');
});

test('parts searched with --keep-going merge into their distinct bugs, each once', () => {
  const args = [
    '--variant',
    'broken-spinlock',
    '--strategy',
    'dfs',
    '--bound',
    '1',
    '--keep-going',
  ];
  const whole = mmlab('check', 'lock-selftest', ...args, '--json');
  const files = ['0/2', '1/2'].map((s) => {
    const r = mmlab('check', 'lock-selftest', ...args, '--shard', s, '--json');
    assert.equal(r.code, 1, r.err);
    const path = join(dir, `keep${s.replace('/', 'of')}.json`);
    writeFileSync(path, r.out);
    return path;
  });
  const r = mmlab('merge', ...files, '--json');
  assert.equal(r.code, 1, r.err);
  const m = JSON.parse(r.out);
  const signatures = m.bugs.map((b: { signature: string }) => b.signature);
  assert.equal(new Set(signatures).size, signatures.length);
  assert.deepEqual(
    [...signatures].sort(),
    JSON.parse(whole.out)
      .bugs.map((b: { signature: string }) => b.signature)
      .sort(),
  );
  const text = mmlab('merge', ...files);
  assert.match(text.out, new RegExp(`\\n${signatures.length} distinct bugs:\\n`));
});
