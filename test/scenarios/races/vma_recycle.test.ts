/*
 * vma-recycle: a fault never sees a VMA recycled into another mm as its
 * own, under every policy. Seed 000 needs two preemptions here, and DFS
 * finds it in about 1,800 schedules (3 s); seed 001 needs three (the
 * writer stopped inside its wait, the reader right after its decrement,
 * the writer run to the free and the second mm's exit), about 7,000
 * schedules (8 s), so it is shown by the schedule that breaks it, which
 * the fixed kernel survives; seed 000's schedule is checked the same way.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config } from '../../../src/check/kernel.js';
import { Directed, parse_phases } from '../../../src/check/strategy.js';
import {
  VARIANT_PUT_READS_MM_LATE,
  VARIANT_UP_READ_WITHOUT_RCU,
} from '../../../src/kernel/mm/mmap_lock.js';
import { judge, MARKER, scenario } from '../../../src/scenarios/races/vma_recycle.js';
import { dfs_find, test_clean } from '../scenario_helpers.js';

function directed(policy: string, variant: string, phases: string) {
  const ex = new Explorer(scenario, make_config(scenario, { policy, variant }));
  return ex.check(new Directed(parse_phases(phases)));
}

test_clean('vma-recycle', scenario);

// The reader (cpu0) stops at its up_read(); the unmapper (cpu1) goes to sleep
// on the rwsem; the reader releases it and stops before rwsem_wake() takes
// wait_lock; the unmapper frees the VMA after a grace period the reader is
// not inside.
const SEED000 =
  '0:fetch_add:vm_lock.count,1:xchg:task_struct[1].__state,0:+1,0:cmpxchg:vm_lock.wait_lock,1:*,2:*,1:*,0:*';

test('vma-recycle: seed 000 found by DFS', () => {
  const r = dfs_find(scenario, 'vma-rwsem', VARIANT_UP_READ_WITHOUT_RCU);
  assert.equal(r.bug?.class, 'use-after-free', r.bug?.message);
  assert.match(r.bug.message, /vm_area_struct@0x[0-9a-f]+\.vm_lock\.wait_lock/);
});

test('vma-recycle: seed 000, up_read() outside RCU touches a freed VMA', () => {
  const bad = directed('vma-rwsem', VARIANT_UP_READ_WITHOUT_RCU, SEED000);
  assert.equal(bad.bug?.class, 'use-after-free');
  assert.match(bad.bug.message, /vm_lock\.wait_lock.* by cpu0.*freed by rcu_gp_kthread/);
  assert.equal(directed('vma-rwsem', '', SEED000).bug, null);
});

// The reader stops at its put; the unmapper, about to sleep in rcuwait,
// takes one step; the reader decrements; the unmapper sees no reader, frees
// the VMA, and the second mm's mmap takes it: the reader's late vm_mm read
// finds the recycled object.
const SEED001 = '0:fetch_add:vm_refcnt,1:xchg:task_struct[1].__state,1:+1,0:+1,1:*,2:*,1:*,0:*';

test('vma-recycle: seed 001, vm_mm read after the put finds the recycled VMA', () => {
  const bad = directed('vma-refcnt', VARIANT_PUT_READS_MM_LATE, SEED001);
  assert.equal(bad.bug?.class, 'use-after-free');
  assert.match(bad.bug.message, /vm_area_struct@0x[0-9a-f]+\.vm_mm \(gen [4-9]\) by cpu0/);
  assert.equal(directed('vma-refcnt', '', SEED001).bug, null);
});

// The outcome rule, driven with forged observations: each wrong outcome is named.
test('vma-recycle: the outcome rule refuses a read through the recycled VMA, a lost munmap, a stale PTE', () => {
  const ok = { seen: 0, marker: MARKER, unmapped_first: false, read_first: false, after: -11 };
  assert.equal(judge(ok), undefined);
  assert.equal(judge({ ...ok, seen: -11, unmapped_first: true }), undefined);
  assert.match(judge({ ...ok, seen: MARKER }) ?? '', /returned the 3536 the other mm wrote/);
  assert.match(
    judge({ ...ok, unmapped_first: true }) ?? '',
    /began after the munmap returned read 0/,
  );
  assert.match(
    judge({ ...ok, seen: -11, read_first: true }) ?? '',
    /before the munmap began got -11/,
  );
  assert.match(judge({ ...ok, marker: 0 }) ?? '', /second mm reads back 0/);
  assert.match(judge({ ...ok, after: 0 }) ?? '', /first mm still reads 0 at the unmapped address/);
});
