/*
 * madvise(MADV_DONTNEED) (mm/madvise.c): drop the pages of a range; the
 * next access sees zeros (anonymous private) or the file again. Needs only
 * the mmap read lock. A hole in the range is skipped, and reported as
 * -ENOMEM once the rest is done.
 */
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { mt_find } from './maple_tree.js';
import { zap_page_range } from './memory.js';
import { VM_AREA_STRUCT as V, VM_LOCKED, VM_PFNMAP } from './mm_types.js';
import { mmap_lock_range, mmap_read_unlock } from './mmap_lock.js';
import { EINVAL, ENOMEM } from './vma.js';

export function* do_madvise_dontneed(
  k: KernelContext,
  mm: number,
  start: number,
  pages: number,
): KGen<number> {
  const end = start + pages;
  // A read of [start, end): writers of any VMA it overlaps hold that whole VMA.
  yield* call(mmap_lock_range(k, mm, start, end, false, null));
  let unmapped_error = 0;
  let error = 0;
  let p = start;
  for (let e = yield* call(mt_find(k, mm, start)); ; e = yield* call(mt_find(k, mm, p))) {
    if (e === null || e.start >= end) {
      if (p < end) unmapped_error = -ENOMEM;
      break;
    }
    if (e.start > p) unmapped_error = -ENOMEM;
    const flags = yield k.load(e.vma + V.vm_flags);
    if (flags & (VM_LOCKED | VM_PFNMAP)) {
      error = -EINVAL;
      break;
    }
    const lo = Math.max(p, e.start);
    const hi = Math.min(end, e.end);
    yield* call(zap_page_range(k, e.vma, lo, hi));
    p = hi;
    if (p >= end) break;
  }
  yield* call(mmap_read_unlock(k, mm));
  return error || unmapped_error;
}
