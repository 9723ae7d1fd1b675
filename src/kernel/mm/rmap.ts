/*
 * Anonymous memory's reverse-map roots (mm/rmap.c), reduced to what the
 * address space needs: which anon_vma a VMA belongs to (merge
 * compatibility), how many it is chained to (list_is_singular()), fork's
 * new child anon_vma, and the mapcounts of pages.
 */
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { spin_lock, spin_unlock } from '../locking/spinlock.js';
import { refcount_dec_and_test, refcount_inc, refcount_set } from '../refcount.js';
import { kmem_cache_alloc, kmem_cache_free } from '../slab.js';
import { mt_find, mt_lookup } from './maple_tree.js';
import {
  ANON_VMA,
  MM_STRUCT,
  PAGE,
  PG_ANON,
  VM_AREA_STRUCT as V,
  VM_ACCESS_FLAGS,
} from './mm_types.js';
import { mmap_assert_locked, mmap_assert_write_locked } from './mmap_lock.js';

function* anon_vma_alloc(k: KernelContext, parent: number): KGen<number> {
  const av = yield kmem_cache_alloc(k, k.sys.mm.anon_vma_cachep, 'anon_vma_alloc');
  if (av === 0) return 0;
  yield refcount_set(k, av + ANON_VMA.refcount, 1);
  yield k.store(av + ANON_VMA.parent, parent === 0 ? av : parent);
  if (parent !== 0) yield* refcount_inc(k, parent + ANON_VMA.refcount);
  return av;
}

/** put_anon_vma(): the last reference frees it, and drops the one it held on its parent. */
export function* put_anon_vma(k: KernelContext, av: number): KGen {
  while (av !== 0 && (yield* refcount_dec_and_test(k, av + ANON_VMA.refcount))) {
    const parent = yield k.load(av + ANON_VMA.parent);
    yield kmem_cache_free(k, k.sys.mm.anon_vma_cachep, av, 'put_anon_vma');
    av = parent === av ? 0 : parent;
  }
}

/*
 * anon_vma_compatible(): could a and b (a just below b) share an anon_vma?
 * Everything but the access flags must match, and pgoff must run on.
 */
function* anon_vma_compatible(k: KernelContext, a: number, b: number): KGen<boolean> {
  if ((yield k.load(a + V.vm_end)) !== (yield k.load(b + V.vm_start))) return false;
  if ((yield k.load(a + V.vm_file)) !== (yield k.load(b + V.vm_file))) return false;
  if (((yield k.load(a + V.vm_flags)) ^ (yield k.load(b + V.vm_flags))) & ~VM_ACCESS_FLAGS)
    return false;
  const a_start = yield k.load(a + V.vm_start);
  const b_start = yield k.load(b + V.vm_start);
  return (yield k.load(b + V.vm_pgoff)) === (yield k.load(a + V.vm_pgoff)) + (b_start - a_start);
}

/* reusable_anon_vma(): old's anon_vma, if a and b are compatible and old is chained to it alone. */
function* reusable_anon_vma(k: KernelContext, old: number, a: number, b: number): KGen<number> {
  if (!(yield* anon_vma_compatible(k, a, b))) return 0;
  const av = yield k.READ_ONCE(old + V.anon_vma);
  return av !== 0 && (yield k.load(old + V.anon_vma_chain)) === 1 ? av : 0;
}

/** find_mergeable_anon_vma(): a neighbour's anon_vma this VMA could share, next first. */
function* find_mergeable_anon_vma(k: KernelContext, mm: number, vma: number): KGen<number> {
  const end = yield k.load(vma + V.vm_end);
  const next = yield* call(mt_find(k, mm, end));
  if (next !== null && next.start === end) {
    const av = yield* call(reusable_anon_vma(k, next.vma, vma, next.vma));
    if (av !== 0) return av;
  }
  const start = yield k.load(vma + V.vm_start);
  const prev = start > 0 ? yield* call(mt_lookup(k, mm, start - 1)) : 0;
  return prev !== 0 ? yield* call(reusable_anon_vma(k, prev, prev, vma)) : 0;
}

/**
 * __anon_vma_prepare(): give the VMA an anon_vma before its first anonymous
 * page, reusing a compatible neighbour's when it can. mmap lock held
 * (mmap_assert_locked()); the assignment itself is serialised by
 * mm->page_table_lock. False on ENOMEM.
 */
