/*
 * vm_area_alloc() clears a recycled VMA as vma_init() does, vm_lock_seq and
 * vm_refcnt included, while a lockless vma_start_read() may be reading
 * both: the race Linux has (docs/explorer.md, the triage), reported on each
 * word by a schedule of three steps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { make_config } from '../../../src/check/kernel.js';
import { check_scenario, run_tasks } from '../../../src/check/search.js';
import { parse_phases } from '../../../src/check/strategy.js';
import { scenario as vma_recycle } from '../../../src/scenarios/races/vma_recycle.js';

const cfg = make_config(vma_recycle, { policy: 'vma-refcnt' });

/* The bug the directed schedule `phases` ends in. */
async function directed(phases: string) {
  const r = await check_scenario(vma_recycle, cfg, {
    strategy: 'directed',
    phases: parse_phases(phases, run_tasks(vma_recycle, cfg)),
  });
  return r.bug;
}

test("vm_area_alloc()'s memset races with vma_start_read()'s READ_ONCE of vm_lock_seq", async () => {
  const bug = await directed(
    '0:read_once:vm_lock_seq,1:memset:vm_area_struct,1:+1,0:+1,0:*,1:*,2:*',
  );
  assert.equal(
    bug?.signature,
    'data-race in memset / vma_start_read on vm_area_struct.vm_lock_seq',
  );
});

test('the memset clears vm_refcnt too, as vma_init() does: the race on the count a reader takes', async () => {
  const bug = await directed(
    '0:read_once:vm_lock_seq,0:+2,1:memset:vm_area_struct,1:+1,0:+1,0:*,1:*,2:*',
  );
  assert.equal(
    bug?.signature,
    'data-race in __refcount_add_not_zero_limited / memset on vm_area_struct.vm_refcnt.refs',
  );
});
