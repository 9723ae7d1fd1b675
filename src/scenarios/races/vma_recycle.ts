/*
 * vma-recycle: cpu0 reads a page it never touched, so it faults, and
 * lock_vma_under_rcu() finds the VMA in the index without mmap_lock;
 * cpu1 unmaps that VMA and maps the same range in a second mm, whose new
 * VMA comes from the SLAB_TYPESAFE_BY_RCU cache the first one went back
 * to, so it may be the very same object, now another mm's. The reader
 * must notice (vm_mm no longer its mm, the VMA detached, or the range no
 * longer covering its page) and look up again or fall back to mmap_lock;
 * otherwise it would fault a page in through another process's VMA.
 * cpu1 then writes a marker into the second mm, and KASAN flags any
 * access to the VMA that RCU no longer covers.
 *
 * The outcome rule, from what each CPU saw of the other (a READ_ONCE of
 * the other's done flag before its own operation):
 *   - cpu0's read returns 0 or SIGSEGV, never the second mm's marker;
 *   - SIGSEGV if the munmap had returned before the read began;
 *   - 0 if the read had returned before the munmap began;
 *   - the second mm reads back its marker;
 *   - after both, the address faults with SIGSEGV in the first mm: no
 *     page table entry the fault installed survives the munmap.
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
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import {
  anon_fixed,
  assert_outcome,
  BASE,
  judge_read_vs_unmap,
  mm_with_untouched_page,
  new_mm,
  type ReadVsUnmap,
  race_basics,
  SEED_VARIANT_DOCS,
} from '../common.js';

const NAME = 'vma-recycle';
/** The VMA: two pages, the second written by the prologue (its page table exists). */
const A = BASE + 16;
/** The word cpu0 reads, on the page it never touched. */
const ADDR = A * PAGE_BYTES + 8;
/** What cpu1 writes there in the second mm. */
export const MARKER = 0x0dd0;

const VR = defineStruct('vma_recycle', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  other: 'set by the prologue: the second mm, which cpu1 maps in, then puts',
  seen: 'cpu0: the value its read returned (or -SIGSEGV)',
  marker: 'cpu1: what it read back from the second mm',
  read_done: 'WRITE_ONCE by cpu0 once its read returned; READ_ONCE by cpu1 before its munmap',
  unmapped: 'WRITE_ONCE by cpu1 once its munmap returned; READ_ONCE by cpu0 before its read',
  unmapped_first: 'cpu0: unmapped, as it saw it before its read',
  read_first: 'cpu1: read_done, as it saw it before its munmap',
  after: 'the epilogue: a read of the address in the first mm once both are done (or -SIGSEGV)',
});

/** What the tasks recorded. */
export interface Observed extends ReadVsUnmap {
  readonly marker: number;
  readonly after: number;
}

/** The outcome rule of the header: the first thing `o` breaks, if any. */
export function judge(o: Observed): string | undefined {
  if (o.seen === MARKER) return `a read in the first mm returned the ${MARKER} the other mm wrote`;
  const wrong = judge_read_vs_unmap(o);
  if (wrong !== undefined) return wrong;
  if (o.marker !== MARKER)
    return `the second mm reads back ${o.marker}, not the ${MARKER} it wrote`;
  if (o.after !== -SIGSEGV) return `the first mm still reads ${o.after} at the unmapped address`;
  return undefined;
}

export const scenario: Scenario<{ g: number }> = {
  name: NAME,
  description: 'a fault looks a VMA up under RCU while it is unmapped and recycled into another mm',
  module: import.meta.url,
  variants: [VARIANT_UP_READ_WITHOUT_RCU, VARIANT_PUT_READS_MM_LATE],
  variant_docs: SEED_VARIANT_DOCS,
  params: {},
  ...race_basics(VR, 'vma_recycle'),

  *prologue(k: KernelContext, { g }): KGen {
    yield k.store(g + VR.mm, yield* call(mm_with_untouched_page(k, A, NAME)));
    // Empty: its first mmap takes the VMA the munmap freed, if RCU let it go.
    yield k.store(g + VR.other, yield* call(new_mm(k)));
  },

  *cpu(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + VR.mm);
    if (k.cpu === 0) {
      const unmapped = yield k.READ_ONCE(g + VR.unmapped);
      yield k.store(g + VR.seen, yield* call(user_access(k, mm, ADDR, false, 0)));
      yield k.WRITE_ONCE(g + VR.read_done, 1);
      yield k.store(g + VR.unmapped_first, unmapped);
      return;
    }
    const other = yield k.load(g + VR.other);
    const read = yield k.READ_ONCE(g + VR.read_done);
    yield* call(do_munmap(k, mm, A, 2));
    yield k.WRITE_ONCE(g + VR.unmapped, 1);
    yield k.store(g + VR.read_first, read);
    yield* call(do_mmap(k, other, anon_fixed(A, 2)));
    yield* call(user_access(k, other, ADDR, true, MARKER));
    yield k.store(g + VR.marker, yield* call(user_access(k, other, ADDR, false, 0)));
    // The second process exits: a stale vm_mm now names a freed mm (seed 001).
    yield* call(mmput(k, other));
  },

  *epilogue(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + VR.mm);
    yield k.store(g + VR.after, yield* call(user_access(k, mm, ADDR, false, 0)));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const w = (field: number): number => m.words[g + field]!;
    assert_outcome(
      NAME,
      judge({
        seen: w(VR.seen),
        marker: w(VR.marker),
        unmapped_first: w(VR.unmapped_first) !== 0,
        read_first: w(VR.read_first) !== 0,
        after: w(VR.after),
      }),
    );
    check_mm_caches_empty(m, sys, 'after both mms died');
  },
};
