/*
 * Bounded-preemption DFS with partial-order reduction: it proves a
 * scenario clean within its bound whatever the seed, finds each seed bug
 * with the fewest preemptions, and its shards together do what it does.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedDfs, type Shard } from '../../src/check/dfs.js';
import { Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { merge_results, part_result } from '../../src/check/parallel.js';
import { VARIANT_UP_READ_WITHOUT_RCU } from '../../src/kernel/mm/mmap_lock.js';
import { scenario as fault_vs_munmap } from '../../src/scenarios/races/fault_vs_munmap.js';

function dfs(
  variant: string,
  bound: number,
  seed = 1,
  shard?: Shard,
  schedules = Number.MAX_SAFE_INTEGER,
) {
  const ex = new Explorer(
    fault_vs_munmap,
    make_config(fault_vs_munmap, { policy: 'vma-rwsem', variant }),
  );
  const strategy = new BoundedDfs(bound, schedules, seed, shard);
  return { r: ex.check(strategy), strategy };
}

test('the fixed kernel is proved clean within 2 preemptions, from any seed', () => {
  for (const seed of [1, 7]) {
    const { r, strategy } = dfs('', 2, seed);
    assert.equal(r.bug, null, r.bug?.message);
    assert.equal(strategy.proved, 2);
  }
});

test('seed 000 is found with the fewest preemptions it needs, after a bound that cannot show it came out clean', () => {
  const low = dfs(VARIANT_UP_READ_WITHOUT_RCU, 1);
  assert.equal(low.r.bug, null);
  assert.equal(low.strategy.proved, 1);
  const { r, strategy } = dfs(VARIANT_UP_READ_WITHOUT_RCU, 3);
  assert.equal(r.bug?.class, 'use-after-free');
  assert.match(r.bug!.message, /vm_lock/);
  assert.equal(r.bug!.preemptions, 2);
  assert.equal(strategy.bound, 2);
});

test('shards cover the search together: each proves its part, one finds the bug', () => {
  const shards = [0, 1, 2].map((index) => ({ index, count: 3 }));
  const clean = shards.map((shard) => {
    const { r, strategy } = dfs('', 2, 1, shard);
    return part_result(shard, strategy, r);
  });
  const m = merge_results(clean);
  assert.equal(m.complete, true);
  assert.equal(m.proved_bound, 2);
  const found = shards.map((shard) => dfs(VARIANT_UP_READ_WITHOUT_RCU, 2, 1, shard).r.bug);
  assert.ok(found.some((b) => b?.class === 'use-after-free'));
});

test('a budget that ends the search before its bound is told apart from the bound', () => {
  const whole = dfs('', 0);
  assert.equal(whole.strategy.proved, 0);
  assert.equal(whole.strategy.out_of_schedules, false);
  // The budget's last schedule ends bound 0: that bound is proved, and the budget ended the search.
  const cut = dfs('', 2, 1, undefined, whole.r.schedules);
  assert.equal(cut.r.schedules, whole.r.schedules);
  assert.equal(cut.strategy.proved, 0);
  assert.equal(cut.strategy.out_of_schedules, true);
  const short = dfs('', 2, 1, undefined, whole.r.schedules - 1);
  assert.equal(short.strategy.proved, -1);
  assert.equal(short.strategy.out_of_schedules, true);
});
