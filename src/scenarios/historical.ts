/*
 * The historical variants: bugs Linux had and fixed after the seeds, each
 * re-introduced in the model at the place of its fix (the constant's
 * comment there names the commit or CVE). Not a scenario: index.ts lists
 * scenarios by import, never by file.
 */
import { VARIANT_STACK_EXPAND_UNDER_READ_LOCK } from '../kernel/arch/fault.js';
import { VARIANT_VMA_LOCK_THEN_MMAP_LOCK } from '../kernel/mm/memory.js';
import { VARIANT_MAP_FIXED_GAP } from '../kernel/mm/mmap.js';
import {
  VARIANT_PUT_WITHOUT_MMGRAB,
  VARIANT_RETRY_WITH_STALE_MAS,
} from '../kernel/mm/mmap_lock.js';

/** Each historical variant with the mistake it re-introduces and where Linux fixed it. */
export const HISTORICAL_VARIANT_DOCS: Readonly<Record<string, string>> = {
  [VARIANT_STACK_EXPAND_UNDER_READ_LOCK]:
    'StackRot, CVE-2023-3269: the stack grows under mmap_lock held for read, freeing maple nodes under readers (fixed in 6.5: "mm: always expand the stack with the mmap write lock held")',
  [VARIANT_PUT_WITHOUT_MMGRAB]:
    '9bbffee67ffd: a VMA recycled into another mm is put without mmgrab() on that mm, whose writer the put wakes after the mm may be freed',
  [VARIANT_RETRY_WITH_STALE_MAS]:
    '"mm/mmap_lock: reset maple state on lock_vma_under_rcu() retry" (2025): the retry walks a maple node cached before the RCU read lock was dropped',
  [VARIANT_VMA_LOCK_THEN_MMAP_LOCK]:
    "syzbot's userfaultfd move_pages() lockdep report: mmap_lock taken while holding a VMA read lock (here the fault's anon_vma preparation blocks on mmap_read_lock() instead of trying it)",
  [VARIANT_MAP_FIXED_GAP]:
    'f8d112a4e657 ("Avoid MAP_FIXED gap exposure", 6.12): a MAP_FIXED mmap unmaps before it maps, and /proc/PID/maps read under per-VMA locks shows the gap',
};

export const HISTORICAL_VARIANTS: readonly string[] = Object.keys(HISTORICAL_VARIANT_DOCS);
