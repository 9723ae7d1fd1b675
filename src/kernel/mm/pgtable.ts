/*
 * Page tables: a page directory per mm and PTE tables of 512 entries (2 MiB
 * each), each with its own spinlock (split page-table locks, as
 * USE_SPLIT_PTE_PTLOCKS). A PTE is the page pointer << PTE_SHIFT | flags.
 * The directory covers 2 GiB from mm->pgd_base; a fault outside it cannot
 * get a table (VM_FAULT_OOM), which only memory that scripts never keep
 * (below their window) can meet.
 * Directory entries are populated once, under mm->page_table_lock, and
 * never freed before the mm dies, so a lockless walker (gup_fast) may
 * follow them.
 */
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { lock_class } from '../locking/lockdep.js';
import { SPINLOCK, spin_lock, spin_unlock } from '../locking/spinlock.js';
import { kfree, kmem_cache_free, kmem_cache_zalloc, kzalloc } from '../slab.js';
import {
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_RW,
  MM_STRUCT,
  PTE_SHIFT,
  PTE_TABLE,
  PTRS_PER_PGD,
  PTRS_PER_PTE,
} from './mm_types.js';

const PTL_CLASS = lock_class('ptlock');

export function pte_page(pte: number): number {
  return pte >>> PTE_SHIFT;
}

export function pte_present(pte: number): boolean {
  return (pte & _PAGE_PRESENT) !== 0;
}

/*
 * pte_access_permitted(): may the MMU use this PTE for the access without a
 * fault? A PROT_NONE PTE keeps its page but grants nothing; a write needs
 * _PAGE_RW, which a COW page lacks until its write fault.
 */
export function pte_access_permitted(pte: number, write: boolean): boolean {
  return pte_present(pte) && !(pte & _PAGE_PROTNONE) && (!write || (pte & _PAGE_RW) !== 0);
}

export function mk_pte(page: number, flags: number): number {
  return (page << PTE_SHIFT) | flags | _PAGE_PRESENT;
}

export function* pgd_alloc(k: KernelContext): KGen<number> {
  return yield kzalloc(k, PTRS_PER_PGD, 'pgd_alloc');
}

/* The directory entry for `page`, or 0 if the directory does not cover it. */
function* pgd_slot(k: KernelContext, mm: number, page: number): KGen<number> {
  const index = (page - (yield k.load(mm + MM_STRUCT.pgd_base))) >> 9;
  if (index < 0 || index >= PTRS_PER_PGD) return 0;
  return (yield k.load(mm + MM_STRUCT.pgd)) + index;
}

/** The PTE table covering `page`, or 0 if none was ever populated. */
export function* pte_table(k: KernelContext, mm: number, page: number): KGen<number> {
  const slot = yield* pgd_slot(k, mm, page);
  return slot === 0 ? 0 : yield k.load_acquire(slot);
}

/** __pte_alloc(): the PTE table covering `page`, populating it if needed; 0 on ENOMEM. */
export function* pte_alloc(k: KernelContext, mm: number, page: number): KGen<number> {
  const slot = yield* pgd_slot(k, mm, page);
  if (slot === 0) return 0;
  const t = yield k.load_acquire(slot);
  if (t !== 0) return t;
  const fresh = yield kmem_cache_zalloc(k, k.sys.mm.pte_table_cachep, '__pte_alloc');
  if (fresh === 0) return 0;
  yield k.store(fresh + PTE_TABLE.ptl + SPINLOCK.dep_map, PTL_CLASS);
  yield* spin_lock(k, mm + MM_STRUCT.page_table_lock);
  const raced = yield k.load(slot);
  if (raced === 0) {
    yield k.store(fresh + PTE_TABLE.next, yield k.load(mm + MM_STRUCT.pte_tables));
    yield k.store(mm + MM_STRUCT.pte_tables, fresh);
    yield k.store_release(slot, fresh);
  }
  yield* spin_unlock(k, mm + MM_STRUCT.page_table_lock);
  if (raced === 0) return fresh;
  yield kmem_cache_free(k, k.sys.mm.pte_table_cachep, fresh, '__pte_alloc');
  return raced;
}

/** Address of the PTE of `page` inside its table. */
export function pte_slot(table: number, page: number): number {
  return table + PTE_TABLE.ptes + (page & (PTRS_PER_PTE - 1));
}

/**
 * pmd_addr_end(): the end of the step from `page` that stays inside one PTE
 * table: the next table boundary, or `end` if that comes first.
 */
export function pte_table_end(page: number, end: number): number {
  return Math.min(end, (page | (PTRS_PER_PTE - 1)) + 1);
}

/** pte_lockptr() */
export function ptl_of(table: number): number {
  return table + PTE_TABLE.ptl;
}

/** pte_offset_map_lock(): lock the table of `page`; returns the table or 0 if none. */
export function* pte_offset_map_lock(k: KernelContext, mm: number, page: number): KGen<number> {
  const table = yield* call(pte_table(k, mm, page));
  if (table !== 0) yield* spin_lock(k, ptl_of(table));
  return table;
}

/**
 * Visit the present PTEs of [start, end), one PTE table at a time with its
 * lock held (the walk of zap_pte_range(), change_pte_range()). `visit`
 * gets the PTE's slot, value and page number.
 */
export function* walk_present_ptes(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
  visit: (slot: number, pte: number, page: number) => KGen,
): KGen {
  for (let p = start; p < end; ) {
    const table_end = pte_table_end(p, end);
    const table = yield* call(pte_offset_map_lock(k, mm, p));
    for (; table !== 0 && p < table_end; p++) {
      const slot = pte_slot(table, p);
      const pte = yield k.load(slot);
      // In place, not call(): a closure's frame would be a new function to name at each walk (ops.ts, frame_of()).
      if (pte_present(pte)) yield* visit(slot, pte, p);
    }
    if (table !== 0) yield* spin_unlock(k, ptl_of(table));
    p = table_end;
  }
}

/** Free every PTE table and the directory of a dead mm (free_pgtables at exit). */
export function* free_pgd_range(k: KernelContext, mm: number): KGen {
  for (let t = yield k.load(mm + MM_STRUCT.pte_tables); t !== 0; ) {
    const next = yield k.load(t + PTE_TABLE.next);
    yield kmem_cache_free(k, k.sys.mm.pte_table_cachep, t, 'free_pgtables');
    t = next;
  }
  yield* kfree(k, yield k.load(mm + MM_STRUCT.pgd), 'pgd_free');
}
