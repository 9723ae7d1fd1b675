/*
 * The parts of a split search: --jobs shares the schedule budget, and
 * the parts of a shard cover that shard, however many they are.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedDfs, type Shard } from '../../src/check/dfs.js';
import { Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { merge_results, part_result, share, subshard } from '../../src/check/parallel.js';
import { RandomWalk } from '../../src/check/strategy.js';
import { VARIANT_UP_READ_WITHOUT_RCU } from '../../src/kernel/mm/mmap_lock.js';
import { scenario as fault_vs_munmap } from '../../src/scenarios/races/fault_vs_munmap.js';

test('the shares of a budget add up to it and differ by one at most', () => {
  for (const [n, jobs] of [
    [300, 2],
    [10, 3],
    [2, 4],
    [10_000, 7],
  ] as const) {
    const shares = Array.from({ length: jobs }, (_, k) => share(n, k, jobs));
    assert.equal(
      shares.reduce((a, b) => a + b, 0),
      n,
    );
    assert.ok(Math.max(...shares) - Math.min(...shares) <= 1, `${shares}`);
  }
});

/* The first choices of each schedule a random walk on `shard` runs, one string a schedule. */
function walks(shard: Shard, schedules: number): string[] {
  const w = new RandomWalk(7, schedules, shard);
  const out: string[] = [];
  for (let i = 0; w.begin(i); i++)
    out.push(Array.from({ length: 12 }, () => w.pick([0, 1, 2, 3])).join(''));
  return out;
}

test("a random walk's jobs run their shard's schedules, each once, within its budget", () => {
  const shard = { index: 1, count: 3 };
  const jobs = 2;
  const parts = Array.from({ length: jobs }, (_, k) =>
    walks(subshard(shard, k, jobs), share(25, k, jobs)),
  );
  assert.deepEqual(parts.flat().sort(), walks(shard, 25).sort());
});

/* A DFS of fault-vs-munmap within 2 preemptions on `shard`, as a part's result. */
function part(variant: string, shard: Shard) {
  const ex = new Explorer(
    fault_vs_munmap,
    make_config(fault_vs_munmap, { policy: 'vma-rwsem', variant }),
  );
  const strategy = new BoundedDfs(2, Number.MAX_SAFE_INTEGER, 1, shard);
  return part_result(shard, strategy, ex.check(strategy));
}

test("a DFS shard's jobs do what the shard does: the bug where it is, the bound where it is not", () => {
  const jobs = 2;
  for (const index of [0, 1]) {
    const shard = { index, count: 2 };
    const alone = part(VARIANT_UP_READ_WITHOUT_RCU, shard);
    const split = [0, 1].map((k) => part(VARIANT_UP_READ_WITHOUT_RCU, subshard(shard, k, jobs)));
    assert.equal(
      split.some((p) => p.bug !== null),
      alone.bug !== null,
      `shard ${index}/2`,
    );
  }
  // On the fixed kernel, a shard run by two jobs and the other by one prove the bound together.
  const parts = [
    ...[0, 1].map((k) => part('', subshard({ index: 0, count: 2 }, k, jobs))),
    part('', { index: 1, count: 2 }),
  ];
  assert.equal(merge_results(parts).bug, null);
  assert.ok(parts.every((p) => p.proved_bound === 2 && p.exhausted === null));
});

test('merged parts: a bug ends the search, whatever budget another part ran out of', () => {
  const shard = (index: number) => ({ index, count: 2 });
  const base = { schedules: 10, steps: 100, elapsed_ms: 1 };
  const spent = {
    ...base,
    shard: shard(1),
    bug: null,
    bugs: [],
    proved_bound: 0,
    exhausted: 'schedules' as const,
  };
  const bug = { preemptions: 2, signature: 'data-race in f on s.x' };
  const found = { ...base, shard: shard(0), bug, bugs: [bug], proved_bound: 1, exhausted: null };
  assert.equal(merge_results([found, spent]).exhausted, null);
  const clean = merge_results([{ ...found, bug: null, bugs: [] }, spent]);
  assert.equal(clean.exhausted, 'schedules');
  assert.deepEqual(clean.exhausted_parts, ['1/2']);
  assert.equal(clean.proved_bound, 0);
});

test('merged parts with --keep-going: each distinct bug once, with the fewest preemptions (the lowest part on a tie)', () => {
  const shard = (index: number) => ({ index, count: 3 });
  const base = { schedules: 10, steps: 100, elapsed_ms: 1, proved_bound: 2, exhausted: null };
  const bug = (signature: string, preemptions: number, part: number) => ({
    signature,
    preemptions,
    part,
  });
  const a = [bug('race on x', 2, 0), bug('uaf of y', 1, 0)];
  const b = [bug('uaf of y', 1, 1), bug('race on z', 0, 1)];
  const c = [bug('race on x', 1, 2)];
  const parts = [a, b, c].map((bugs, i) => ({ ...base, shard: shard(i), bug: bugs[0]!, bugs }));
  const m = merge_results(parts);
  assert.deepEqual(
    m.bugs.map((x) => [x.signature, x.preemptions, x.part]),
    [
      ['race on z', 0, 1],
      ['uaf of y', 1, 0],
      ['race on x', 1, 2],
    ],
  );
  assert.equal(m.bug, m.bugs[0]);
  // The order the parts come in does not matter.
  assert.deepEqual(merge_results([...parts].reverse()).bugs, m.bugs);
});
