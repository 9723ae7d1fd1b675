/*
 * fault-vs-fork: the child sees the page as it was before or after the
 * parent's racing write, the parent its own write, under every policy.
 */
import { scenario } from '../../../src/scenarios/races/fault_vs_fork.js';
import { test_clean } from '../scenario_helpers.js';

test_clean('fault-vs-fork', scenario);

// early=1: the child reads at once after the fork. It once failed under
// every policy, with no preemption at all: the parent's store went through
// a present writable PTE after fork had write-protected it, since the model
// had no TLB shootdown (KCSAN: data-race in user_access / user_access on
// page_frame.data). fork now flushes (flush_tlb_mm() waits for a CPU that
// holds the old translation to finish its access), as the IPI does on Linux.
test_clean('fault-vs-fork (the child reads at once)', scenario, { params: { early: 1 } });
