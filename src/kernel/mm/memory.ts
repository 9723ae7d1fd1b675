/*
 * Page faults (mm/memory.c): handle_mm_fault() and its handlers, and the
 * unmapping of page ranges (zap_page_range_single()).
 *
 * A mapped PTE holds one reference on its page and one mapcount. A private
 * COW page is shared read-only until a write copies it (or reuses it, when
 * no one else holds a reference).
 */
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { flush_tlb_mm } from '../arch/tlbflush.js';
import { spin_unlock } from '../locking/spinlock.js';
import { __GFP_ZERO } from '../slab.js';
import { filemap_get_page } from './filemap.js';
import {
  _PAGE_RW,
  MM_ANONPAGES,
  MM_FILEPAGES,
  PAGE,
  PG_ANON,
  VM_AREA_STRUCT as V,
  VM_ACCESS_FLAGS,
  VM_OPS,
  VM_SHARED,
  VM_WRITE,
} from './mm_types.js';
import {
  mmap_assert_locked,
  mmap_read_lock,
  mmap_read_trylock,
  mmap_read_unlock,
  vma_assert_locked,
  vma_end_read,
} from './mmap_lock.js';
import { add_mm_counter, alloc_page, copy_page, put_page } from './page_alloc.js';
import {
  mk_pte,
  pte_alloc,
  pte_offset_map_lock,
  pte_page,
  pte_present,
  pte_slot,
  ptl_of,
  walk_present_ptes,
} from './pgtable.js';
import {
  anon_vma_prepare,
  folio_add_new_anon_rmap,
  folio_add_rmap_pte,
  folio_remove_rmap_pte,
  linear_page_index,
} from './rmap.js';

/* vm_fault_t (include/linux/mm_types.h) */
export const VM_FAULT_OOM = 0x1;
export const VM_FAULT_SIGBUS = 0x2;
export const VM_FAULT_SIGSEGV = 0x40;
export const VM_FAULT_RETRY = 0x400;
export const VM_FAULT_COMPLETED = 0x4000;
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV;

/* enum fault_flag */
export const FAULT_FLAG_WRITE = 1 << 0;
export const FAULT_FLAG_USER = 1 << 6;
export const FAULT_FLAG_VMA_LOCK = 1 << 12;
/** The model's own: the fault holds only its page's range of mmap_sem (the range policy). */
export const FAULT_FLAG_RANGE = 1 << 13;

/**
 * access_error() (arch/x86/mm/fault.c): may an access with these rights not
 * touch the VMA? Reads need any access right; writes need VM_WRITE. GUP's
 * check_vma_flags() asks the same.
 */
export function access_error(vm_flags: number, write: boolean): boolean {
  return write ? !(vm_flags & VM_WRITE) : !(vm_flags & VM_ACCESS_FLAGS);
}

function* vma_is_anonymous(k: KernelContext, vma: number): KGen<boolean> {
  return (yield k.load(vma + V.vm_file)) === 0;
}

/* Whether the PTE of `page` is still empty (pte_none()); the table is locked. */
function* pte_none_locked(k: KernelContext, table: number, page: number): KGen<boolean> {
  return (yield k.load(pte_slot(table, page))) === 0;
}

/* Install `entry` at `page` if the PTE is still empty; the table is locked. */
function* set_pte_if_none(
  k: KernelContext,
  table: number,
  page: number,
  entry: number,
): KGen<boolean> {
  if (!(yield* pte_none_locked(k, table, page))) return false;
  yield k.WRITE_ONCE(pte_slot(table, page), entry);
  return true;
}

/*
 * The rmap of a new mapping of `folio` at an empty PTE, then the PTE
 * (set_pte_range(), do_anonymous_page()): once set_ptes() publishes the
 * entry, gup_fast and follow_page(), which take no table lock, may find the
 * page and read its flags, which must be complete by then. The table is
 * locked.
 */
function* map_new_pte(
  k: KernelContext,
  vma: number,
  mm: number,
  table: number,
  page: number,
  folio: number,
  entry: number,
  anon_new: boolean,
): KGen<boolean> {
  if (!(yield* pte_none_locked(k, table, page))) return false;
  if (anon_new) yield* call(folio_add_new_anon_rmap(k, folio, vma, page));
  else yield* folio_add_rmap_pte(k, folio);
  add_mm_counter(k, mm, anon_new ? MM_ANONPAGES : MM_FILEPAGES, 1);
  yield k.WRITE_ONCE(pte_slot(table, page), entry);
  return true;
}

/** Re-introduced mistake of seed 003: ->fault called under the VMA lock without the ->map_pages audit. */
export const VARIANT_FAULT_WITHOUT_MAP_PAGES_AUDIT = 'seed003-fault-without-map-pages-audit';

