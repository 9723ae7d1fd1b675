/*
 * recycle-exit: cpu0 reads a page it never touched, so it faults, and
 * lock_vma_under_rcu() finds the VMA without mmap_lock. cpu1 unmaps that
 * VMA and maps the same range in a second mm, whose new VMA may be the very
 * object the first one was (SLAB_TYPESAFE_BY_RCU), then drops its user of
 * the second mm; cpu2 drops the other one. Whichever puts it last tears
 * the second mm down: exit_mmap() write-locks the VMA, waiting for cpu0's
 * transient reference, and the mm is freed. cpu0, finding the VMA another
 * mm's, must pin that mm with mmgrab() before its put, which may wake the
 * exiting writer: without the pin (9bbffee67ffd, the variant) the wake-up
 * touches the freed mm (KASAN).
 *
 * vma-recycle races the same lookup with one CPU doing all of it; here
 * the exit runs on a CPU of its own, so that reaching the window takes
 * three preemptions (cpu0 after the lookup, after its increment, and after
 * its decrement) instead of five.
 */
import { SIGSEGV, user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { do_mmap, do_munmap, mmget, mmput } from '../../kernel/mm/mmap.js';
import { VARIANT_PUT_WITHOUT_MMGRAB } from '../../kernel/mm/mmap_lock.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, mm_with_untouched_page, new_mm } from '../common.js';
import { HISTORICAL_VARIANT_DOCS } from '../historical.js';

/** The VMA: two pages, the second written by the prologue (its page table exists). */
const A = BASE + 16;

const RE = defineStruct('recycle_exit', {
  mm: 'set by the prologue: the mm cpu0 and cpu1 are threads of; put by the epilogue',
  other: 'set by the prologue: the second mm, with two users (cpu1 and cpu2 put one each)',
  seen: 'cpu0: the value its read returned (or -SIGSEGV)',
});

export const scenario: Scenario<{ g: number }> = {
  name: 'recycle-exit',
  description: 'a fault puts a VMA recycled into another mm while that mm exits on a third CPU',
  module: import.meta.url,
  variants: [VARIANT_PUT_WITHOUT_MMGRAB],
  default_cpus: 3,
  max_cpus: 3,
  variant_docs: HISTORICAL_VARIANT_DOCS,
  params: {},
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(RE.$, 'recycle_exit') }),

  *prologue(k: KernelContext, { g }): KGen {
    yield k.store(g + RE.mm, yield* call(mm_with_untouched_page(k, A, 'recycle-exit')));
    const other = yield* call(new_mm(k));
    yield* call(mmget(k, other));
    yield k.store(g + RE.other, other);
  },

  *cpu(k: KernelContext, { g }): KGen {
    const other = yield k.load(g + RE.other);
    if (k.cpu === 0) {
      const mm = yield k.load(g + RE.mm);
      yield k.store(g + RE.seen, yield* call(user_access(k, mm, A * PAGE_BYTES + 8, false, 0)));
    } else if (k.cpu === 1) {
      yield* call(do_munmap(k, yield k.load(g + RE.mm), A, 2));
      yield* call(do_mmap(k, other, anon_fixed(A, 2)));
      yield* call(mmput(k, other));
    } else {
      yield* call(mmput(k, other));
    }
  },

  *epilogue(k: KernelContext, { g }): KGen {
    yield* call(mmput(k, yield k.load(g + RE.mm)));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const seen = m.words[g + RE.seen]!;
    if (seen !== 0 && seen !== -SIGSEGV)
      throw new KernelBug(
        'outcome',
        `recycle-exit: a read of a never-written page returned ${seen}, not 0 or SIGSEGV`,
      );
    check_mm_caches_empty(m, sys, 'after both mms died');
  },
};
