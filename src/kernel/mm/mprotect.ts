/*
 * mprotect (mm/mprotect.c): change the protection of whole VMAs or parts
 * of them, merging with neighbours that end up alike, and rewrite the
 * PTEs of the range (change_protection()).
 */
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { flush_tlb_mm } from '../arch/tlbflush.js';
import { mt_find } from './maple_tree.js';
import {
  _PAGE_PROTNONE,
  _PAGE_RW,
  VM_AREA_STRUCT as V,
  VM_ACCESS_FLAGS,
  VM_ACCOUNT,
  VM_NORESERVE,
  VM_SHARED,
  VM_WRITE,
} from './mm_types.js';
import { calc_vm_prot_bits, EACCES } from './mmap.js';
import { mmap_lock_range, mmap_write_unlock, vma_start_write } from './mmap_lock.js';
import { walk_present_ptes } from './pgtable.js';
import { ENOMEM, vm_flags_reset_once, vma_extent, vma_info, vma_modify } from './vma.js';

/*
 * change_protection(): PTEs of [start, end) follow the new flags: PROT_NONE
 * makes them fault, losing VM_WRITE makes them read-only. Write permission
 * is never granted here; the next write fault does that (or COWs).
 */
function* change_protection(
  k: KernelContext,
  vma: number,
  start: number,
  end: number,
  vm_flags: number,
): KGen {
  const mm = yield k.load(vma + V.vm_mm);
  let changed = false;
  yield* call(
    walk_present_ptes(k, mm, start, end, function* (slot, pte) {
      let next = pte & ~_PAGE_PROTNONE;
      if (!(vm_flags & VM_ACCESS_FLAGS)) next |= _PAGE_PROTNONE;
      if (!(vm_flags & VM_WRITE)) next &= ~_PAGE_RW;
      if (next === pte) return;
      yield k.WRITE_ONCE(slot, next);
      changed = true;
    }),
  );
  // flush_tlb_range(): no access may still use a translation the change took away.
  if (changed) yield* flush_tlb_mm(k, mm);
}

/* mprotect_fixup(): give [start, end) of vma the flags `newflags`. Returns the VMA, or -errno. */
function* mprotect_fixup(
  k: KernelContext,
  mm: number,
  vma: number,
  start: number,
  end: number,
  newflags: number,
): KGen<number> {
  const v = yield* vma_info(k, vma);
  if (newflags === v.flags) return vma;
  if (newflags & VM_WRITE) {
    // Private memory becoming writable is charged now.
    if (!(v.flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED | VM_NORESERVE))) newflags |= VM_ACCOUNT;
  } else if (v.flags & VM_ACCOUNT && v.file === 0 && v.anon_vma === 0) {
    // Never faulted anonymous memory that stops being writable is uncharged.
    newflags &= ~VM_ACCOUNT;
  }
  const target = yield* call(vma_modify(k, mm, vma, start, end, newflags));
  if (target < 0) return target;
  // vm_flags is read by faults under the VMA lock alone: write-lock the
  // VMA even when vma_modify() neither split nor merged it.
  yield* call(vma_start_write(k, target));
  yield* call(vm_flags_reset_once(k, target, newflags));
  yield* call(change_protection(k, target, start, end, newflags));
  return target;
}

/**
 * do_mprotect_pkey(): `start` page-aligned and `pages` > 0 (the caller
 * checks). Walks the VMAs of the range; a hole makes it stop with -ENOMEM
 * after changing what came before, as the kernel does.
 */
export function* do_mprotect(
  k: KernelContext,
  mm: number,
  start: number,
  pages: number,
  prot: number,
): KGen<number> {
  const end = start + pages;
  yield* call(mmap_lock_range(k, mm, start, end, true, () => vma_extent(k, mm, start, end, true)));
  let error = 0;
  const first = yield* call(mt_find(k, mm, start));
  if (first === null || first.start >= end || first.start > start) {
    error = -ENOMEM;
  } else {
    let nstart = start;
    let tmp = first.start;
    for (
      let e: typeof first | null = first;
      e !== null && e.start < end;
      e = yield* call(mt_find(k, mm, nstart))
    ) {
      if (e.start !== tmp) {
        error = -ENOMEM;
        break;
      }
      const flags = yield k.load(e.vma + V.vm_flags);
      const newflags = calc_vm_prot_bits(prot) | (flags & ~VM_ACCESS_FLAGS);
      // newflags >> 4 puts VM_MAY* where VM_* are: asking for more than may be granted.
      if (newflags & ~(newflags >> 4) & VM_ACCESS_FLAGS) {
        error = -EACCES;
        break;
      }
      const r = yield* call(mprotect_fixup(k, mm, e.vma, nstart, Math.min(e.end, end), newflags));
      if (r < 0) {
        error = r;
        break;
      }
      // vma_iter_end(): go on after the VMA that now holds the range (merged or not).
      tmp = yield k.load(r + V.vm_end);
      nstart = tmp;
      if (nstart >= end) break;
    }
    if (error === 0 && tmp < end) error = -ENOMEM;
  }
  yield* call(mmap_write_unlock(k, mm));
  return error;
}
