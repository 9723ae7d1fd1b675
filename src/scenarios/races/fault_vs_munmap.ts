/*
 * fault-vs-munmap: cpu0 reads a page of a VMA it has never touched, so it
 * faults, under the VMA lock where the policy has one; cpu1 unmaps that
 * VMA. Nothing may touch the VMA outside RCU once it is freed (its cache
 * is SLAB_TYPESAFE_BY_RCU, so KASAN flags exactly that). Recycling into
 * another mm is vma-races' and vma-recycle's.
 *
 * The outcome rule, from what each CPU saw of the other (a READ_ONCE of
 * the other's done flag before its own operation):
 *   - the read returns 0 (the page mapped, never written) or SIGSEGV (the
 *     VMA gone), nothing else;
 *   - SIGSEGV if the munmap had returned before the read began;
 *   - 0 if the read had returned before the munmap began;
 *   - after both, the address faults with SIGSEGV: no page table entry
 *     installed by the fault survives the munmap.
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
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import {
  assert_outcome,
  BASE,
  judge_read_vs_unmap,
  mm_with_untouched_page,
  type ReadVsUnmap,
  race_basics,
  SEED_VARIANT_DOCS,
} from '../common.js';

const NAME = 'fault-vs-munmap';
/** The VMA: two pages, the second written by the prologue. */
const A = BASE + 16;
const ADDR = A * PAGE_BYTES + 8;

const FVM = defineStruct('fault_vs_munmap', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  seen: 'cpu0: the value its read returned (or -SIGSEGV)',
  read_done: 'WRITE_ONCE by cpu0 once its read returned; READ_ONCE by cpu1 before its munmap',
  unmapped: 'WRITE_ONCE by cpu1 once its munmap returned; READ_ONCE by cpu0 before its read',
  unmapped_first: 'cpu0: unmapped, as it saw it before its read',
  read_first: 'cpu1: read_done, as it saw it before its munmap',
  after: 'the epilogue: a read of the address once both are done (or -SIGSEGV)',
});

/** What the tasks recorded: the read, each side's view of the other, the address afterwards. */
export interface Observed extends ReadVsUnmap {
  readonly after: number;
}

/** The outcome rule of the header: the first thing `o` breaks, if any. */
export function judge(o: Observed): string | undefined {
  const wrong = judge_read_vs_unmap(o);
  if (wrong !== undefined) return wrong;
  if (o.after !== -SIGSEGV) return `the address still reads ${o.after} after the munmap`;
  return undefined;
}

export const scenario: Scenario<{ g: number }> = {
  name: NAME,
  description: 'a fault under the VMA lock while another CPU unmaps the VMA',
  module: import.meta.url,
  variants: [VARIANT_UP_READ_WITHOUT_RCU, VARIANT_PUT_READS_MM_LATE],
  variant_docs: SEED_VARIANT_DOCS,
  params: {},
  ...race_basics(FVM, 'fault_vs_munmap'),

  *prologue(k: KernelContext, { g }): KGen {
    yield k.store(g + FVM.mm, yield* call(mm_with_untouched_page(k, A, NAME)));
  },

  *cpu(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + FVM.mm);
    if (k.cpu === 0) {
      const unmapped = yield k.READ_ONCE(g + FVM.unmapped);
      yield k.store(g + FVM.seen, yield* call(user_access(k, mm, ADDR, false, 0)));
      yield k.WRITE_ONCE(g + FVM.read_done, 1);
      yield k.store(g + FVM.unmapped_first, unmapped);
    } else {
      const read = yield k.READ_ONCE(g + FVM.read_done);
      yield* call(do_munmap(k, mm, A, 2));
      yield k.WRITE_ONCE(g + FVM.unmapped, 1);
      yield k.store(g + FVM.read_first, read);
    }
  },

  *epilogue(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + FVM.mm);
    yield k.store(g + FVM.after, yield* call(user_access(k, mm, ADDR, false, 0)));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const w = (field: number): number => m.words[g + field]!;
    assert_outcome(
      NAME,
      judge({
        seen: w(FVM.seen),
        unmapped_first: w(FVM.unmapped_first) !== 0,
        read_first: w(FVM.read_first) !== 0,
        after: w(FVM.after),
      }),
    );
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
