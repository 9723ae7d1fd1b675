/*
 * fork's half of the address space (kernel/fork.c dup_mmap(), mm/memory.c
 * copy_page_range()): the child gets a copy of every VMA; private pages
 * become copy-on-write in both, inside the parent's write_protect_seq so
 * that gup_fast can tell (seed 004); a page that may be DMA-pinned is
 * copied for the child at once instead, so the parent keeps the very page
 * the device writes.
 */
import { call, type KernelContext, type KGen } from '../runtime/ops.js';
import { flush_tlb_mm } from './arch/tlbflush.js';
import { raw_write_seqcount_begin, raw_write_seqcount_end } from './locking/seqlock.js';
import { spin_unlock } from './locking/spinlock.js';
import { get_file } from './mm/filemap.js';
import { mt_entries, mt_store_range } from './mm/maple_tree.js';
import { is_zero_page } from './mm/memory.js';
import {
  _PAGE_RW,
  MM_STRUCT,
  PAGE,
  PG_ANON,
  VM_AREA_STRUCT as V,
  VM_DONTCOPY,
  VM_LOCKED,
  VM_MAYWRITE,
  VM_SHARED,
} from './mm/mm_types.js';
import { mm_alloc } from './mm/mmap.js';
import {
  mmap_write_lock,
  mmap_write_unlock,
  vma_assert_write_locked,
  vma_mark_attached,
  vma_start_write,
} from './mm/mmap_lock.js';
import { alloc_page, copy_page, get_page } from './mm/page_alloc.js';
import {
  mk_pte,
  pte_alloc,
  pte_offset_map_lock,
  pte_page,
  pte_present,
  pte_slot,
  pte_table_end,
  ptl_of,
} from './mm/pgtable.js';
import { anon_vma_fork, folio_add_new_anon_rmap, folio_add_rmap_pte } from './mm/rmap.js';
import { remove_vma, vm_area_dup } from './mm/vma.js';

/** Re-introduced mistake of seed 004: fork write-protects pages outside write_protect_seq. */
export const VARIANT_GUP_FAST_WITHOUT_WP_SEQ = 'seed004-gup-fast-without-wp-seq';

/** is_cow_mapping(): private and may be written. */
function is_cow_mapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/** folio_maybe_dma_pinned() */
function* folio_maybe_dma_pinned(k: KernelContext, page: number): KGen<boolean> {
  return (yield k.READ_ONCE(page + PAGE._pincount)) > 0;
}

/* copy_present_pte() for one PTE of a COW or shared mapping. Both tables are locked. */
function* copy_present_pte(
  k: KernelContext,
  dst_vma: number,
  src_slot: number,
  dst_slot: number,
  page_addr: number,
  vm_flags: number,
): KGen<boolean> {
  let pte = yield k.load(src_slot);
  const page = pte_page(pte);
  if (is_zero_page(k, page)) {
    // The zero page is shared by everyone and counted by no one.
    yield k.WRITE_ONCE(dst_slot, pte);
    return true;
  }
  if ((yield k.load(page + PAGE.flags)) & PG_ANON && (yield* folio_maybe_dma_pinned(k, page))) {
    // The parent may have pinned it for DMA: the child gets its own copy now.
    const copy = yield* alloc_page(k, 0, 'copy_present_page');
    if (copy === 0) return false;
    yield* copy_page(k, copy, page);
    yield* call(folio_add_new_anon_rmap(k, copy, dst_vma, page_addr));
    yield k.WRITE_ONCE(dst_slot, mk_pte(copy, pte & _PAGE_RW));
    return true;
  }
  yield* get_page(k, page);
  yield* folio_add_rmap_pte(k, page);
  if (is_cow_mapping(vm_flags) && pte & _PAGE_RW) {
    // Write-protect in both processes: the first write copies.
    yield k.WRITE_ONCE(src_slot, pte & ~_PAGE_RW);
    pte &= ~_PAGE_RW;
  }
  yield k.WRITE_ONCE(dst_slot, pte);
  return true;
}

/**
 * copy_page_range(): copy the PTEs of `src` into `dst`. Mappings without
 * anonymous pages are left to fault in the child, as the kernel does.
 */
