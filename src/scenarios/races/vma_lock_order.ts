/*
 * vma-lock-order: cpu0 writes a page of a VMA that has no anon_vma yet, so
 * its fault, under the VMA lock, must prepare one, which needs mmap_lock
 * too; cpu1 mprotects the VMA read-only (mmap_lock for write, then
 * vma_start_write()) and reads the word back. The fault may only *try*
 * mmap_lock while it holds the VMA lock, and retry under mmap_lock when
 * that fails: blocking on it would order the VMA lock before mmap_lock,
 * against every writer (lockdep), and deadlock against cpu1.
 *
 * The variant blocks on mmap_read_lock() there, the order syzbot reported
 * in userfaultfd's move_pages(). cpu0's write either lands before the
 * mprotect (cpu1 reads it back) or gets SIGSEGV (cpu1 reads zero).
 */
import { SIGSEGV, user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { VARIANT_VMA_LOCK_THEN_MMAP_LOCK } from '../../kernel/mm/memory.js';
import { PROT_READ } from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, new_mm } from '../common.js';
import { HISTORICAL_VARIANT_DOCS } from '../historical.js';

/** The VMA: two pages, never touched (no anon_vma, no page table). */
const A = BASE + 16;
const ADDR = A * PAGE_BYTES + 8;
/** What cpu0 writes: one byte, so that no read sees it torn. */
const MARKER = 0x4c;

const VLO = defineStruct('vma_lock_order', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  wrote: 'cpu0: what its write returned (0 or -SIGSEGV)',
  protected: 'cpu1: what mprotect returned',
  seen: 'cpu1: what it read back after the mprotect',
});

export const scenario: Scenario<{ g: number }> = {
  name: 'vma-lock-order',
  description:
    'a fault prepares an anon_vma under the VMA lock while another CPU mprotects the VMA',
  module: import.meta.url,
  variants: [VARIANT_VMA_LOCK_THEN_MMAP_LOCK],
  default_cpus: 2,
  max_cpus: 2,
  variant_docs: HISTORICAL_VARIANT_DOCS,
  params: {},
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(VLO.$, 'vma_lock_order') }),

  *prologue(k: KernelContext, { g }): KGen {
    const mm = yield* call(new_mm(k));
    yield* call(do_mmap(k, mm, anon_fixed(A, 2)));
    yield k.store(g + VLO.mm, mm);
  },

  *cpu(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + VLO.mm);
    if (k.cpu === 0) {
      yield k.store(g + VLO.wrote, yield* call(user_access(k, mm, ADDR, true, MARKER)));
      return;
    }
    yield k.store(g + VLO.protected, yield* call(do_mprotect(k, mm, A, 2, PROT_READ)));
    yield k.store(g + VLO.seen, yield* call(user_access(k, mm, ADDR, false, 0)));
  },

  *epilogue(k: KernelContext, { g }): KGen {
    yield* call(mmput(k, yield k.load(g + VLO.mm)));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const wrote = m.words[g + VLO.wrote]!;
    const seen = m.words[g + VLO.seen]!;
    const prot = m.words[g + VLO.protected]!;
    const ok =
      prot === 0 && ((wrote === 0 && seen === MARKER) || (wrote === -SIGSEGV && seen === 0));
    if (!ok)
      throw new KernelBug(
        'outcome',
        `vma-lock-order: mprotect returned ${prot}, cpu0's write ${wrote} and cpu1 reads back ${seen}: the write must land before the mprotect (${MARKER}) or fault (0)`,
      );
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
