/*
 * The slab allocator's kernel API (mm/slab_common.c, mm/slub.c in
 * spirit): kmem_cache_create(), kmem_cache_alloc()/free(), and kmalloc
 * size classes. The mechanism under it, the caches' objects, their
 * generations, the quarantine and SLAB_TYPESAFE_BY_RCU's eager reuse, is
 * the executors' heap (src/runtime/heap.ts): an allocation or a free is
 * one step, which the executor performs.
 */
import {
  __GFP_ZERO,
  __SLAB_PAGE_FRAMES,
  __SLAB_PAGES,
  cache_create,
  SLAB_TYPESAFE_BY_RCU,
} from '../runtime/heap.js';
import type { StructInfo } from '../runtime/layout.js';
import type { KernelMemory } from '../runtime/memory.js';
import { KernelBug, type KernelContext, type KGen } from '../runtime/ops.js';
import { name_hash } from './locking/lockdep.js';

/* The kernel's names for the heap's flags. */
export { __GFP_ZERO, __SLAB_PAGE_FRAMES, __SLAB_PAGES, SLAB_TYPESAFE_BY_RCU };

/** kmem_cache_create(); `sheaf_capacity` as kmem_cache_args gives it (0: by size). */
export function kmem_cache_create(
  m: KernelMemory,
  name: string,
  info: StructInfo,
  flags: number,
  gp_seq: number,
  sheaf_capacity = 0,
): number {
  return cache_create(m, name, name_hash(name), info, flags, gp_seq, sheaf_capacity);
}

/*
 * ---- the kernel-side API ----
 * Each is a single access, so each returns its op for the caller to yield
 * (`const obj = yield kmem_cache_alloc(k, cache, site)`): no generator
 * frame on the hottest paths of the model.
 */

export function kmem_cache_alloc(k: KernelContext, cache: number, site: string): number {
  return k.alloc(cache, 0, site);
}

export function kmem_cache_zalloc(k: KernelContext, cache: number, site: string): number {
  return k.alloc(cache, __GFP_ZERO, site);
}

export function kmem_cache_free(
  k: KernelContext,
  cache: number,
  obj: number,
  site: string,
): number {
  return k.free(obj, cache, site);
}

/** kmalloc size classes, in words: 4, 8, ..., 4096. */
export const KMALLOC_MIN_WORDS = 4;
export const KMALLOC_CLASSES = 11;

export function kmalloc_index(words: number): number {
  let idx = 0;
  while (KMALLOC_MIN_WORDS << idx < words) idx++;
  if (idx >= KMALLOC_CLASSES)
    throw new KernelBug('BUG', `kmalloc of ${words} words is larger than the largest size class`);
  return idx;
}

export function kmalloc(k: KernelContext, words: number, site: string): number {
  return k.alloc(k.sys.kmalloc_caches[kmalloc_index(words)]!, 0, site);
}

export function kzalloc(k: KernelContext, words: number, site: string): number {
  return k.alloc(k.sys.kmalloc_caches[kmalloc_index(words)]!, __GFP_ZERO, site);
}

export function* kfree(k: KernelContext, obj: number, site: string): KGen {
  if (obj !== 0) yield k.free(obj, 0, site);
}
