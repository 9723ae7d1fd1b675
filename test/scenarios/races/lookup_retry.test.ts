/*
 * lookup-retry: a fault whose VMA is detached under it (merged into its
 * neighbour by mprotect) retries its lookup from the root and reads the
 * range it never stopped mapping, under every policy. Without the maple
 * state's reset, the retry walks the node it cached before vma_start_read()
 * dropped the RCU read lock. The schedule that shows it takes two
 * preemptions (the reader after its lookup, and after its failed
 * vma_start_read() dropped RCU, for the grace period to end), which PCT
 * finds in a few hundred schedules; the fixed kernel survives it.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config } from '../../../src/check/kernel.js';
import { Directed, Pct, parse_phases } from '../../../src/check/strategy.js';
import { VARIANT_RETRY_WITH_STALE_MAS } from '../../../src/kernel/mm/mmap_lock.js';
import { scenario } from '../../../src/scenarios/races/lookup_retry.js';
import { test_clean } from '../scenario_helpers.js';

test_clean('lookup-retry', scenario);

const explorer = (variant: string) =>
  new Explorer(scenario, make_config(scenario, { policy: 'vma-refcnt', variant }));

// The reader stops before its vma_start_read() increment; mprotect merges
// its VMA away and cpu1 writes; the grace-period kthread waits for the
// reader, which finds the VMA detached and drops RCU; the kthread ends the
// grace period and frees the old node; the reader retries.
const STALE = '0:cmpxchg:vm_refcnt,1:*,2:*,0:*,2:*';

test('lookup-retry: the retry walks a freed maple node without mas_set()', () => {
  const bad = explorer(VARIANT_RETRY_WITH_STALE_MAS).check(new Directed(parse_phases(STALE)));
  assert.equal(bad.bug?.class, 'use-after-free', bad.bug?.message);
  assert.match(
    bad.bug.message,
    /maple_node@0x[0-9a-f]+\.nr \(gen \d+\) by cpu0; .*freed by rcu_gp_kthread/,
  );
  assert.equal(explorer('').check(new Directed(parse_phases(STALE))).bug, null);
});

test('lookup-retry: PCT finds the stale maple state', () => {
  const r = explorer(VARIANT_RETRY_WITH_STALE_MAS).check(new Pct(1, 5000, 3), { time_ms: 20000 });
  assert.equal(r.bug?.class, 'use-after-free', r.bug?.message);
});
