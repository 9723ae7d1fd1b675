/*
 * fault-vs-fork: the child sees the page as it was before or after the
 * parent's racing write, the parent its own write, under every policy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judge, NEW, OLD, scenario } from '../../../src/scenarios/races/fault_vs_fork.js';
import { test_clean } from '../scenario_helpers.js';

test_clean('fault-vs-fork', scenario);

// early=1: the child reads at once after the fork. It once failed under
// every policy, with no preemption at all: the parent's store went through
// a present writable PTE after fork had write-protected it, since the model
// had no TLB shootdown (KCSAN: data-race in user_access / user_access on
// page_frame.data). fork now flushes (flush_tlb_mm() waits for a CPU that
// holds the old translation to finish its access), as the IPI does on Linux.
test_clean('fault-vs-fork (the child reads at once)', scenario, { params: { early: 1 } });

test('fault-vs-fork: the outcome rule holds the child to the order the CPUs saw', () => {
  const ok = {
    wrote: 0,
    parent: NEW,
    child_first: OLD,
    child_last: OLD,
    forked_first: false,
    wrote_first: false,
  };
  assert.equal(judge(ok), undefined);
  assert.equal(judge({ ...ok, child_first: NEW, child_last: NEW, wrote_first: true }), undefined);
  assert.match(judge({ ...ok, wrote: -11 }) ?? '', /the parent's write failed \(-11\)/);
  assert.match(judge({ ...ok, parent: OLD }) ?? '', /the parent reads 0x11223344/);
  assert.match(judge({ ...ok, child_first: 0x11227788, child_last: 0x11227788 }) ?? '', /neither/);
  assert.match(judge({ ...ok, child_last: NEW }) ?? '', /changed after the fork/);
  const late = { ...ok, child_first: NEW, child_last: NEW, forked_first: true };
  assert.match(judge(late) ?? '', /a write that began after the fork returned/);
  assert.match(
    judge({ ...ok, wrote_first: true }) ?? '',
    /not 0x55667788, written before the fork began/,
  );
});
