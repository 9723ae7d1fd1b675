/*
 * The two WARN_ON_ONCE()s of mm/mmap_lock.c that guard a writer's
 * exclusion of readers (the writer flag in vm_refcnt), each tripped by a
 * deliberately wrong reader at the moment a directed schedule writes:
 *
 *   wrong=0: a stray put (a vm_refcnt reference nobody took) while
 *     vma_start_write() holds the readers out drops the attach reference:
 *     the VMA ends detached under its writer, WARN_ON_ONCE(detached) in
 *     __vma_start_write();
 *   wrong=1: while vma_mark_detached() waits out a transient reader (cpu1,
 *     which found the VMA before it was write-locked), a reader that takes
 *     vm_refcnt without vma_start_read()'s limit (cpu2) gets in past the
 *     writer flag: the VMA stays attached, WARN_ON_ONCE(!detached) in
 *     vma_mark_detached().
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { make_config } from '../../../src/check/kernel.js';
import { check_scenario, run_tasks } from '../../../src/check/search.js';
import { parse_phases } from '../../../src/check/strategy.js';
import { VM_AREA_STRUCT as V } from '../../../src/kernel/mm/mm_types.js';
import { do_mmap } from '../../../src/kernel/mm/mmap.js';
import {
  mmap_write_lock,
  mmap_write_unlock,
  vma_end_read,
  vma_mark_detached,
  vma_start_read,
  vma_start_write,
} from '../../../src/kernel/mm/mmap_lock.js';
import { vma_lookup } from '../../../src/kernel/mm/vma.js';
import { refcount_add_not_zero, refcount_dec_and_test } from '../../../src/kernel/refcount.js';
import { defineStruct } from '../../../src/runtime/layout.js';
import { call, type KernelContext, type KGen } from '../../../src/runtime/ops.js';
import type { RunConfig, Scenario } from '../../../src/runtime/scenario.js';
import { anon_fixed, new_mm, race_basics, selector } from '../../../src/scenarios/common.js';
import { ANON } from './tripped.js';

const G = defineStruct('vma_lock_warn', {
  mm: 'set by the prologue',
  vma: 'set by the prologue: the VMA at ANON, attached',
});

/* A stray put, or a reader that ignores the writer flag (what wrong=0 and wrong=1 get wrong). */
function* wrong_reader(k: KernelContext, vma: number, wrong: number): KGen {
  const refcnt = vma + V.vm_refcnt;
  if (wrong === 0) yield* refcount_dec_and_test(k, refcnt);
  else yield* call(refcount_add_not_zero(k, refcnt, 1));
}

/* A reader as lock_vma_under_rcu() is one, that gives the VMA back at once. */
function* transient_reader(k: KernelContext, mm: number, vma: number): KGen {
  yield k.rcu_read_lock();
  const locked = yield* call(vma_start_read(k, mm, vma));
  yield k.rcu_read_unlock();
  if (locked === vma) yield* vma_end_read(k, vma);
}

const scenario: Scenario<{ g: number }> = {
  name: 'vma-lock-warn',
  description: 'a writer excludes the readers of a VMA while a reader gets vm_refcnt wrong',
  module: import.meta.url,
  variants: [],
  ...selector('wrong', 0, 1, 'the wrong reader: 0 a stray put, 1 a get past the writer flag'),
  ...race_basics(G, 'vma_lock_warn', 3),

  *prologue(k: KernelContext, { g }): KGen {
    const mm = yield* call(new_mm(k));
    yield* call(do_mmap(k, mm, anon_fixed(ANON, 4)));
    yield k.store(g + G.mm, mm);
    yield k.store(g + G.vma, yield* call(vma_lookup(k, mm, ANON)));
  },

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + G.mm);
    const vma = yield k.load(g + G.vma);
    const wrong = cfg.params.wrong!;
    if (k.cpu === 0) {
      yield* call(mmap_write_lock(k, mm));
      yield* call(vma_start_write(k, vma));
      if (wrong === 1) yield* call(vma_mark_detached(k, vma));
      yield* call(mmap_write_unlock(k, mm));
    } else if (k.cpu === 1 && wrong === 1) {
      yield* call(transient_reader(k, mm, vma));
    } else if (k.cpu === 1 + wrong) {
      yield* call(wrong_reader(k, vma, wrong));
    }
  },

  check() {},
};

/* The bug the directed schedule `phases` ends in, with wrong=`wrong`. */
async function directed(wrong: number, phases: string) {
  const cfg = make_config(scenario, { policy: 'vma-refcnt', params: { wrong } });
  const r = await check_scenario(scenario, cfg, {
    strategy: 'directed',
    phases: parse_phases(phases, run_tasks(scenario, cfg)),
  });
  return r.bug;
}

test('a stray put while vma_start_write() excludes readers trips WARN_ON_ONCE(detached)', async () => {
  // The writer waits out no one, then the put lands before it drops the writer flag.
  const bug = await directed(0, '0:write_once:vm_lock_seq,1:*,0:*,2:*,3:*');
  assert.equal(bug?.class, 'BUG', bug?.message);
  assert.equal(bug!.message, 'WARNING: WARN_ON_ONCE(detached) in __vma_start_write() (cpu 0)');
});

test('a get past the writer flag while vma_mark_detached() waits out a reader trips WARN_ON_ONCE(!detached)', async () => {
  const bug = await directed(
    1,
    [
      // cpu1 found the VMA unlocked and is about to take its reference...
      '1:cmpxchg:vm_refcnt',
      // ...while cpu0 write-locks it and is about to drop the attach reference;
      '0:write_once:detached',
      '0:+1',
      '1:+1',
      // cpu0 then waits for cpu1, which sees the write lock and puts;
      '0:lock_release:vm_lock',
      // before cpu0 drops the writer flag, cpu2 takes a reference regardless.
      '2:*',
      '0:*',
      '1:*',
      '3:*',
    ].join(','),
  );
  assert.equal(bug?.class, 'BUG', bug?.message);
  assert.equal(bug!.message, 'WARNING: WARN_ON_ONCE(!detached) in vma_mark_detached() (cpu 0)');
});
