/*
 * Bounded-preemption DFS with partial-order reduction: it proves a
 * scenario clean within its bound whatever the seed, finds each seed bug
 * with the fewest preemptions, and its shards together do what it does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedDfs, type Shard } from '../../src/check/dfs.js';
import { Explorer } from '../../src/check/explorer.js';
import { merge_results } from '../../src/check/parallel.js';
import { scenario as fault_vs_munmap } from '../../src/check/scenarios/fault_vs_munmap.js';
import { VARIANT_UP_READ_WITHOUT_RCU } from '../../src/kernel/mm/mmap_lock.js';
import { make_config } from '../../src/runtime/scenario.js';

function dfs(variant: string, bound: number, seed = 1, shard?: Shard) {
  const ex = new Explorer(
    fault_vs_munmap,
    make_config(fault_vs_munmap, { policy: 'vma-rwsem', variant }),
  );
  const strategy = new BoundedDfs(bound, Number.MAX_SAFE_INTEGER, seed, shard);
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
    return {
      shard,
      bug: r.bug,
      schedules: r.schedules,
      steps: r.steps,
      elapsed_ms: r.elapsed_ms,
      proved_bound: strategy.proved,
    };
  });
  const m = merge_results(clean);
  assert.equal(m.complete, true);
  assert.equal(m.proved_bound, 2);
  const found = shards.map((shard) => dfs(VARIANT_UP_READ_WITHOUT_RCU, 2, 1, shard).r.bug);
  assert.ok(found.some((b) => b?.class === 'use-after-free'));
});
