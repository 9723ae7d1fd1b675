/*
 * vma-recycle: cpu0 reads a page it never touched, so it faults, and
 * lock_vma_under_rcu() finds the VMA in the index without mmap_lock;
 * cpu1 unmaps that VMA and maps the same range in a second mm, whose new
 * VMA comes from the SLAB_TYPESAFE_BY_RCU cache the first one went back
 * to, so it may be the very same object, now another mm's. The reader
 * must notice (vm_mm no longer its mm, the VMA detached, or the range no
 * longer covering its page) and look up again or fall back to mmap_lock;
 * otherwise it would fault a page in through another process's VMA.
 * cpu1 then writes a marker into the second mm: cpu0's read may return
 * zero or SIGSEGV, never that marker, and KASAN flags any access to the
 * VMA that RCU no longer covers.
 *
 * Both mms are built by the prologue, so a schedule is the lookup, the
 * unmap, the recycling map and the second mm's exit. Seed 000 (up_read() outside RCU
 * in vma_end_read) and seed 001 (vma_refcount_put() reading vm_mm after
 * its decrement, which may then name the second mm) break here.
 */
import { SIGSEGV, user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { do_mmap, do_munmap, mmput } from '../../kernel/mm/mmap.js';
import {
  VARIANT_PUT_READS_MM_LATE,
  VARIANT_UP_READ_WITHOUT_RCU,
} from '../../kernel/mm/mmap_lock.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, mm_with_untouched_page, new_mm, SEED_VARIANT_DOCS } from '../common.js';

/** The VMA: two pages, the second written by the prologue (its page table exists). */
const A = BASE + 16;
/** The word cpu0 reads, on the page it never touched. */
const ADDR = A * PAGE_BYTES + 8;
/** What cpu1 writes there in the second mm. */
const MARKER = 0x0dd0;

const VR = defineStruct('vma_recycle', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  other: 'set by the prologue: the second mm, which cpu1 maps in, then puts',
  seen: 'cpu0: the value its read returned (or -SIGSEGV)',
  marker: 'cpu1: what it read back from the second mm',
});

export const scenario: Scenario<{ g: number }> = {
  name: 'vma-recycle',
  description: 'a fault looks a VMA up under RCU while it is unmapped and recycled into another mm',
  module: import.meta.url,
  variants: [VARIANT_UP_READ_WITHOUT_RCU, VARIANT_PUT_READS_MM_LATE],
  default_cpus: 2,
  max_cpus: 2,
  variant_docs: SEED_VARIANT_DOCS,
  params: {},
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(VR.$, 'vma_recycle') }),

  *prologue(k: KernelContext, { g }): KGen {
    yield k.store(g + VR.mm, yield* call(mm_with_untouched_page(k, A, 'vma-recycle')));
    // Empty: its first mmap takes the VMA the munmap freed, if RCU let it go.
    yield k.store(g + VR.other, yield* call(new_mm(k)));
  },

  *cpu(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + VR.mm);
    if (k.cpu === 0) {
      yield k.store(g + VR.seen, yield* call(user_access(k, mm, ADDR, false, 0)));
      return;
    }
    const other = yield k.load(g + VR.other);
    yield* call(do_munmap(k, mm, A, 2));
    yield* call(do_mmap(k, other, anon_fixed(A, 2)));
    yield* call(user_access(k, other, ADDR, true, MARKER));
    yield k.store(g + VR.marker, yield* call(user_access(k, other, ADDR, false, 0)));
    // The second process exits: a stale vm_mm now names a freed mm (seed 001).
    yield* call(mmput(k, other));
  },

  *epilogue(k: KernelContext, { g }): KGen {
    yield* call(mmput(k, yield k.load(g + VR.mm)));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const seen = m.words[g + VR.seen]!;
    if (seen !== 0 && seen !== -SIGSEGV)
      throw new KernelBug(
        'outcome',
        `vma-recycle: a read of a never-written page returned ${seen} (the other mm wrote ${MARKER}), not 0 or SIGSEGV`,
      );
    const marker = m.words[g + VR.marker]!;
    if (marker !== MARKER)
      throw new KernelBug(
        'outcome',
        `vma-recycle: the second mm reads back ${marker}, not the ${MARKER} it wrote`,
      );
    check_mm_caches_empty(m, sys, 'after both mms died');
  },
};
