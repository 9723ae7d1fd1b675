/*
 * fault-vs-munmap: cpu0 reads a page of a VMA it has never touched, so it
 * faults, under the VMA lock where the policy has one; cpu1 unmaps that
 * VMA. The read sees zero or gets SIGSEGV; nothing may touch the VMA
 * outside RCU once it is freed (its cache is SLAB_TYPESAFE_BY_RCU, so
 * KASAN flags exactly that). Recycling into another mm is vma-races'.
 *
 * The mm, the VMA and a written neighbour page (so the page table exists)
 * are built by the prologue and torn down by the epilogue, once both
 * threads are done: a schedule's choices are only the race, which is what
 * lets DFS cover every interleaving with three preemptions in seconds. Seed 000 (up_read() outside RCU in
 * vma_end_read) and seed 001 (vma_refcount_put() reading vm_mm after its
 * decrement) break here.
 */
import { SIGSEGV, user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { do_munmap, mmput } from '../../kernel/mm/mmap.js';
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
import { BASE, mm_with_untouched_page, SEED_VARIANT_DOCS } from '../common.js';

/** The VMA: two pages, the second written by the prologue. */
const A = BASE + 16;

const FVM = defineStruct('fault_vs_munmap', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  seen: 'cpu0: the value its read returned (or -SIGSEGV)',
});

export const scenario: Scenario<{ g: number }> = {
  name: 'fault-vs-munmap',
  description: 'a fault under the VMA lock while another CPU unmaps the VMA',
  module: import.meta.url,
  variants: [VARIANT_UP_READ_WITHOUT_RCU, VARIANT_PUT_READS_MM_LATE],
  default_cpus: 2,
  max_cpus: 2,
  variant_docs: SEED_VARIANT_DOCS,
  params: {},
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(FVM.$, 'fault_vs_munmap') }),

  *prologue(k: KernelContext, { g }): KGen {
    yield k.store(g + FVM.mm, yield* call(mm_with_untouched_page(k, A, 'fault-vs-munmap')));
  },

  *cpu(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + FVM.mm);
    if (k.cpu === 0) {
      yield k.store(g + FVM.seen, yield* call(user_access(k, mm, A * PAGE_BYTES + 8, false, 0)));
    } else {
      yield* call(do_munmap(k, mm, A, 2));
    }
  },

  *epilogue(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + FVM.mm);
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const seen = m.words[g + FVM.seen]!;
    if (seen !== 0 && seen !== -SIGSEGV)
      throw new KernelBug(
        'outcome',
        `fault-vs-munmap: a read of a never-written page returned ${seen}, not 0 or SIGSEGV`,
      );
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
