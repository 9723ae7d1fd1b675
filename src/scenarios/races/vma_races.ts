/*
 * vma-races: the races the seeds found by hand, small enough to explore.
 * `race` picks one:
 *
 *   0 fault vs munmap: CPU 1 faults in a VMA under its VMA lock while CPU 0
 *     unmaps it and maps another in a second mm, which may recycle the
 *     very VMA (SLAB_TYPESAFE_BY_RCU). Seed 000 (up_read() outside RCU)
 *     and seed 001 (vm_mm read after the put) break here.
 *   1 an unaudited fault: CPU 1 faults in a file VMA whose vm_ops has no
 *     ->map_pages while CPU 0 maps elsewhere. Seed 003 calls its ->fault,
 *     which relies on mmap_lock, under the VMA lock alone.
 *   2 pin vs fork: CPU 1 pins a page with pin_user_pages_fast() while
 *     CPU 0 forks; then CPU 0 writes the page. The pinned page must be the
 *     one the parent writes. Seed 004 (no write_protect_seq) breaks it.
 *   3 disjoint splits: CPU 0 and CPU 1 mprotect the middle of two distant
 *     VMAs. Under the range policy they run together; the VMA index must
 *     still end up with all six VMAs. Seed 002 (no tree lock) loses one.
 *
 * The outcome rule, per race:
 *   0 CPU 1's read returns 0 or SIGSEGV: the page was never written in
 *     either mm (whichever it faulted in, before or after the munmap);
 *   1 CPU 1's read returns the file's word at that offset (the mapping
 *     stays throughout), never SIGSEGV nor another page's word;
 *   2 CPU 1 pinned a page, and it holds the parent's write after the
 *     fork (asserted by CPU 0 as it reads it);
 *   3 after both splits the mm holds exactly the VMAs it must: the two
 *     split VMAs in three each, B, and nothing else (map_count 7, which
 *     validate_mm() has matched with the index).
 */
import { SIGSEGV, user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { dup_mmap } from '../../kernel/fork.js';
import { check_mm_caches_empty, validate_mm } from '../../kernel/mm/debug.js';
import { file_alloc, fput } from '../../kernel/mm/filemap.js';
import { pin_user_pages_fast, unpin_user_page } from '../../kernel/mm/gup.js';
import { mt_lookup } from '../../kernel/mm/maple_tree.js';
import {
  FILE_REGULAR,
  MAP_FIXED,
  MAP_SHARED,
  MM_STRUCT,
  PAGE,
  PROT_READ,
  VM_AREA_STRUCT as V,
  VM_OPS_UNAUDITED,
} from '../../kernel/mm/mm_types.js';
import { do_mmap, do_munmap, mmget, mmput } from '../../kernel/mm/mmap.js';
import { mmap_write_lock, mmap_write_unlock } from '../../kernel/mm/mmap_lock.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import {
  anon_fixed,
  assert_outcome,
  BASE,
  hex,
  new_mm,
  race_basics,
  SEED_VARIANT_DOCS,
  SEED_VARIANTS,
  selector,
} from '../common.js';

const A = BASE + 16;
const B = BASE + 64;

export const RACE_FAULT_VS_MUNMAP = 0;
export const RACE_UNAUDITED_FAULT = 1;
export const RACE_PIN_VS_FORK = 2;
export const RACE_DISJOINT_SPLITS = 3;

/** Far enough from A that neither range lock reaches the other's VMA or neighbours. */
const Y = BASE + 128;

/** Race 1: the file's id, and the word CPU 1 reads of its first page (filemap's read_folio()). */
const FILE_ID = 1;
const READ_OFFSET = 8;
export const FILE_WORD = ((FILE_ID << 28) | 0) + READ_OFFSET / 4;
/** Race 3: the VMAs the mm ends with, A and Y split in three each, and B. */
export const SPLIT_VMAS = 7;

const RACES = defineStruct('vma_races', {
  mm: 'WRITE_ONCE by cpu0 once set up',
  pinned: 'WRITE_ONCE by cpu1: the page it pinned (race 2)',
  cpu1_done: 'WRITE_ONCE by cpu1 once its part is done (races 2 and 3)',
  seen: 'cpu1: what its read returned, or -SIGSEGV (races 0 and 1)',
  map_count: "cpu0, under the mmap write lock after both splits: the mm's map_count (race 3)",
});

/** What the tasks recorded. */
export interface Observed {
  readonly race: number;
  readonly seen: number;
  readonly pinned: number;
  readonly map_count: number;
}

/** The outcome rule of the header: the first thing `o` breaks, if any. */
export function judge(o: Observed): string | undefined {
  if (o.race === RACE_FAULT_VS_MUNMAP && o.seen !== 0 && o.seen !== -SIGSEGV)
    return `a read of a never-written page returned ${o.seen}, not 0 or SIGSEGV`;
  if (o.race === RACE_UNAUDITED_FAULT && o.seen !== FILE_WORD)
    return `a read of the file's mapping returned ${hex(o.seen)}, not the file's ${hex(FILE_WORD)}`;
  if (o.race === RACE_PIN_VS_FORK && o.pinned === 0) return 'pin_user_pages_fast() pinned nothing';
  if (o.race === RACE_DISJOINT_SPLITS && o.map_count !== SPLIT_VMAS)
    return `the mm ends the splits with ${o.map_count} VMAs, not ${SPLIT_VMAS}`;
  return undefined;
}

