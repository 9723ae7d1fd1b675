/*
 * get_user_pages and friends (mm/gup.c). The slow path walks under the
 * mmap read lock and faults pages in; gup_fast walks the page tables with
 * no lock at all and gives up (to the slow path) on anything unusual.
 *
 * FOLL_PIN pins count in _pincount and add GUP_PIN_COUNTING_BIAS to
 * _refcount, which is what lets fork() see that a page "may be DMA-pinned"
 * and copy it for the child (seed 004). A FOLL_PIN gup_fast must also see
 * mm->write_protect_seq unchanged and even around its walk: otherwise fork
 * may be write-protecting the very PTEs it read, and it must fall back.
 *
 * Not modelled: gup_fast_folio_allowed()'s refusal of secretmem folios.
 * Linux reads folio->mapping->a_ops there, safe only because gup_fast
 * runs with interrupts off and inodes are freed after a grace period; the
 * model has neither, so it cannot make that read safely. A gup_fast of a
 * secretmem page that is mapped therefore succeeds in the model, where
 * Linux falls back to the slow path and fails (check_vma_flags()).
 */
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { raw_read_seqcount, read_seqcount_retry } from '../locking/seqlock.js';
import { spin_unlock } from '../locking/spinlock.js';
import { refcount_add, refcount_add_not_zero } from '../refcount.js';
import { mt_lookup } from './maple_tree.js';
import {
  access_error,
  FAULT_FLAG_WRITE,
  handle_mm_fault,
  is_zero_page,
  VM_FAULT_ERROR,
} from './memory.js';
import {
  _PAGE_RW,
  GUP_PIN_COUNTING_BIAS,
  MM_STRUCT,
  PAGE,
  PG_ANON,
  VM_AREA_STRUCT as V,
  VM_WRITE,
} from './mm_types.js';
import { mmap_assert_locked, mmap_read_lock, mmap_read_unlock } from './mmap_lock.js';
import { put_page } from './page_alloc.js';
import {
  pte_access_permitted,
  pte_offset_map_lock,
  pte_page,
  pte_slot,
  pte_table,
  ptl_of,
} from './pgtable.js';
import { vma_is_secretmem } from './vma.js';

export const FOLL_WRITE = 1 << 0;
export const FOLL_PIN = 1 << 17;

/* try_grab_folio(): one reference, or a pin. */
function* try_grab_page(k: KernelContext, page: number, flags: number): KGen {
  if (flags & FOLL_PIN) {
    yield* refcount_add(k, page + PAGE._refcount, GUP_PIN_COUNTING_BIAS);
    yield k.fetch_add(page + PAGE._pincount, 1);
  } else {
    yield* refcount_add(k, page + PAGE._refcount, 1);
  }
}

/** unpin_user_page(): drop a FOLL_PIN pin. */
export function* unpin_user_page(k: KernelContext, page: number): KGen {
  const old = yield k.fetch_add(page + PAGE._pincount, -1);
  k.BUG_ON(old <= 0, 'unpin_user_page: page not pinned');
  // The bias goes in one step, all but the last reference, which put_page() drops.
  yield* refcount_add(k, page + PAGE._refcount, -(GUP_PIN_COUNTING_BIAS - 1));
  yield* put_page(k, page);
}

/*
 * follow_page_pte(): the page behind `addr`, grabbed, if the access needs
 * no fault; else 0. The PTE lock is held from reading the PTE to the grab,
 * so that no zap (MADV_DONTNEED, munmap) can clear the PTE and free the
 * page between them: the slow path's reference is never speculative.
 */
function* follow_page(k: KernelContext, mm: number, addr: number, flags: number): KGen<number> {
  const table = yield* call(pte_offset_map_lock(k, mm, addr));
  if (table === 0) return 0;
  const pte = yield k.READ_ONCE(pte_slot(table, addr));
  let page = pte_access_permitted(pte, (flags & FOLL_WRITE) !== 0) ? pte_page(pte) : 0;
  // A pin of an anonymous page must own it: a shared (COW) page is unshared first.
  if (
    page !== 0 &&
    flags & FOLL_PIN &&
    (is_zero_page(k, page) || ((yield k.load(page + PAGE.flags)) & PG_ANON && !(pte & _PAGE_RW)))
  )
    page = 0;
  if (page !== 0) yield* call(try_grab_page(k, page, flags));
  yield* spin_unlock(k, ptl_of(table));
  return page;
}

/**
 * __get_user_pages(): grab `nr` pages from `start`, faulting them in; the
 * mmap read lock is held. Returns the pages grabbed (fewer on a fault error).
 */