/**
 * Re-introduced VMA lock -> mmap_lock order inversion, the class of
 * syzbot's lockdep report on userfaultfd's move_pages() (uffd_move_lock()
 * must vma_end_read() the VMA it holds before mmap_read_lock(): "Undo any
 * locking and retry in mmap_lock critical section"): here the fault under
 * the VMA lock blocks on mmap_read_lock() instead of trying it.
 */
export const VARIANT_VMA_LOCK_THEN_MMAP_LOCK = 'uffd-vma-lock-then-mmap-lock';

/*
 * vmf_anon_prepare(): an anon_vma before the first anonymous page. Under
 * the VMA lock that needs mmap_lock too (anon_vma_prepare() looks at the
 * neighbours): only a trylock, else the fault is retried under mmap_lock.
 * On VM_FAULT_RETRY the VMA lock has been dropped here, as the contract of
 * handle_mm_fault() says.
 */
function* vmf_anon_prepare(k: KernelContext, vma: number, flags: number): KGen<number> {
  if ((yield k.READ_ONCE(vma + V.anon_vma)) !== 0) return 0;
  const mm = yield k.load(vma + V.vm_mm);
  if (flags & FAULT_FLAG_RANGE) {
    // anon_vma_prepare() reads the neighbours, which a page's range does not cover.
    yield* call(mmap_read_unlock(k, mm));
    return VM_FAULT_RETRY;
  }
  const vma_locked = (flags & FAULT_FLAG_VMA_LOCK) !== 0;
  if (vma_locked && k.variant === VARIANT_VMA_LOCK_THEN_MMAP_LOCK)
    yield* call(mmap_read_lock(k, mm));
  else if (vma_locked && !(yield* call(mmap_read_trylock(k, mm)))) {
    yield* vma_end_read(k, vma);
    return VM_FAULT_RETRY;
  }
  const ok = yield* call(anon_vma_prepare(k, vma));
  if (vma_locked) yield* call(mmap_read_unlock(k, mm));
  return ok ? 0 : VM_FAULT_OOM;
}

/*
 * Whether the VMA's vm_ops have ->map_pages: only those have been audited
 * not to rely on mmap_lock in ->fault (seed 003).
 */
function* fault_audited(k: KernelContext, vma: number): KGen<boolean> {
  return VM_OPS[yield k.load(vma + V.vm_ops)]!.map_pages;
}

/*
 * vmf_can_call_fault() (seed 003): under the VMA lock, a fault whose
 * ->fault was not audited drops it and retries under mmap_lock.
 */
function* vmf_can_call_fault(k: KernelContext, vma: number, flags: number): KGen<number> {
  if (!(flags & FAULT_FLAG_VMA_LOCK) || (yield* fault_audited(k, vma))) return 0;
  if (k.variant === VARIANT_FAULT_WITHOUT_MAP_PAGES_AUDIT) return 0;
  yield* vma_end_read(k, vma);
  return VM_FAULT_RETRY;
}

/** is_zero_pfn() */
export function is_zero_page(k: KernelContext, page: number): boolean {
  return page === k.sys.mm.zero_page;
}

/* mm_forbids_zeropage(): for every mm or none, by the command line (BootParams). */
export function mm_forbids_zeropage(k: KernelContext): boolean {
  return k.sys.params.forbid_zeropage === true;
}

/*
 * do_anonymous_page(): a read maps the shared zero page read-only (no
 * anon_vma yet: the VMA still merges as if never touched); a write, or a
 * read where mm_forbids_zeropage(), gets a zeroed page of its own, writable
 * if the VMA is.
 */
function* do_anonymous_page(
  k: KernelContext,
  vma: number,
  page: number,
  flags: number,
): KGen<number> {
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  const mm0 = yield k.load(vma + V.vm_mm);
  if (!write && !mm_forbids_zeropage(k)) {
    const table = yield* call(pte_offset_map_lock(k, mm0, page));
    yield* set_pte_if_none(k, table, page, mk_pte(k.sys.mm.zero_page, 0));
    yield* spin_unlock(k, ptl_of(table));
    return 0;
  }
  const prepared = yield* call(vmf_anon_prepare(k, vma, flags));
  if (prepared) return prepared;
  const folio = yield* alloc_page(k, __GFP_ZERO, 'do_anonymous_page');
  if (folio === 0) return VM_FAULT_OOM;
  const mm = yield k.load(vma + V.vm_mm);
  const table = yield* call(pte_offset_map_lock(k, mm, page));
  const writable = ((yield k.load(vma + V.vm_flags)) & VM_WRITE) !== 0;
  const entry = mk_pte(folio, writable ? _PAGE_RW : 0);
  const installed = yield* map_new_pte(k, vma, mm, table, page, folio, entry, true);
  yield* spin_unlock(k, ptl_of(table));
  if (!installed) yield* put_page(k, folio);
  return 0;
}