function* cpu0(k: KernelContext, g: number, race: number): KGen<number> {
  const mm = yield* call(new_mm(k));
  if (race === RACE_UNAUDITED_FAULT) {
    const file = yield* file_alloc(k, FILE_ID, 4, FILE_REGULAR);
    yield* call(
      do_mmap(k, mm, {
        addr: A,
        len: 2,
        prot: PROT_READ,
        flags: MAP_SHARED | MAP_FIXED,
        file,
        pgoff: 0,
      }),
    );
    yield* call(fput(k, file));
    // A driver's mapping whose ->fault was never audited for the VMA lock.
    yield k.store((yield* call(mt_lookup(k, mm, A))) + V.vm_ops, VM_OPS_UNAUDITED);
  } else {
    yield* call(do_mmap(k, mm, anon_fixed(A, race === RACE_DISJOINT_SPLITS ? 4 : 2)));
  }
  if (race === RACE_DISJOINT_SPLITS) yield* call(do_mmap(k, mm, anon_fixed(Y, 4)));
  // A written page of its own VMA: what race 2 pins.
  yield* call(do_mmap(k, mm, anon_fixed(B, 1)));
  k.BUG_ON(
    (yield* call(user_access(k, mm, B * 4096, true, 1))) !== 0,
    'vma-races: set-up write failed',
  );
  // CPU 1 is a thread of this process: it holds its own mm_users reference.
  yield* call(mmget(k, mm));
  yield k.store_release(g + RACES.mm, mm);
  if (race === RACE_FAULT_VS_MUNMAP) {
    // Unmap under the reader; a second mm's mapping may take the freed VMA at once.
    yield* call(do_munmap(k, mm, A, 2));
    const other = yield* call(new_mm(k));
    yield* call(do_mmap(k, other, anon_fixed(A, 2)));
    yield* call(mmput(k, other));
  } else if (race === RACE_UNAUDITED_FAULT) {
    yield* call(do_mmap(k, mm, anon_fixed(B + 8, 1)));
  } else if (race === RACE_DISJOINT_SPLITS) {
    yield* call(do_mprotect(k, mm, A + 1, 2, PROT_READ));
    let done = yield k.load_acquire(g + RACES.cpu1_done);
    while (done === 0) done = yield k.cond_load_ne(g + RACES.cpu1_done, 0);
    yield* call(mmap_write_lock(k, mm));
    yield* call(validate_mm(k, mm));
    yield k.store(g + RACES.map_count, yield k.load(mm + MM_STRUCT.map_count));
    yield* call(mmap_write_unlock(k, mm));
  } else {
    const child = yield* call(dup_mmap(k, mm));
    k.BUG_ON(child === 0, 'vma-races: fork failed');
    let done = yield k.load_acquire(g + RACES.cpu1_done);
    while (done === 0) done = yield k.cond_load_ne(g + RACES.cpu1_done, 0);
    // The parent writes after fork: the pinned page must see it.
    yield* call(user_access(k, mm, B * 4096, true, 0x5eed));
    const page = yield k.load(g + RACES.pinned);
    if (page !== 0) {
      const seen = yield k.load(yield k.load(page + PAGE.frame));
      k.BUG_ON(
        seen !== 0x5eed,
        `vma-races: the pinned page stopped being the parent's (it holds ${seen.toString(16)})`,
      );
      yield* call(unpin_user_page(k, page));
    }
    yield* call(mmput(k, child));
  }
  return mm;
}

function* cpu1(k: KernelContext, g: number, race: number): KGen {
  let mm = yield k.load_acquire(g + RACES.mm);
  while (mm === 0) mm = yield k.cond_load_ne(g + RACES.mm, 0);
  if (race === RACE_PIN_VS_FORK) {
    const [page] = yield* call(pin_user_pages_fast(k, mm, B, 1, true));
    yield k.WRITE_ONCE(g + RACES.pinned, page ?? 0);
    yield k.store_release(g + RACES.cpu1_done, 1);
  } else if (race === RACE_DISJOINT_SPLITS) {
    yield* call(do_mprotect(k, mm, Y + 1, 2, PROT_READ));
    yield k.store_release(g + RACES.cpu1_done, 1);
  } else {
    // A fault: SIGSEGV once the mapping is gone, which is fine.
    yield k.store(
      g + RACES.seen,
      yield* call(user_access(k, mm, A * 4096 + READ_OFFSET, false, 0)),
    );
  }
  yield* call(mmput(k, mm));
}

export const scenario: Scenario<{ g: number }> = {
  name: 'vma-races',
  description:
    'fault vs munmap and VMA recycling, an unaudited fault under the VMA lock, pin vs fork, disjoint splits',
  module: import.meta.url,
  variants: SEED_VARIANTS,
  variant_docs: SEED_VARIANT_DOCS,
  ...selector(
    'race',
    RACE_FAULT_VS_MUNMAP,
    RACE_DISJOINT_SPLITS,
    'the race: 0 fault vs munmap (seeds 000, 001), 1 an unaudited fault (003), 2 pin vs fork (004), 3 disjoint splits (002)',
  ),
  ...race_basics(RACES, 'vma_races'),

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const race = cfg.params.race!;
    if (k.cpu === 1) {
      yield* call(cpu1(k, g, race));
      return;
    }
    yield* call(mmput(k, yield* call(cpu0(k, g, race))));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }, cfg: RunConfig): void {
    const w = (field: number): number => m.words[g + field]!;
    assert_outcome(
      'vma-races',
      judge({
        race: cfg.params.race!,
        seen: w(RACES.seen),
        pinned: w(RACES.pinned),
        map_count: w(RACES.map_count),
      }),
    );
    check_mm_caches_empty(m, sys, 'after both mms died');
  },
};
