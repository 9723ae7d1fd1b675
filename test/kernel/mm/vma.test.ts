/*
 * vm_area_alloc() clears a recycled VMA as vma_init() does, vm_lock_seq and
 * vm_refcnt included, while a lockless vma_start_read() may be reading
 * both: the race Linux has (docs/explorer.md, the triage), reported on each
 * word by a schedule of three steps; vm_area_dup() does not clear or copy
 * them, and races no such reader.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { make_config } from '../../../src/check/kernel.js';
import { check_scenario, run_tasks } from '../../../src/check/search.js';
import { parse_phases } from '../../../src/check/strategy.js';
import { VM_READ } from '../../../src/kernel/mm/mm_types.js';
import { mmap_read_lock, mmap_write_lock } from '../../../src/kernel/mm/mmap_lock.js';
import {
  dup_anon_vma,
  find_vma_intersection,
  vm_flags_reset_once,
  vma_info,
  vma_merge_new_range,
  vma_modify,
} from '../../../src/kernel/mm/vma.js';
import { call } from '../../../src/runtime/ops.js';
import { scenario as vma_recycle } from '../../../src/scenarios/races/vma_recycle.js';
import { check_script } from '../../../src/script/check_script.js';
import { parse_concurrent } from '../../../src/script/concurrent.js';
import { script_scenario } from '../../../src/script/scenario.js';
import { ANON, anon_vma_of, tripped } from './tripped.js';

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

/*
 * vm_area_dup() is not vm_area_alloc(): vm_area_init_from() copies the
 * fields one by one and leaves vm_lock_seq and vm_refcnt to
 * vma_lock_init()'s marked stores. A reader of p0's VMA, freed by cpu1's
 * munmap and taken back from cpu1's slab by the split of its child's copy
 * of it, reads vm_lock_seq just as the copy is made: no race (the model
 * that copied vm_lock_seq with the fields reported
 * "data-race in memcpy / vma_start_read" here, which Linux has not).
 */
test("vm_area_dup()'s copy does not write vm_lock_seq under a lockless reader", async () => {
  const s = parse_concurrent(
    [
      'mmap 0x100000 2 rw- private anon fixed',
      'write 0x100000 1',
      'fork',
      'cpu 0:',
      '  read 0x101000',
      'cpu 1:',
      '  munmap 0x100000 2',
      '  p1 mmap 0x101000 1 r-- private anon fixed',
    ].join('\n'),
  );
  const phases = '0:read_once:vm_lock_seq,1:memcpy:vm_area_struct,1:+1,0:+1,0:*,1:*,2:*';
  const scenario = script_scenario(s);
  const r = await check_script(
    s,
    { policy: 'vma-refcnt', variant: '' },
    {
      strategy: 'directed',
      phases: parse_phases(
        phases,
        run_tasks(scenario, make_config(scenario, { cpus: 2, policy: 'vma-refcnt' })),
      ),
    },
  );
  // The directed schedule reached the memcpy (else PhaseNotReached) and ran on to its end: no report.
  assert.equal(r.bug, null, r.bug?.signature);
});

/*
 * mm/vma.c's lock rules: the index is searched under the mmap lock
 * (find_vma_intersection()), merged into only under its write lock
 * (vma_merge_new_range(), vma_merge_existing_range()), and a VMA's flags
 * change only under its own write lock (vm_flags_reset_once()).
 */

test('find_vma_intersection() without the mmap lock trips mmap_assert_locked()', () => {
  const bug = tripped(function* (k, mm) {
    yield* call(anon_vma_of(k, mm, false));
    yield* call(find_vma_intersection(k, mm, ANON, ANON + 1));
  });
  assert.equal(bug?.bug_class, 'lockdep', String(bug));
  assert.equal(
    bug!.message,
    'lockdep_assert_held failed: cpu0 must hold mm->mmap_lock and does not hold it',
  );
});

const FOR_READ =
  'lockdep_assert_held failed: cpu0 must hold mm->mmap_lock for write and holds it for read';

/*
 * Each call below would find nothing to merge or split, and so take no VMA
 * write lock: only the assertion at its entry can see the wrong lock.
 */
test('vma_merge_new_range() under the mmap read lock trips mmap_assert_write_locked()', () => {
  const bug = tripped(function* (k, mm) {
    const v = yield* vma_info(k, yield* call(anon_vma_of(k, mm, false)));
    yield* call(mmap_read_lock(k, mm));
    // Unlike its neighbour's, these flags lack VM_WRITE: no merge.
    const p = { start: v.end, end: v.end + 1, flags: VM_READ, file: 0, pgoff: v.end, anon_vma: 0 };
    assert.equal(yield* call(vma_merge_new_range(k, mm, p)), 0);
  });
  assert.equal(bug?.message, FOR_READ, String(bug));
});

test('vma_modify() under the mmap read lock trips mmap_assert_write_locked() in vma_merge_existing_range()', () => {
  const bug = tripped(function* (k, mm) {
    const v = yield* vma_info(k, yield* call(anon_vma_of(k, mm, false)));
    yield* call(mmap_read_lock(k, mm));
    // The whole VMA, no neighbours: nothing to merge, nothing to split.
    assert.equal(yield* call(vma_modify(k, mm, v.vma, v.start, v.end, v.flags)), v.vma);
  });
  assert.equal(bug?.message, FOR_READ, String(bug));
});

const NOT_WRITE_LOCKED =
  'kernel BUG at vma_assert_write_locked: VM_BUG_ON_VMA(!__is_vma_write_locked(vma)) (cpu 0)';

test('vm_flags_reset_once() of a VMA not write-locked trips vma_assert_write_locked()', () => {
  const bug = tripped(function* (k, mm) {
    const vma = yield* call(anon_vma_of(k, mm, false));
    yield* call(mmap_write_lock(k, mm));
    yield* call(vm_flags_reset_once(k, vma, VM_READ));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.equal(bug!.message, NOT_WRITE_LOCKED);
});

/*
 * A merge that moves anonymous pages into a VMA without an anon_vma gives
 * it one; a fault under that VMA's lock could be setting its own: mainline
 * asserts the VMA write-locked there, as a merge that forgot to lock it
 * (docs/mutants.md) shows at once.
 */
test('dup_anon_vma() into a VMA not write-locked trips vma_assert_write_locked()', () => {
  const bug = tripped(function* (k, mm, fresh) {
    const src = yield* call(anon_vma_of(k, mm, true));
    yield* call(mmap_write_lock(k, mm));
    yield* call(dup_anon_vma(k, yield* vma_info(k, fresh), yield* vma_info(k, src)));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.equal(bug!.message, NOT_WRITE_LOCKED);
});
