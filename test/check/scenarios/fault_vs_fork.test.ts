/*
 * fault-vs-fork: the child sees the page as it was before or after the
 * parent's racing write, the parent its own write, under every policy.
 */
import { test } from 'node:test';
import { scenario } from '../../../src/check/scenarios/fault_vs_fork.js';
import { test_clean } from './scenario_helpers.js';

test_clean('fault-vs-fork', scenario);

// early=1 (the child reads at once after the fork) fails under every policy,
// even with no preemption: the parent's write completes, then cpu1 forks and
// the child reads the page it shares. KCSAN reports
//   data-race in user_access / user_access: write of page_frame.data[2] by
//   cpu0 vs read by cpu1
//   m1:fault-vs-fork:c=2,p=mmap-lock,early=1:2x4.0x15.1x150:93fe6ec8
// The parent's store goes through a present writable PTE without any lock,
// and fork shares the page without touching its data, so nothing orders the
// store before the child's load; on Linux the TLB flush that fork's
// write-protection needs (an IPI the writing CPU answers) does. The model
// has no TLB shootdown, and user_access() stores a word as four byte stores
// through the frame its page walk returned, so a store begun before the
// write-protection could also land after fork returned.
test('fault-vs-fork: the child reading while the parent writes', {
  skip: 'model: no TLB shootdown at fork (see the comment)',
}, () => {});
