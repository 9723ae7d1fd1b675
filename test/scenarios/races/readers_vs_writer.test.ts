/*
 * readers-vs-writer: two readers fault in one VMA while a writer splits it
 * with mprotect, clean under every policy; eight CPUs too. With three
 * tasks (four with the RCU kthread) bound 1 has thousands of schedules:
 * the DFS is capped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { POLICIES } from '../../../src/kernel/mm/policy.js';
import { scenario } from '../../../src/scenarios/races/readers_vs_writer.js';
import { explore_random, test_clean } from '../scenario_helpers.js';

test_clean('readers-vs-writer', scenario, { schedules: 300, dfs_schedules: 500 });

test('readers-vs-writer: seven readers, clean under every policy', () => {
  for (const policy of POLICIES) {
    const r = explore_random(scenario, { policy, cpus: 8 }, 40, 3);
    assert.equal(r.bug, null, `${policy}: ${r.bug?.class}: ${r.bug?.message} ${r.bug?.replay}`);
  }
});

// whole=1: mprotect of the whole VMA, no split. It once showed the model's
// mprotect_fixup() changing vm_flags without vma_start_write() (Linux calls
// it right before vm_flags_reset_once()): KCSAN reported the fault's read of
// vm_flags under the VMA lock racing with the write, with no preemption:
//   m1:readers-vs-writer:c=3,p=vma-rwsem,whole=1:0x64.2x39:bba5dcf1
test('readers-vs-writer: the whole VMA, clean under every policy', () => {
  for (const policy of POLICIES) {
    const r = explore_random(scenario, { policy, params: { whole: 1 } }, 300, 5);
    assert.equal(r.bug, null, `${policy}: ${r.bug?.class}: ${r.bug?.message} ${r.bug?.replay}`);
  }
});
