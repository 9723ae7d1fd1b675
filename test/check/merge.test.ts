/*
 * The parts of a sharded search read back: one run's parts merge, each
 * once; any other document is refused, naming where it came from.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { merge_parts, type PartDocument, PartError } from '../../src/check/merge.js';

/* Part `shard` of a DFS run as `mmlab check --json` writes it. */
function part(shard: string, more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    scenario: 'fault-vs-munmap',
    policy: 'vma-rwsem',
    variant: null,
    cpus: 2,
    params: {},
    strategy: 'dfs',
    seed: 1,
    shard,
    jobs: 1,
    bug: null,
    schedules: 10,
    steps: 1000,
    elapsed_ms: 5,
    bound: 2,
    proved_bound: 2,
    budget_exhausted: false,
    ...more,
  };
}

const docs = (...parts: unknown[]): PartDocument[] =>
  parts.map((doc, i) => ({ source: `p${i}.json`, doc }));

/* merge_parts() refuses: the message, exactly. */
function refused(input: PartDocument[], message: string): void {
  assert.throws(
    () => merge_parts(input),
    (e) => e instanceof PartError && e.message === message,
  );
}

test('the parts of one run merge into the whole, with the run they belong to', () => {
  const m = merge_parts(docs(part('0/2'), part('1/2', { proved_bound: 1 })));
  assert.deepEqual(m.run, {
    scenario: 'fault-vs-munmap',
    policy: 'vma-rwsem',
    variant: null,
    cpus: 2,
    params: {},
    strategy: 'dfs',
    seed: 1,
    bound: 2,
  });
  assert.equal(m.split, 2);
  assert.equal(m.bound, 2);
  assert.equal(m.merged.complete, true);
  assert.equal(m.merged.schedules, 20);
  assert.equal(m.merged.proved_bound, 1);
  const half = merge_parts(docs(part('1/2')));
  assert.equal(half.merged.complete, false);
  assert.equal(half.merged.proved_bound, null);
});

test('a document that is no part is refused, naming its source', () => {
  refused(docs(part('0/2'), []), 'p1.json: not a result of mmlab check --json (it holds an array)');
  refused(
    docs(part('0/2', { bug: { preemptions: 1 } })),
    'p0.json: not a result of mmlab check --json (a bug without preemptions or replay)',
  );
  refused(docs(part('2/2')), "p0.json: not a result of mmlab check --json (no shard 'I/N')");
});

test('parts of different runs, of different splits, or a part twice are refused', () => {
  refused(
    docs(part('0/2'), part('1/2', { seed: 2 })),
    "p1.json: seed 2 differs from p0.json's 1: parts of different runs",
  );
  refused(
    docs(part('0/2'), part('1/3')),
    'p1.json: part 1/3 of a search split in 3, p0.json part 0/2 of one split in 2: parts of different splits',
  );
  refused(
    docs(part('0/2'), part('0/2')),
    'p1.json: part 0/2 again (p0.json is part 0/2): each part merges once',
  );
});

test('no document is no merge', () => {
  refused([], 'no parts to merge');
});

test('a document is taken only once those before it passed', () => {
  function* lazy(): Generator<PartDocument> {
    yield { source: 'first.json', doc: null };
    assert.fail('the second document was taken after the first was refused');
  }
  assert.throws(
    () => merge_parts(lazy()),
    (e) => e instanceof PartError && e.message.startsWith('first.json: '),
  );
});
