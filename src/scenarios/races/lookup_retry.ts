/*
 * lookup-retry: cpu0 reads a page it never touched in a read-only VMA, so
 * it faults, and lock_vma_under_rcu() finds that VMA under RCU. cpu1
 * mprotects it read-write, which merges it into the read-write VMA above
 * it: that one grows down over the range, the first is detached and freed,
 * and the maple node that indexed both is replaced. cpu1 then writes a
 * marker there. cpu0's vma_start_read() finds its VMA detached and drops
 * the RCU read lock; the lookup is retried from the root and finds the
 * merged VMA: the read returns zero or the marker, never SIGSEGV, the
 * range being mapped throughout. (No VMA is allocated after the free: a
 * recycled VMA would race with cpu0's lockless look at it, which
 * recycle-exit and vma-recycle are about.)
 *
 * Without the maple state's reset (the variant, "mm/mmap_lock: reset maple
 * state on lock_vma_under_rcu() retry"), the retry walks the node it had
 * cached, which the grace-period kthread may have freed once the RCU read
 * lock was dropped (KASAN).
 */
import { SIGSEGV, user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { PROT_READ, PROT_WRITE } from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { VARIANT_RETRY_WITH_STALE_MAS } from '../../kernel/mm/mmap_lock.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, mm_with_untouched_page } from '../common.js';
import { HISTORICAL_VARIANT_DOCS } from '../historical.js';

/** The read-only VMA, two pages, never touched; the read-write one above it, its second page written. */
const A = BASE + 16;
const ABOVE = A + 2;
/** The word cpu0 reads. */
const ADDR = A * PAGE_BYTES + 8;
/** What cpu1 writes there once it is writable: one byte, so that no read sees it torn. */
const MARKER = 0x7e;

const LR = defineStruct('lookup_retry', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  seen: 'cpu0: the value its read returned (or -SIGSEGV)',
  protected: 'cpu1: what its mprotect returned',
});

export const scenario: Scenario<{ g: number }> = {
  name: 'lookup-retry',
  description:
    'a fault retries its RCU lookup while mprotect merges the VMA it found into its neighbour',
  module: import.meta.url,
  variants: [VARIANT_RETRY_WITH_STALE_MAS],
  default_cpus: 2,
  max_cpus: 2,
  variant_docs: HISTORICAL_VARIANT_DOCS,
  params: {},
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(LR.$, 'lookup_retry') }),

  *prologue(k: KernelContext, { g }): KGen {
    const mm = yield* call(mm_with_untouched_page(k, ABOVE, 'lookup-retry'));
    yield* call(do_mmap(k, mm, anon_fixed(A, 2, PROT_READ)));
    yield k.store(g + LR.mm, mm);
  },

  *cpu(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + LR.mm);
    if (k.cpu === 0) {
      yield k.store(g + LR.seen, yield* call(user_access(k, mm, ADDR, false, 0)));
      return;
    }
    yield k.store(g + LR.protected, yield* call(do_mprotect(k, mm, A, 2, PROT_READ | PROT_WRITE)));
    yield* call(user_access(k, mm, ADDR, true, MARKER));
  },

  *epilogue(k: KernelContext, { g }): KGen {
    yield* call(mmput(k, yield k.load(g + LR.mm)));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const prot = m.words[g + LR.protected]!;
    if (prot !== 0)
      throw new KernelBug('outcome', `lookup-retry: mprotect returned ${prot}, not 0`);
    const seen = m.words[g + LR.seen]!;
    if (seen !== 0 && seen !== MARKER)
      throw new KernelBug(
        'outcome',
        `lookup-retry: a read of a range mapped throughout returned ${seen === -SIGSEGV ? 'SIGSEGV' : seen}, not 0 or ${MARKER}`,
      );
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
