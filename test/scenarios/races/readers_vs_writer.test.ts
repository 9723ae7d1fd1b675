/*
 * readers-vs-writer: two readers fault in one VMA while a writer splits it
 * with mprotect, clean under every policy; eight CPUs too. With three
 * tasks (four with the RCU kthread) bound 1 has thousands of schedules:
 * the DFS is capped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { POLICIES } from '../../../src/kernel/mm/policy.js';
import { judge, scenario, WRITTEN } from '../../../src/scenarios/races/readers_vs_writer.js';
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

test('readers-vs-writer: the outcome rule refuses a failed read and an mprotect that did not take', () => {
  const ok = {
    whole: false,
    mprotect: 0,
    seen: [0, 0],
    wrote: [0, 0],
    last_read: WRITTEN,
    last_write: -11,
  };
  assert.equal(judge(ok), undefined);
  assert.equal(judge({ ...ok, whole: true, wrote: [-11, -11] }), undefined);
  assert.match(judge({ ...ok, mprotect: -12 }) ?? '', /mprotect returned -12/);
  assert.match(judge({ ...ok, seen: [0, -11] }) ?? '', /reader 1 read -11/);
  assert.match(judge({ ...ok, last_read: 0 }) ?? '', /the last page reads 0/);
  assert.match(
    judge({ ...ok, last_write: 0 }) ?? '',
    /read-only last page returned 0, not SIGSEGV/,
  );
  assert.match(judge({ ...ok, whole: true }) ?? '', /reader 0's page returned 0, not -11/);
});