/**
 * assert_fault_locked() (include/linux/mm.h): the fault holds the lock
 * its flags say, the VMA lock or the mmap lock.
 */
function* assert_fault_locked(k: KernelContext, vma: number, flags: number): KGen {
  if (flags & FAULT_FLAG_VMA_LOCK) yield* vma_assert_locked(k, vma);
  else yield* call(mmap_assert_locked(k, yield k.load(vma + V.vm_mm)));
}

/*
 * __do_fault(): the page cache page behind `page`, or a fault code. The
 * ->fault handlers that may drop the lock (filemap_fault(),
 * handle_userfault()) assert it first: so does this one. A ->fault of
 * vm_ops without ->map_pages was never audited for the VMA lock
 * (vmf_can_call_fault()): it is held to the contract that audit left,
 * mmap_lock held, whether or not its own code needs it (secretmem_fault()
 * does not; a driver's may).
 */
function* __do_fault(
  k: KernelContext,
  vma: number,
  page: number,
  flags: number,
): KGen<{ folio: number; ret: number }> {
  yield* assert_fault_locked(k, vma, flags);
  if (!(yield* fault_audited(k, vma))) {
    // A ->fault that was never audited: it may rely on mmap_lock.
    yield* call(mmap_assert_locked(k, yield k.load(vma + V.vm_mm)));
  }
  const index = yield* linear_page_index(k, vma, page);
  const folio = yield* call(filemap_get_page(k, yield k.load(vma + V.vm_file), index));
  if (folio === 0) return { folio, ret: VM_FAULT_SIGBUS };
  if (folio < 0) return { folio: 0, ret: VM_FAULT_OOM };
  return { folio, ret: 0 };
}

/* finish_fault(): map `folio` (which carries a reference for the mapping). */
function* finish_fault(
  k: KernelContext,
  vma: number,
  page: number,
  folio: number,
  flags: number,
  anon_new: boolean,
): KGen<number> {
  const mm = yield k.load(vma + V.vm_mm);
  const table = yield* call(pte_offset_map_lock(k, mm, page));
  const entry = mk_pte(folio, flags);
  const installed = yield* map_new_pte(k, vma, mm, table, page, folio, entry, anon_new);
  yield* spin_unlock(k, ptl_of(table));
  if (!installed) yield* put_page(k, folio);
  return 0;
}

/*
 * do_read_fault(): map the page cache page. Private mappings map it
 * read-only (a write will COW); shared ones writable only when nothing
 * needs to see the first write (no ->page_mkwrite: shmem).
 */
function* do_read_fault(k: KernelContext, vma: number, page: number, flags: number): KGen<number> {
  const can = yield* call(vmf_can_call_fault(k, vma, flags));
  if (can) return can;
  const { folio, ret } = yield* call(__do_fault(k, vma, page, flags));
  if (ret) return ret;
  const vm_flags = yield k.load(vma + V.vm_flags);
  const ops = VM_OPS[yield k.load(vma + V.vm_ops)]!;
  const writable = (vm_flags & VM_SHARED) !== 0 && (vm_flags & VM_WRITE) !== 0 && !ops.page_mkwrite;
  return yield* call(finish_fault(k, vma, page, folio, writable ? _PAGE_RW : 0, false));
}

/** do_cow_fault(): a write to a private file mapping: a private copy of the file page. */
function* do_cow_fault(k: KernelContext, vma: number, page: number, flags: number): KGen<number> {
  const can =
    (yield* call(vmf_can_call_fault(k, vma, flags))) ||
    (yield* call(vmf_anon_prepare(k, vma, flags)));
  if (can) return can;
  const copy = yield* alloc_page(k, 0, 'do_cow_fault');
  if (copy === 0) return VM_FAULT_OOM;
  const { folio, ret } = yield* call(__do_fault(k, vma, page, flags));
  if (ret) {
    yield* put_page(k, copy);
    return ret;
  }
  yield* copy_page(k, copy, folio);
  yield* put_page(k, folio);
  return yield* call(finish_fault(k, vma, page, copy, _PAGE_RW, true));
}

/** do_shared_fault(): a write to a shared file mapping: map the page cache page writable. */
function* do_shared_fault(
  k: KernelContext,
  vma: number,
  page: number,
  flags: number,
): KGen<number> {
  const can = yield* call(vmf_can_call_fault(k, vma, flags));
  if (can) return can;
  const { folio, ret } = yield* call(__do_fault(k, vma, page, flags));
  if (ret) return ret;
  return yield* call(finish_fault(k, vma, page, folio, _PAGE_RW, false));
}

