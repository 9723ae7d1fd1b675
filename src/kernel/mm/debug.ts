/*
 * validate_mm() (mm/vma.c, CONFIG_DEBUG_VM_MAPLE_TREE) and the page
 * accounting the model can afford to check in full: the index is sorted,
 * without overlaps, agrees with every VMA's own range and mm, and counts
 * map_count VMAs; every present PTE lies in a VMA; every page mapped by
 * the address space has as many mapcounts, and at least as many
 * references, as PTEs that map it.
 * Call with the mmap write lock held, once every other CPU is done with
 * the mm: a fault under a per-VMA lock changes page tables under the
 * mmap write lock, and the page scan reads each table in one step.
 */
import { cache_active } from '../../runtime/heap.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { KernelSymbols } from '../boot.js';
import { mt_entries } from './maple_tree.js';
import { is_zero_page } from './memory.js';
import {
  MM_STRUCT,
  PAGE,
  PTE_TABLE,
  PTRS_PER_PGD,
  PTRS_PER_PTE,
  VM_AREA_STRUCT as V,
} from './mm_types.js';
import { pte_page, pte_present } from './pgtable.js';

function fail(what: string): never {
  throw new KernelBug('mm-invariant', `validate_mm: ${what}`);
}

/*
 * Each failure is named as mm/vma.c's validate_mm() names it: the VMA
 * iterator's range against the VMA's (VM_WARN_ON_ONCE_MM), the count of
 * VMAs against map_count (VM_BUG_ON_MM); the rest are the model's own.
 */
export function* validate_mm(k: KernelContext, mm: number): KGen {
  const entries = yield* call(mt_entries(k, mm));
  let prev_end = 0;
  for (const e of entries) {
    if (e.start >= e.end) fail(`empty range ${e.start}-${e.end}`);
    if (e.start < prev_end) fail(`ranges overlap at ${e.start}`);
    prev_end = e.end;
    const start = yield k.load(e.vma + V.vm_start);
    const end = yield k.load(e.vma + V.vm_end);
    if (end !== e.end)
      fail(
        `VM_WARN_ON_ONCE_MM(vma->vm_end != vmi_end): VMA at ${e.start}-${e.end} says ${start}-${end}`,
      );
    if (start !== e.start)
      fail(
        `VM_WARN_ON_ONCE_MM(vma->vm_start != vmi_start): VMA at ${e.start}-${e.end} says ${start}-${end}`,
      );
    if ((yield k.load(e.vma + V.vm_mm)) !== mm) fail(`VMA at ${e.start} belongs to another mm`);
  }
  const map_count = yield k.load(mm + MM_STRUCT.map_count);
  if (map_count !== entries.length)
    fail(`VM_BUG_ON_MM: map_count ${map_count} vma iterator ${entries.length}`);

  const mapped = yield* call(mapped_pages(k, mm, entries));
  for (const [page, ptes] of mapped) {
    const mapcount = (yield k.load(page + PAGE._mapcount)) + 1;
    const refs = yield k.load(page + PAGE._refcount);
    if (mapcount < ptes)
      fail(`page ${page} is mapped by ${ptes} PTEs but its mapcount is ${mapcount}`);
    if (refs < mapcount) fail(`page ${page} has ${refs} references for ${mapcount} mappings`);
  }
}

/*
 * Each page the present PTEs map (the zero page aside), with how many map
 * it; a present PTE outside every VMA fails: munmap, mremap and exit zap
 * what they unmap before its VMA goes. Tables are scanned with
 * memchr_inv() for their next non-empty entry, one step a table and one
 * an entry found: exact only while no CPU faults in the mm, which every
 * caller ensures (the other CPUs are done).
 */
function* mapped_pages(
  k: KernelContext,
  mm: number,
  entries: readonly { start: number; end: number }[],
): KGen<Map<number, number>> {
  const mapped = new Map<number, number>();
  const pgd = yield k.load(mm + MM_STRUCT.pgd);
  const pgd_base = yield k.load(mm + MM_STRUCT.pgd_base);
  let i = yield* next_entry(k, pgd, 0, PTRS_PER_PGD);
  for (; i < PTRS_PER_PGD; i = yield* next_entry(k, pgd, i + 1, PTRS_PER_PGD)) {
    const ptes = (yield k.load(pgd + i)) + PTE_TABLE.ptes;
    let j = yield* next_entry(k, ptes, 0, PTRS_PER_PTE);
    for (; j < PTRS_PER_PTE; j = yield* next_entry(k, ptes, j + 1, PTRS_PER_PTE)) {
      const pte = yield k.load(ptes + j);
      if (!pte_present(pte)) continue;
      const addr = pgd_base + i * PTRS_PER_PTE + j;
      if (!entries.some((e) => e.start <= addr && addr < e.end))
        fail(`a present PTE at page ${addr}, outside every VMA`);
      if (is_zero_page(k, pte_page(pte))) continue;
      mapped.set(pte_page(pte), (mapped.get(pte_page(pte)) ?? 0) + 1);
    }
  }
  return mapped;
}

/* The index of the first non-zero word of table[from .. n), or n. */
function* next_entry(k: KernelContext, table: number, from: number, n: number): KGen<number> {
  if (from >= n) return n;
  const found = yield k.memchr_inv(table + from, 0, n - from);
  return found === 0 ? n : found - table;
}

/**
 * Once every mm died, every file was closed and RCU ran its callbacks,
 * every object of the memory manager must be free again (no leak).
 */
export function check_mm_caches_empty(m: KernelMemory, sys: KernelSymbols, when: string): void {
  for (const [name, cache] of Object.entries(sys.mm)) {
    if (name === 'zero_page') continue;
    const live = cache_active(m.words, cache);
    if (live !== 0)
      throw new KernelBug(
        'leak',
        `${live} objects of ${m.caches.get(cache)?.name ?? name} still allocated ${when}`,
      );
  }
}