export function* copy_page_range(
  k: KernelContext,
  dst_vma: number,
  src_vma: number,
): KGen<boolean> {
  if ((yield k.load(src_vma + V.anon_vma)) === 0) return true;
  const src_mm = yield k.load(src_vma + V.vm_mm);
  const dst_mm = yield k.load(dst_vma + V.vm_mm);
  const vm_flags = yield k.load(src_vma + V.vm_flags);
  const start = yield k.load(src_vma + V.vm_start);
  const end = yield k.load(src_vma + V.vm_end);
  const cow = is_cow_mapping(vm_flags);
  const wp_seq = src_mm + MM_STRUCT.write_protect_seq;
  // No fault may write-enable a PTE of src while they are write-protected.
  if (cow) yield* vma_assert_write_locked(k, src_vma);
  const bracket = cow && k.variant !== VARIANT_GUP_FAST_WITHOUT_WP_SEQ;
  if (bracket) yield* raw_write_seqcount_begin(k, wp_seq);
  let ok = true;
  for (let p = start; p < end && ok; ) {
    const table_end = pte_table_end(p, end);
    const src = yield* call(pte_offset_map_lock(k, src_mm, p));
    if (src === 0) {
      p = table_end;
      continue;
    }
    yield* spin_unlock(k, ptl_of(src));
    const dst = yield* call(pte_alloc(k, dst_mm, p));
    if (dst === 0) {
      ok = false;
      break;
    }
    yield* call(pte_offset_map_lock(k, dst_mm, p));
    yield* call(pte_offset_map_lock(k, src_mm, p));
    for (; p < table_end; p++) {
      if (!pte_present(yield k.load(pte_slot(src, p)))) continue;
      if (
        !(yield* call(
          copy_present_pte(k, dst_vma, pte_slot(src, p), pte_slot(dst, p), p, vm_flags),
        ))
      ) {
        ok = false;
        break;
      }
    }
    yield* spin_unlock(k, ptl_of(src));
    yield* spin_unlock(k, ptl_of(dst));
  }
  if (bracket) yield* raw_write_seqcount_end(k, wp_seq);
  return ok;
}

/**
 * dup_mmap(): a new mm with a copy of every VMA of `oldmm`; both mmap
 * locks are held for write, and every parent VMA is write-locked.
 * Returns the new mm, or 0 on ENOMEM.
 */
export function* dup_mmap(k: KernelContext, oldmm: number): KGen<number> {
  const mm = yield* call(
    mm_alloc(
      k,
      yield k.load(oldmm + MM_STRUCT.mmap_base),
      yield k.load(oldmm + MM_STRUCT.task_size),
      yield k.load(oldmm + MM_STRUCT.pgd_base),
    ),
  );
  if (mm === 0) return 0;
  yield* call(mmap_write_lock(k, oldmm));
  yield* call(mmap_write_lock(k, mm));
  // dup_mm() copies the whole mm_struct: the heap's bounds (brk_start, brk
  // and brk_offset) and total_vm, which mm_alloc() did not set. Both locks are held.
  yield k.memcpy(
    mm + MM_STRUCT.brk_start,
    oldmm + MM_STRUCT.brk_start,
    MM_STRUCT.total_vm + 1 - MM_STRUCT.brk_start,
  );
  yield k.memcpy(mm + MM_STRUCT.brk_offset, oldmm + MM_STRUCT.brk_offset, 1);
  let ok = true;
  for (const e of yield* call(mt_entries(k, oldmm))) {
    yield* call(vma_start_write(k, e.vma));
    const flags = yield k.load(e.vma + V.vm_flags);
    if (flags & VM_DONTCOPY) continue;
    const tmp = yield* call(vm_area_dup(k, e.vma));
    if (tmp === 0 || !(yield* call(anon_vma_fork(k, tmp, e.vma)))) {
      if (tmp !== 0) yield* call(remove_vma(k, tmp));
      ok = false;
      break;
    }
    // vm_flags_clear(tmp, VM_LOCKED_MASK): the child inherits no mlock (stored only where that changes it).
    if (flags & VM_LOCKED) yield k.store(tmp + V.vm_flags, flags & ~VM_LOCKED);
    yield k.WRITE_ONCE(tmp + V.vm_mm, mm);
    const file = yield k.load(tmp + V.vm_file);
    if (file !== 0) yield* call(get_file(k, file));
    yield* call(vma_start_write(k, tmp));
    if (!(yield* call(mt_store_range(k, mm, e.start, e.end, tmp)))) {
      yield* call(remove_vma(k, tmp));
      ok = false;
      break;
    }
    yield* call(vma_mark_attached(k, tmp));
    yield k.fetch_add(mm + MM_STRUCT.map_count, 1);
    if (!(yield* call(copy_page_range(k, tmp, e.vma)))) {
      ok = false;
      break;
    }
  }
  // The parent's PTEs were write-protected: no store may still go through the old ones.
  yield* flush_tlb_mm(k, oldmm);
  yield* call(mmap_write_unlock(k, mm));
  yield* call(mmap_write_unlock(k, oldmm));
  if (!ok) return 0;
  return mm;
}
