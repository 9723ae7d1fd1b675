/*
 * Files and their page cache (mm/filemap.c, mm/shmem.c, mm/secretmem.c).
 * A script's file k holds word i of page j = k<<28 | j<<16 | i, produced
 * when the page is first read; shmem (the file behind shared anonymous
 * memory) and memfd_secret(2)'s files start zero.
 * The page cache is a two-level array under i_pages_lock and holds one
 * reference on each of its pages.
 */
import { PAGE_WORDS } from '../../runtime/memory.js';
import type { KernelContext, KGen } from '../../runtime/ops.js';
import { lock_class } from '../locking/lockdep.js';
import { SPINLOCK, spin_lock, spin_unlock } from '../locking/spinlock.js';
import { refcount_dec_and_test, refcount_inc, refcount_set } from '../refcount.js';
import { __GFP_ZERO, kfree, kmem_cache_free, kmem_cache_zalloc, kzalloc } from '../slab.js';
import { FILE, FILE_REGULAR, PAGE, PG_UPTODATE } from './mm_types.js';
import { alloc_page, get_page, put_page } from './page_alloc.js';

const CHUNK = 512;
/* The directory has a slot per chunk of the file, and at least one. */
const dir_slots = (pages: number) => Math.max(1, Math.ceil(pages / CHUNK));
const I_PAGES_CLASS = lock_class('mapping.i_pages');

/**
 * A new open file of `pages` pages (id k > 0 for script files, 0 for
 * shmem), `kind` FILE_REGULAR, FILE_SHMEM or FILE_SECRETMEM; 0 on ENOMEM.
 */
export function* file_alloc(
  k: KernelContext,
  id: number,
  pages: number,
  kind: number,
): KGen<number> {
  const f = yield kmem_cache_zalloc(k, k.sys.mm.file_cachep, 'alloc_file');
  if (f === 0) return 0;
  const dir = yield kzalloc(k, dir_slots(pages), 'alloc_file');
  if (dir === 0) {
    yield kmem_cache_free(k, k.sys.mm.file_cachep, f, 'alloc_file');
    return 0;
  }
  yield refcount_set(k, f + FILE.f_count, 1);
  yield k.store(f + FILE.id, id);
  yield k.store(f + FILE.kind, kind);
  yield k.store(f + FILE.i_size, pages);
  yield k.store(f + FILE.i_pages, dir);
  yield k.store(f + FILE.i_pages_lock + SPINLOCK.dep_map, I_PAGES_CLASS);
  return f;
}

export function* get_file(k: KernelContext, f: number): KGen {
  yield* refcount_inc(k, f + FILE.f_count);
}

/** fput(): the last reference drops the page cache and the file. */
export function* fput(k: KernelContext, f: number): KGen {
  if (!(yield* refcount_dec_and_test(k, f + FILE.f_count))) return;
  const dir = yield k.load(f + FILE.i_pages);
  const chunks = dir_slots(yield k.load(f + FILE.i_size));
  for (let c = 0; c < chunks; c++) {
    const chunk = yield k.load(dir + c);
    if (chunk === 0) continue;
    for (let i = 0; i < CHUNK; i++) {
      const page = yield k.load(chunk + i);
      if (page !== 0) yield* put_page(k, page);
    }
    yield* kfree(k, chunk, 'fput');
  }
  yield* kfree(k, dir, 'fput');
  yield kmem_cache_free(k, k.sys.mm.file_cachep, f, 'fput');
}

/**
 * filemap_fault() / shmem_fault() / secretmem_fault(): the page at `index`, read in if needed,
 * with a reference for the caller; 0 past the end of the file (SIGBUS), -1
 * out of memory.
 */
export function* filemap_get_page(k: KernelContext, f: number, index: number): KGen<number> {
  if (index < 0 || index >= (yield k.load(f + FILE.i_size))) return 0;
  const lock = f + FILE.i_pages_lock;
  yield* spin_lock(k, lock);
  const dir = yield k.load(f + FILE.i_pages);
  const dir_slot = dir + Math.floor(index / CHUNK);
  let chunk = yield k.load(dir_slot);
  if (chunk === 0) {
    chunk = yield kzalloc(k, CHUNK, 'xa_store');
    if (chunk === 0) {
      yield* spin_unlock(k, lock);
      return -1;
    }
    yield k.store(dir_slot, chunk);
  }
  let page = yield k.load(chunk + (index % CHUNK));
  if (page === 0) {
    // shmem_fault() and secretmem_fault() allocate zeroed pages; a file's are read in.
    const read_in = (yield k.load(f + FILE.kind)) === FILE_REGULAR;
    page = yield* alloc_page(k, read_in ? 0 : __GFP_ZERO, 'filemap_add_folio');
    if (page === 0) {
      yield* spin_unlock(k, lock);
      return -1;
    }
    if (read_in) {
      // read_folio(): the file's bytes, in one DMA.
      const id = yield k.load(f + FILE.id);
      yield k.memset(
        yield k.load(page + PAGE.frame),
        (id << 28) | (index << 16) | 0,
        PAGE_WORDS,
        1,
      );
    }
    yield k.store(page + PAGE.flags, PG_UPTODATE);
    yield k.store(page + PAGE.mapping, f);
    yield k.store(page + PAGE.index, index);
    yield k.store(chunk + (index % CHUNK), page);
  }
  yield* get_page(k, page);
  yield* spin_unlock(k, lock);
  return page;
}
