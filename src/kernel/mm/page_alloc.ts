/*
 * Pages (mm/page_alloc.c, include/linux/mm.h): a struct page and its 4 KiB
 * frame, reference counted. The last put_page() frees both.
 */
import { PAGE_WORDS } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen, Unmodelled } from '../../runtime/ops.js';
import { __refcount_sub_and_test, refcount_inc, refcount_set } from '../refcount.js';
import { __GFP_ZERO, kmem_cache_alloc, kmem_cache_free, kmem_cache_zalloc } from '../slab.js';
import { PAGE } from './mm_types.js';

/**
 * alloc_page(GFP_KERNEL | gfp): a page with one reference and no mapping; 0
 * if out of memory. The page comes off this CPU's per-CPU page list (the
 * timing executor prices the struct page's allocation as
 * rmqueue_pcplist()); every caller's page is a user folio, so its
 * bookkeeping the model has no steps for (mem_cgroup_charge(),
 * folio_add_lru()) is priced here as one.
 */
export function* alloc_page(k: KernelContext, gfp: number, site: string): KGen<number> {
  const caches = k.sys.mm;
  const page = yield kmem_cache_zalloc(k, caches.page_cachep, site);
  if (page === 0) return 0;
  const frame =
    gfp & __GFP_ZERO
      ? yield kmem_cache_zalloc(k, caches.frame_cachep, site)
      : yield kmem_cache_alloc(k, caches.frame_cachep, site);
  if (frame === 0) {
    yield kmem_cache_free(k, caches.page_cachep, page, site);
    return 0;
  }
  yield refcount_set(k, page + PAGE._refcount, 1);
  yield k.store(page + PAGE._mapcount, -1);
  yield k.store(page + PAGE.frame, frame);
  k.unmodelled(Unmodelled.NEW_PAGE);
  return page;
}

/**
 * add_mm_counter(): mm->rss_stat[member] += value, a percpu_counter: this
 * CPU's count, folded into the mm's at percpu_counter_batch. No access the
 * explorer sees (nothing in the model reads the counters); the timing
 * executor prices its lines.
 */
export function add_mm_counter(k: KernelContext, mm: number, member: number, value: number): void {
  k.unmodelled(Unmodelled.MM_COUNTER, mm + member, value);
}

export function* get_page(k: KernelContext, page: number): KGen {
  yield* refcount_inc(k, page + PAGE._refcount);
}

/** put_page(): drop a reference; the last one frees the page. */
export function* put_page(k: KernelContext, page: number): KGen {
  if ((yield* call(__refcount_sub_and_test(k, page + PAGE._refcount, 1))) !== 1) return;
  if ((yield k.READ_ONCE(page + PAGE._mapcount)) !== -1) {
    throw new KernelBug('BUG', `put_page: freeing a page that is still mapped (cpu ${k.cpu})`);
  }
  const caches = k.sys.mm;
  yield kmem_cache_free(k, caches.frame_cachep, yield k.load(page + PAGE.frame), 'free_unref_page');
  yield kmem_cache_free(k, caches.page_cachep, page, 'free_unref_page');
}

/** copy_user_highpage(): the contents of one page into another. */
export function* copy_page(k: KernelContext, to: number, from: number): KGen {
  yield k.memcpy(yield k.load(to + PAGE.frame), yield k.load(from + PAGE.frame), PAGE_WORDS);
}
