/*
 * recycle-exit: a fault that finds its VMA recycled into another mm puts
 * it with that mm pinned, under every policy. Without the pin
 * (9bbffee67ffd) the put wakes the other mm's writer after the mm was
 * freed. That takes four preemptions (the reader after its lookup, after
 * its increment and after its decrement; the exiting writer inside its
 * wait), beyond the catalogue's DFS and PCT budgets, so it is shown by the
 * schedule that breaks it, which the fixed kernel survives.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config } from '../../../src/check/kernel.js';
import { Directed, parse_phases } from '../../../src/check/strategy.js';
import { VARIANT_PUT_WITHOUT_MMGRAB } from '../../../src/kernel/mm/mmap_lock.js';
import { scenario } from '../../../src/scenarios/races/recycle_exit.js';
import { test_clean } from '../scenario_helpers.js';

test_clean('recycle-exit', scenario);

// The reader (cpu0) stops before its increment; cpu1 unmaps the VMA, maps it
// into the second mm and drops a user; the reader takes its reference and
// finds vm_mm another's; cpu2, the last user, stops as its exit_mmap()
// waits for the reader; the reader drops its reference and stops before
// the wake-up; cpu2 sees no reader, exits and frees the mm.
const UAF =
  '0:cmpxchg:vm_refcnt,1:*,0:+2,2:store_release:vma_writer_wait,0:load_acquire:vma_writer_wait,2:*,3:*,2:*,0:*';

const directed = (variant: string) =>
  new Explorer(scenario, make_config(scenario, { policy: 'vma-refcnt', variant })).check(
    new Directed(parse_phases(UAF)),
  );

test('recycle-exit: the put without mmgrab() wakes the writer of a freed mm', () => {
  const bad = directed(VARIANT_PUT_WITHOUT_MMGRAB);
  assert.equal(bad.bug?.class, 'use-after-free', bad.bug?.message);
  assert.match(
    bad.bug.message,
    /mm_struct@0x[0-9a-f]+\.vma_writer_wait\.task \(gen \d+\) by cpu0; .*freed by cpu2 in mmdrop/,
  );
  assert.equal(bad.bug.preemptions, 4);
  assert.equal(directed('').bug, null);
});