export function* __get_user_pages(
  k: KernelContext,
  mm: number,
  start: number,
  nr: number,
  flags: number,
): KGen<number[]> {
  // untagged_addr_remote() and find_vma() assert it: the VMAs are looked up under the lock.
  yield* call(mmap_assert_locked(k, mm));
  const pages: number[] = [];
  for (let addr = start; addr < start + nr; addr++) {
    const vma = yield* call(mt_lookup(k, mm, addr));
    if (vma === 0) break;
    const vm_flags = yield k.load(vma + V.vm_flags);
    // check_vma_flags(): never secretmem, and the same rights as a user access's (access_error()).
    if (yield* vma_is_secretmem(k, vma, vm_flags)) break;
    if (access_error(vm_flags, (flags & FOLL_WRITE) !== 0)) break;
    let page = yield* call(follow_page(k, mm, addr, flags));
    while (page === 0) {
      // A pin of a COW page writes-faults it to get a private copy (FAULT_FLAG_UNSHARE's effect).
      const write =
        (flags & FOLL_WRITE) !== 0 || ((flags & FOLL_PIN) !== 0 && (vm_flags & VM_WRITE) !== 0);
      if (
        (yield* call(handle_mm_fault(k, vma, addr, write ? FAULT_FLAG_WRITE : 0))) & VM_FAULT_ERROR
      )
        return pages;
      page = yield* call(follow_page(k, mm, addr, flags | (write ? FOLL_WRITE : 0)));
      if (page === 0 && !write && flags & FOLL_PIN) return pages;
    }
    pages.push(page);
  }
  return pages;
}

/** get_user_pages() / pin_user_pages(): the slow path, under the mmap read lock. */
export function* get_user_pages(
  k: KernelContext,
  mm: number,
  start: number,
  nr: number,
  flags: number,
): KGen<number[]> {
  yield* call(mmap_read_lock(k, mm));
  const pages = yield* call(__get_user_pages(k, mm, start, nr, flags));
  yield* call(mmap_read_unlock(k, mm));
  return pages;
}

/**
 * gup_fast(): grab what can be grabbed without locks; stop at the first
 * page that would need a fault. With FOLL_PIN, give everything back if a
 * fork wrote-protected pages meanwhile (write_protect_seq odd or moved).
 */
export function* gup_fast(
  k: KernelContext,
  mm: number,
  start: number,
  nr: number,
  flags: number,
): KGen<number[]> {
  const wp_seq = mm + MM_STRUCT.write_protect_seq;
  let seq = 0;
  if (flags & FOLL_PIN) {
    seq = yield* raw_read_seqcount(k, wp_seq);
    if (seq & 1) return [];
  }
  const pages: number[] = [];
  for (let addr = start; addr < start + nr; addr++) {
    const table = yield* call(pte_table(k, mm, addr));
    if (table === 0) break;
    const slot = pte_slot(table, addr);
    const pte = yield k.READ_ONCE(slot);
    if (!pte_access_permitted(pte, (flags & FOLL_WRITE) !== 0)) break;
    const page = pte_page(pte);
    if (is_zero_page(k, page) && flags & FOLL_PIN) break;
    // try_grab_folio_fast(): the page may be on its way to being freed.
    if ((yield* call(refcount_add_not_zero(k, page + PAGE._refcount, 1))) === 0) break;
    if ((yield k.READ_ONCE(slot)) !== pte) {
      yield* put_page(k, page);
      break;
    }
    if (flags & FOLL_PIN) {
      if ((yield k.load(page + PAGE.flags)) & PG_ANON && !(pte & _PAGE_RW)) {
        // A shared anonymous page may not be pinned: the slow path unshares it.
        yield* put_page(k, page);
        break;
      }
      yield* refcount_add(k, page + PAGE._refcount, GUP_PIN_COUNTING_BIAS - 1);
      yield k.fetch_add(page + PAGE._pincount, 1);
    }
    pages.push(page);
  }
  if (flags & FOLL_PIN && (yield* read_seqcount_retry(k, wp_seq, seq))) {
    for (const page of pages) yield* call(unpin_user_page(k, page));
    return [];
  }
  return pages;
}

/** pin_user_pages_fast(): gup_fast, then the slow path for the rest. */
export function* pin_user_pages_fast(
  k: KernelContext,
  mm: number,
  start: number,
  nr: number,
  write: boolean,
): KGen<number[]> {
  const flags = FOLL_PIN | (write ? FOLL_WRITE : 0);
  const fast = yield* call(gup_fast(k, mm, start, nr, flags));
  if (fast.length === nr) return fast;
  const slow = yield* call(get_user_pages(k, mm, start + fast.length, nr - fast.length, flags));
  return [...fast, ...slow];
}
