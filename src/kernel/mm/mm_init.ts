/*
 * mm_core_init(): the caches of the memory manager, made once at boot.
 * vm_area_struct comes from a SLAB_TYPESAFE_BY_RCU cache, as in the 2025
 * per-VMA lock design, so that a lockless lookup may meet a recycled VMA.
 */
import { cacheline_aligned, defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import {
  __SLAB_PAGE_FRAMES,
  __SLAB_PAGES,
  kmem_cache_create,
  SLAB_TYPESAFE_BY_RCU,
} from '../slab.js';
import { MAPLE_NODE } from './maple_tree.js';
import { ANON_VMA, FILE, MM_STRUCT, PAGE, PTE_TABLE, VM_AREA_STRUCT } from './mm_types.js';

/** The 4 KiB of a page, on whole cache lines as a page frame is. */
export const PAGE_FRAME = defineStruct('page_frame', {
  data: cacheline_aligned([1024, 'whoever maps or pins the page']),
});

export interface MmCaches {
  /** The shared zero page: mapped read-only by read faults of private anonymous memory. */
  readonly zero_page: number;
  readonly vm_area_cachep: number;
  readonly mm_cachep: number;
  readonly anon_vma_cachep: number;
  readonly page_cachep: number;
  readonly frame_cachep: number;
  readonly pte_table_cachep: number;
  readonly maple_node_cachep: number;
  readonly file_cachep: number;
}

export function mm_core_init(m: KernelMemory, gp_seq: number): MmCaches {
  const cache = (
    name: string,
    info: Parameters<typeof kmem_cache_create>[2],
    flags = 0,
    sheaf_capacity = 0,
  ) => kmem_cache_create(m, name, info, flags, gp_seq, sheaf_capacity);
  const page_cachep = cache('page', PAGE.$, __SLAB_PAGES);
  const frame_cachep = cache('page_frame', PAGE_FRAME.$, __SLAB_PAGE_FRAMES);
  // The zero page is never freed: one reference held for ever, never counted as mapped.
  const zero_page = m.boot_alloc(PAGE.$, 'zero_page');
  m.words[zero_page + PAGE._refcount] = 1;
  m.words[zero_page + PAGE._mapcount] = -1;
  m.words[zero_page + PAGE.frame] = m.boot_alloc(PAGE_FRAME.$, 'zero_page.frame');
  return {
    zero_page,
    // vma_state_init() and maple_tree_init() ask for sheaves of 32.
    vm_area_cachep: cache('vm_area_struct', VM_AREA_STRUCT.$, SLAB_TYPESAFE_BY_RCU, 32),
    mm_cachep: cache('mm_struct', MM_STRUCT.$),
    anon_vma_cachep: cache('anon_vma', ANON_VMA.$),
    page_cachep,
    frame_cachep,
    pte_table_cachep: cache('pte_table', PTE_TABLE.$),
    maple_node_cachep: cache('maple_node', MAPLE_NODE.$, 0, 32),
    file_cachep: cache('file', FILE.$),
  };
}