export function* anon_vma_prepare(k: KernelContext, vma: number): KGen<boolean> {
  if ((yield k.READ_ONCE(vma + V.anon_vma)) !== 0) return true;
  const mm = yield k.load(vma + V.vm_mm);
  // The neighbours find_mergeable_anon_vma() reads are stable only under mmap_lock.
  yield* call(mmap_assert_locked(k, mm));
  let av = yield* call(find_mergeable_anon_vma(k, mm, vma));
  if (av === 0) {
    av = yield* call(anon_vma_alloc(k, 0));
    if (av === 0) return false;
  } else {
    yield* refcount_inc(k, av + ANON_VMA.refcount);
  }
  yield* spin_lock(k, mm + MM_STRUCT.page_table_lock);
  const raced = (yield k.load(vma + V.anon_vma)) !== 0;
  if (!raced) {
    yield k.WRITE_ONCE(vma + V.anon_vma, av);
    yield k.store(vma + V.anon_vma_chain, 1);
  }
  yield* spin_unlock(k, mm + MM_STRUCT.page_table_lock);
  // The loser drops what it took: the fresh anon_vma, or its reference on the neighbour's.
  if (raced) yield* call(put_anon_vma(k, av));
  return true;
}

/**
 * anon_vma_clone() for a split, a merge or a copy: the new VMA joins src's
 * anon_vma(s). check_anon_vma_clone(): under the mmap write lock.
 */
export function* anon_vma_clone(k: KernelContext, dst: number, src: number): KGen {
  yield* call(mmap_assert_write_locked(k, yield k.load(src + V.vm_mm)));
  const av = yield k.load(src + V.anon_vma);
  yield k.store(dst + V.anon_vma, av);
  yield k.store(dst + V.anon_vma_chain, yield k.load(src + V.anon_vma_chain));
  if (av !== 0) yield* refcount_inc(k, av + ANON_VMA.refcount);
}

/**
 * anon_vma_fork(): the child's VMA is chained to every anon_vma of the
 * parent's and gets one of its own, whose parent is the parent's; so it is
 * never singular and merges only with VMAs of its own anon_vma.
 */
export function* anon_vma_fork(k: KernelContext, child: number, parent_vma: number): KGen<boolean> {
  const pav = yield k.load(parent_vma + V.anon_vma);
  yield k.store(child + V.anon_vma, 0);
  yield k.store(child + V.anon_vma_chain, 0);
  if (pav === 0) return true;
  const av = yield* call(anon_vma_alloc(k, pav));
  if (av === 0) return false;
  yield k.store(child + V.anon_vma, av);
  yield k.store(child + V.anon_vma_chain, (yield k.load(parent_vma + V.anon_vma_chain)) + 1);
  return true;
}

/** unlink_anon_vmas(): the VMA goes away (or merges into another). */
export function* unlink_anon_vmas(k: KernelContext, vma: number): KGen {
  // "Always hold mmap lock, read-lock on unmap possibly."
  yield* call(mmap_assert_locked(k, yield k.load(vma + V.vm_mm)));
  const av = yield k.load(vma + V.anon_vma);
  if (av === 0) return;
  yield k.store(vma + V.anon_vma, 0);
  yield k.store(vma + V.anon_vma_chain, 0);
  yield* call(put_anon_vma(k, av));
}

/** The index of `page` in its VMA's object (linear_page_index()). */
export function* linear_page_index(k: KernelContext, vma: number, page: number): KGen<number> {
  return (yield k.load(vma + V.vm_pgoff)) + page - (yield k.load(vma + V.vm_start));
}

/** folio_add_new_anon_rmap(): a fresh anonymous page, mapped once. */
export function* folio_add_new_anon_rmap(
  k: KernelContext,
  page: number,
  vma: number,
  addr: number,
): KGen {
  yield k.store(page + PAGE.flags, PG_ANON);
  yield k.store(page + PAGE.mapping, yield k.load(vma + V.anon_vma));
  yield k.store(page + PAGE.index, yield* linear_page_index(k, vma, addr));
  yield k.store(page + PAGE._mapcount, 0);
}

/** folio_add_{anon,file}_rmap_pte(): one more PTE maps the page. */
export function* folio_add_rmap_pte(k: KernelContext, page: number): KGen {
  yield k.fetch_add(page + PAGE._mapcount, 1);
}

/** folio_remove_rmap_pte() */
export function* folio_remove_rmap_pte(k: KernelContext, page: number): KGen {
  const old = yield k.fetch_add(page + PAGE._mapcount, -1);
  k.BUG_ON(old < 0, 'folio_remove_rmap_pte: mapcount underflow');
}