/*
 * do_wp_page(): a write to a present, read-only PTE. Shared mappings make
 * it writable (after ->page_mkwrite); an anonymous page nobody else holds
 * is reused; anything else is copied (wp_page_copy()).
 */
function* do_wp_page(
  k: KernelContext,
  vma: number,
  page: number,
  table: number,
  pte: number,
  flags: number,
): KGen<number> {
  const slot = pte_slot(table, page);
  const folio = pte_page(pte);
  const vm_flags = yield k.load(vma + V.vm_flags);
  const zero = is_zero_page(k, folio);
  const reuse =
    !zero &&
    ((vm_flags & VM_SHARED) !== 0 ||
      ((yield k.load(folio + PAGE.flags)) & PG_ANON &&
        (yield k.READ_ONCE(folio + PAGE._refcount)) === 1));
  if (reuse) {
    yield k.WRITE_ONCE(slot, pte | _PAGE_RW);
    yield* spin_unlock(k, ptl_of(table));
    return 0;
  }
  yield* spin_unlock(k, ptl_of(table));
  const prepared = yield* call(vmf_anon_prepare(k, vma, flags));
  if (prepared) return prepared;
  const copy = yield* alloc_page(k, zero ? __GFP_ZERO : 0, 'wp_page_copy');
  if (copy === 0) return VM_FAULT_OOM;
  if (!zero) yield* copy_page(k, copy, folio);
  const mm = yield k.load(vma + V.vm_mm);
  yield* call(pte_offset_map_lock(k, mm, page));
  if ((yield k.load(slot)) !== pte) {
    // Someone changed the PTE meanwhile: let the access retry.
    yield* spin_unlock(k, ptl_of(table));
    yield* put_page(k, copy);
    return 0;
  }
  yield* call(folio_add_new_anon_rmap(k, copy, vma, page));
  if (zero) add_mm_counter(k, mm, MM_ANONPAGES, 1);
  yield k.WRITE_ONCE(slot, mk_pte(copy, _PAGE_RW));
  if (!zero) yield* folio_remove_rmap_pte(k, folio);
  yield* spin_unlock(k, ptl_of(table));
  if (!zero) yield* put_page(k, folio);
  return 0;
}

/**
 * handle_mm_fault(): resolve a fault at `page` of `vma`. The caller holds
 * the mmap lock (or, with FAULT_FLAG_VMA_LOCK, the VMA lock) and has
 * checked the access against vm_flags.
 */
export function* handle_mm_fault(
  k: KernelContext,
  vma: number,
  page: number,
  flags: number,
): KGen<number> {
  const mm = yield k.load(vma + V.vm_mm);
  const table = yield* call(pte_alloc(k, mm, page));
  if (table === 0) return VM_FAULT_OOM;
  yield* call(pte_offset_map_lock(k, mm, page));
  const pte = yield k.load(pte_slot(table, page));
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  if (pte_present(pte)) {
    if (write && !(pte & _PAGE_RW)) return yield* call(do_wp_page(k, vma, page, table, pte, flags));
    // Spurious: another CPU resolved it first.
    yield* spin_unlock(k, ptl_of(table));
    return 0;
  }
  yield* spin_unlock(k, ptl_of(table));
  if (yield* vma_is_anonymous(k, vma)) return yield* call(do_anonymous_page(k, vma, page, flags));
  if (!write) return yield* call(do_read_fault(k, vma, page, flags));
  if (!((yield k.load(vma + V.vm_flags)) & VM_SHARED))
    return yield* call(do_cow_fault(k, vma, page, flags));
  return yield* call(do_shared_fault(k, vma, page, flags));
}

/**
 * zap_page_range_single(): unmap [start, end) of `vma`: clear the PTEs,
 * drop their mapcounts and references. The mmap lock is held.
 */
export function* zap_page_range(k: KernelContext, vma: number, start: number, end: number): KGen {
  k.BUG_ON(start >= end, 'unmap_page_range: BUG_ON(addr >= end)');
  const put: number[] = [];
  const mm = yield k.load(vma + V.vm_mm);
  let cleared = false;
  yield* call(
    walk_present_ptes(k, mm, start, end, function* (slot, pte) {
      yield k.WRITE_ONCE(slot, 0);
      cleared = true;
      if (is_zero_page(k, pte_page(pte))) return;
      yield* folio_remove_rmap_pte(k, pte_page(pte));
      put.push(pte_page(pte));
    }),
  );
  // tlb_finish_mmu(): pages are freed after the TLB flush, outside the page-table locks.
  if (cleared) yield* flush_tlb_mm(k, mm);
  if (put.length) add_mm_counter(k, mm, MM_ANONPAGES, -put.length);
  for (const folio of put) yield* put_page(k, folio);
}
