/*
 * mremap (mm/mremap.c, Linux 6.18): shrink a mapping in place, grow it in
 * place (merging the extension), or move it: copy_vma() at the target
 * (merging there if it can), move the page tables, then unmap the source
 * unless MREMAP_DONTUNMAP. A MREMAP_FIXED move that keeps the size may
 * span several VMAs (remap_move()). Lengths and addresses are pages.
 *
 * VM_LOCKED, which only memfd_secret(2)'s mappings have: a locked mapping
 * that grows has its new part populated once the lock is dropped, and
 * MREMAP_DONTUNMAP leaves the source unlocked.
 *
 * Not modelled, as no script can reach them: hugetlb, userfaultfd, mseal,
 * mlock(2), the commit charge of VM_ACCOUNT (vrm_calc_charge(): there is
 * no overcommit limit) and the rlimits of may_expand_vm() and
 * mlock_future_ok() (as for a task with CAP_IPC_LOCK). Every VMA a script
 * makes is anonymous or a file of tmpfs or secretmem, so
 * vma_multi_allowed() always allows a multi-VMA move.
 */
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { spin_unlock } from '../locking/spinlock.js';
import { get_file } from './filemap.js';
import { mt_find, mt_prev } from './maple_tree.js';
import {
  MAP_FIXED,
  MAP_SHARED,
  MM_STRUCT,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  VM_AREA_STRUCT as V,
  VM_ACCOUNT,
  VM_DONTEXPAND,
  VM_LOCKED,
  VM_MAYSHARE,
  VM_PFNMAP,
  VM_SHARED,
} from './mm_types.js';
import { do_munmap_range, EFAULT, get_unmapped_area, mm_populate } from './mmap.js';
import { mmap_write_lock, mmap_write_unlock, vma_start_write } from './mmap_lock.js';
import {
  pte_alloc,
  pte_offset_map_lock,
  pte_slot,
  pte_table,
  pte_table_end,
  ptl_of,
} from './pgtable.js';
import { anon_vma_clone, unlink_anon_vmas } from './rmap.js';
import {
  EINVAL,
  ENOMEM,
  find_vma_intersection,
  MAX_MAP_COUNT,
  vm_area_dup,
  vma_info,
  vma_link,
  vma_lookup,
  vma_merge_new_range,
} from './vma.js';

/* enum mremap_type: what the lengths ask for, once the VMA is known. */
type MremapType = 'no_resize' | 'shrink' | 'expand';

/*
 * struct vma_remap_struct: one mremap() operation, threaded through it.
 * The remap functions update it as they go: remap_move() points it at
 * each VMA in turn, a shrink before a move makes old_len new_len, and a
 * failed page-table move turns it round to unmap the target instead.
 */
interface VmaRemap {
  addr: number;
  old_len: number;
  new_len: number;
  readonly flags: number;
  /** The target: MREMAP_FIXED's, else where vrm_set_new_addr() placed it. */
  new_addr: number;
  /** The VMA at addr, or 0. */
  vma: number;
  delta: number;
  remap_type: MremapType;
  /** A VM_LOCKED VMA grows: what it gains is populated once the lock is dropped. */
  populate_expand: boolean;
}

/* vrm_implies_new_addr(): MREMAP_FIXED or MREMAP_DONTUNMAP always move. */
function vrm_implies_new_addr(vrm: VmaRemap): boolean {
  return (vrm.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0;
}

/* vrm_move_only(): a MREMAP_FIXED move that keeps the size (remap_move()). */
function vrm_move_only(vrm: VmaRemap): boolean {
  return (vrm.flags & MREMAP_FIXED) !== 0 && vrm.old_len === vrm.new_len;
}

/* vrm_overlaps(): would the source and the target ranges overlap? */
function vrm_overlaps(vrm: VmaRemap): boolean {
  return vrm.addr + vrm.old_len > vrm.new_addr && vrm.new_addr + vrm.new_len > vrm.addr;
}

/* vrm_set_delta() and vrm_remap_type() */
function vrm_set_delta(vrm: VmaRemap): void {
  vrm.delta = Math.abs(vrm.old_len - vrm.new_len);
  vrm.remap_type = vrm.delta === 0 ? 'no_resize' : vrm.old_len > vrm.new_len ? 'shrink' : 'expand';
}

/* vrm_will_map_new(): does the operation map address space it did not have? */
function vrm_will_map_new(vrm: VmaRemap): boolean {
  return vrm.remap_type === 'expand' || vrm_implies_new_addr(vrm);
}

/* vm_flags_set() / vm_flags_clear(): under the VMA write lock, as they take it. */
function* vm_flags_mod(k: KernelContext, vma: number, set: number, clear: number): KGen {
  yield* call(vma_start_write(k, vma));
  const flags = yield k.load(vma + V.vm_flags);
  yield k.WRITE_ONCE(vma + V.vm_flags, (flags & ~clear) | set);
}

/* vrm_stat_account(): vm_stat_account() of the pages the operation adds. */
function* vrm_stat_account(k: KernelContext, mm: number, pages: number): KGen {
  yield k.fetch_add(mm + MM_STRUCT.total_vm, pages);
}

/*
 * check_mremap_params(): the checks made before the mmap lock is taken,
 * so an unaligned or overlapping target is EINVAL even where nothing is
 * mapped at addr. sys_mremap() has already checked the flags, addr's
 * alignment and a zero new_len; what is left concerns the target.
 */
function* check_mremap_params(k: KernelContext, mm: number, vrm: VmaRemap): KGen<number> {
  const task_size = yield k.load(mm + MM_STRUCT.task_size);
  if (vrm.new_len > task_size) return -EINVAL;
  if (!vrm_implies_new_addr(vrm)) return 0;
  // new_addr -1: the target was not page-aligned.
  if (vrm.new_addr < 0 || vrm.new_addr > task_size - vrm.new_len) return -EINVAL;
  if (vrm_overlaps(vrm)) return -EINVAL;
  /*
   * Unmapping the target and the source may each split a VMA in three
   * before move_vma() checks the map count: fail before doing either.
   * The map count is read without the mmap lock, as the kernel does.
   */
  if ((yield k.READ_ONCE(mm + MM_STRUCT.map_count)) + 2 >= MAX_MAP_COUNT - 3) return -ENOMEM;
  return 0;
}

/*
 * check_prep_vma(): is vrm.vma, the VMA at vrm.addr, fit for the
 * operation? Only a move or an expansion has anything to check.
 */
function* check_prep_vma(k: KernelContext, vrm: VmaRemap): KGen<number> {
  if (vrm.vma === 0) return -EFAULT;
  vrm_set_delta(vrm);
  // For convenience, new_addr is set even if the VMA won't move.
  if (!vrm_implies_new_addr(vrm)) vrm.new_addr = vrm.addr;
  if (!vrm_will_map_new(vrm)) return 0;
  const v = yield* vma_info(k, vrm.vma);
  // old_len 0 duplicates a shared mapping; a private one would only get a fresh copy.
  if (vrm.old_len === 0 && !(v.flags & (VM_SHARED | VM_MAYSHARE))) return -EINVAL;
  if (vrm.flags & MREMAP_DONTUNMAP && v.flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EINVAL;
  // What a shrink unmaps may cross VMAs; what is kept, and moved, may not.
  const old_len = vrm.remap_type === 'shrink' ? vrm.new_len : vrm.old_len;
  if (old_len > v.end - vrm.addr) return -EFAULT;
  if (vrm.new_len === old_len) return 0;
  // Expanding a VMA that is mlock()'d: it must be populated.
  if (v.flags & VM_LOCKED) vrm.populate_expand = true;
  if (v.flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EFAULT;
  return 0;
}

/* ---- moving page tables ---- */

/*
 * get_extent(): the pages from old_addr that one step moves: up to the
 * end of the PTE table on either side, or of the range.
 */
function get_extent(old_addr: number, new_addr: number, left: number): number {
  const extent = pte_table_end(old_addr, old_addr + left) - old_addr;
  return pte_table_end(new_addr, new_addr + extent) - new_addr;
}

/*
 * move_ptes(): move the entries of [old_addr, old_addr + extent), which
 * lie in one PTE table, to new_addr's (already allocated) table. Pages
 * keep their references and mapcounts: only their address changes. The
 * kernel holds both page-table locks at once (spin_lock_nested()); the
 * model's lockdep has no nesting annotation, so the entries are cleared
 * under the old lock and installed under the new one. Nothing can fault
 * them back in between: the mmap lock and the VMA write locks are held.
 */
function* move_ptes(
  k: KernelContext,
  mm: number,
  old_addr: number,
  new_addr: number,
  extent: number,
): KGen {
  const old_table = yield* call(pte_offset_map_lock(k, mm, old_addr));
  const ptes: number[] = [];
  for (let i = 0; i < extent; i++) {
    const slot = pte_slot(old_table, old_addr + i);
    const pte = yield k.load(slot);
    ptes.push(pte);
    if (pte !== 0) yield k.WRITE_ONCE(slot, 0);
  }
  yield* spin_unlock(k, ptl_of(old_table));
  const new_table = yield* call(pte_offset_map_lock(k, mm, new_addr));
  for (let i = 0; i < extent; i++) {
    const slot = pte_slot(new_table, new_addr + i);
    // The target was unmapped, and its VMA is write-locked: no fault filled it.
    k.WARN_ON_ONCE(
      (yield k.load(slot)) !== 0,
      'VM_WARN_ON_ONCE(!pte_none(*new_ptep)) in move_ptes()',
    );
    const pte = ptes[i]!;
    if (pte !== 0) yield k.WRITE_ONCE(slot, pte);
  }
  yield* spin_unlock(k, ptl_of(new_table));
}

/*
 * move_page_tables(): move the PTEs of [old_addr, old_addr + len) to
 * new_addr. Returns how many pages it got through (pmc_progress()): less
 * than len when a PTE table for the target could not be allocated.
 */
function* move_page_tables(
  k: KernelContext,
  mm: number,
  old_addr: number,
  new_addr: number,
  len: number,
): KGen<number> {
  let done = 0;
  while (done < len) {
    const extent = get_extent(old_addr + done, new_addr + done, len - done);
    // get_old_pmd(): no table, nothing to move here.
    if ((yield* call(pte_table(k, mm, old_addr + done))) !== 0) {
      if ((yield* call(pte_alloc(k, mm, new_addr + done))) === 0) break;
      yield* call(move_ptes(k, mm, old_addr + done, new_addr + done, extent));
    }
    done += extent;
  }
  return done;
}

/* ---- moving a VMA ---- */

/*
 * copy_vma() (mm/vma.c): a VMA for [addr, addr + len) like `vma` at pgoff,
 * merged into a neighbour there if possible, else a new one. Returns the
 * new VMA (0 on ENOMEM) and the source VMA, which the merge may have
 * absorbed.
 */
function* copy_vma(
  k: KernelContext,
  mm: number,
  vma: number,
  addr: number,
  len: number,
  pgoff: number,
): KGen<{ new_vma: number; vma: number }> {
  const v = yield* vma_info(k, vma);
  // An anonymous VMA that never faulted takes the pgoff of its new place, to merge there.
  const faulted_in_anon_vma = v.file !== 0 || v.anon_vma !== 0;
  if (!faulted_in_anon_vma) pgoff = addr;
  // The target was unmapped or found free: "should never get here".
  if ((yield* call(find_vma_intersection(k, mm, addr, addr + len))) !== 0)
    return { new_vma: 0, vma };
  const merged = yield* call(
    vma_merge_new_range(k, mm, {
      start: addr,
      end: addr + len,
      flags: v.flags,
      file: v.file,
      pgoff,
      anon_vma: v.anon_vma,
    }),
  );
  if (merged !== 0) {
    const m = yield* vma_info(k, merged);
    // Merged into next alone: next takes the source's anon_vma (vma_expand()'s copied_from).
    if (m.start === addr && m.anon_vma === 0 && v.anon_vma !== 0)
      yield* call(anon_vma_clone(k, merged, vma));
    /*
     * The source itself may have been merged: only a VMA that never
     * faulted can be, since the move keeps the pgoff of one that did.
     */
    if (v.start >= m.start && v.start < m.end) {
      k.BUG_ON(faulted_in_anon_vma, `copy_vma: merged with its faulted source at ${v.start}`);
      return { new_vma: merged, vma: merged };
    }
    return { new_vma: merged, vma };
  }
  const fresh = yield* call(vm_area_dup(k, vma));
  if (fresh === 0) return { new_vma: 0, vma };
  yield k.store(fresh + V.vm_start, addr);
  yield k.store(fresh + V.vm_end, addr + len);
  yield k.store(fresh + V.vm_pgoff, pgoff);
  yield* call(anon_vma_clone(k, fresh, vma));
  if (v.file !== 0) yield* call(get_file(k, v.file));
  if (!(yield* call(vma_link(k, mm, fresh)))) return { new_vma: 0, vma };
  return { new_vma: fresh, vma };
}

/*
 * copy_vma_and_data(): copy vrm.vma to vrm.new_addr and move its page
 * tables. If they cannot all be moved, move back what was and turn vrm
 * round, so that move_vma() unmaps the new VMA instead of the old.
 * Returns the new VMA (0 if none was made) and 0 or -errno.
 */
function* copy_vma_and_data(
  k: KernelContext,
  mm: number,
  vrm: VmaRemap,
): KGen<{ new_vma: number; err: number }> {
  const v = yield* vma_info(k, vrm.vma);
  const new_pgoff = v.pgoff + (vrm.addr - v.start);
  const copy = yield* call(copy_vma(k, mm, vrm.vma, vrm.new_addr, vrm.new_len, new_pgoff));
  if (copy.new_vma === 0) return { new_vma: 0, err: -ENOMEM };
  vrm.vma = copy.vma;
  const moved = yield* call(move_page_tables(k, mm, vrm.addr, vrm.new_addr, vrm.old_len));
  if (moved < vrm.old_len) {
    yield* call(move_page_tables(k, mm, vrm.new_addr, vrm.addr, moved));
    vrm.vma = copy.new_vma;
    vrm.old_len = vrm.new_len;
    vrm.addr = vrm.new_addr;
    return { new_vma: copy.new_vma, err: -ENOMEM };
  }
  return { new_vma: copy.new_vma, err: 0 };
}

/*
 * dontunmap_complete(): the source stays mapped, empty, as if freshly
 * mapped: with its flags but VM_LOCKED, VM_ACCOUNT included (6.18 clears
 * only VM_LOCKED; "mm/mremap: correctly account old mapping after
 * MREMAP_DONTUNMAP remap"), and, if all of it moved, without its anon_vma
 * links.
 */
function* dontunmap_complete(k: KernelContext, vrm: VmaRemap, new_vma: number): KGen {
  const v = yield* vma_info(k, vrm.vma);
  // vm_flags_clear(vma, VM_LOCKED_MASK), where there is anything to clear.
  if (v.flags & VM_LOCKED) yield* call(vm_flags_mod(k, vrm.vma, 0, VM_LOCKED));
  if (new_vma !== vrm.vma && vrm.addr === v.start && vrm.addr + vrm.old_len === v.end)
    yield* call(unlink_anon_vmas(k, vrm.vma));
}

/*
 * unmap_source_vma(): unmap [vrm.addr, vrm.addr + vrm.old_len). Unmapping
 * a VM_ACCOUNT VMA gives back its commit charge, which the move keeps: so
 * VM_ACCOUNT is cleared first and set again on what is left of the VMA on
 * either side. Best effort: an error leaves the source mapped.
 */
function* unmap_source_vma(k: KernelContext, mm: number, vrm: VmaRemap): KGen {
  const v = yield* vma_info(k, vrm.vma);
  const start = vrm.addr;
  const end = vrm.addr + vrm.old_len;
  // With DONTUNMAP this unmaps the new VMA after a failure: its charge must go.
  const accountable_move = (v.flags & VM_ACCOUNT) !== 0 && !(vrm.flags & MREMAP_DONTUNMAP);
  if (accountable_move) yield* call(vm_flags_mod(k, vrm.vma, 0, VM_ACCOUNT));
  // do_vmi_munmap() refuses an empty range: duplicating a shared mapping keeps it.
  const err = start === end ? -EINVAL : yield* call(do_munmap_range(k, mm, start, end));
  vrm.vma = 0;
  if (err < 0 || !accountable_move) return;
  if (v.start < start) {
    const prev = yield* call(mt_prev(k, mm, start));
    yield* call(vm_flags_mod(k, prev!.vma, VM_ACCOUNT, 0));
  }
  if (v.end > end) {
    const next = yield* call(mt_find(k, mm, end));
    yield* call(vm_flags_mod(k, next!.vma, VM_ACCOUNT, 0));
  }
}

/* move_vma(): move vrm.vma's [addr, addr + old_len) to new_addr. Returns new_addr or -errno. */
function* move_vma(k: KernelContext, mm: number, vrm: VmaRemap): KGen<number> {
  // prep_move_vma(): copying may add a VMA and unmapping the source split one.
  if ((yield k.load(mm + MM_STRUCT.map_count)) >= MAX_MAP_COUNT - 3) return -ENOMEM;
  // No faults on the source while its pages move.
  yield* call(vma_start_write(k, vrm.vma));
  const { new_vma, err } = yield* call(copy_vma_and_data(k, mm, vrm));
  if (err < 0 && new_vma === 0) return err;
  // The unmap below takes old_len off total_vm again.
  yield* vrm_stat_account(k, mm, vrm.new_len);
  if (err === 0 && vrm.flags & MREMAP_DONTUNMAP) yield* call(dontunmap_complete(k, vrm, new_vma));
  else yield* call(unmap_source_vma(k, mm, vrm));
  return err < 0 ? err : vrm.new_addr;
}

/*
 * vrm_set_new_addr(): where the target goes: MREMAP_FIXED's address, or
 * get_unmapped_area()'s choice. Without MREMAP_FIXED, MREMAP_DONTUNMAP
 * takes new_addr as a hint; scripts give none (the oracle passes 0).
 */
function* vrm_set_new_addr(k: KernelContext, mm: number, vrm: VmaRemap): KGen<number> {
  const v = yield* vma_info(k, vrm.vma);
  const hint = vrm_implies_new_addr(vrm) ? vrm.new_addr : 0;
  const map_flags =
    (vrm.flags & MREMAP_FIXED ? MAP_FIXED : 0) | (v.flags & VM_MAYSHARE ? MAP_SHARED : 0);
  const res = yield* call(get_unmapped_area(k, mm, v.file, hint, vrm.new_len, map_flags));
  if (res < 0) return res;
  vrm.new_addr = res;
  return 0;
}

/*
 * shrink_vma(): unmap [addr + new_len, addr + old_len). When that is all
 * mremap() does (drop_lock), the kernel lets the unmap drop the mmap lock;
 * the model keeps it to the end. Otherwise vrm.vma is looked up again, as
 * the unmap may have split it.
 */
function* shrink_vma(
  k: KernelContext,
  mm: number,
  vrm: VmaRemap,
  drop_lock: boolean,
): KGen<number> {
  const err = yield* call(do_munmap_range(k, mm, vrm.addr + vrm.new_len, vrm.addr + vrm.old_len));
  vrm.vma = 0;
  if (err < 0 || drop_lock) return err;
  vrm.vma = yield* call(vma_lookup(k, mm, vrm.addr));
  return vrm.vma === 0 ? -EFAULT : 0;
}

/* mremap_to(): move to vrm.new_addr (MREMAP_FIXED) or a place of its own (MREMAP_DONTUNMAP). */
function* mremap_to(k: KernelContext, mm: number, vrm: VmaRemap): KGen<number> {
  if (vrm.flags & MREMAP_FIXED) {
    const err = yield* call(do_munmap_range(k, mm, vrm.new_addr, vrm.new_addr + vrm.new_len));
    if (err < 0) return err;
    // The target may have been part of the source's VMA, which is now split.
    vrm.vma = yield* call(vma_lookup(k, mm, vrm.addr));
    if (vrm.vma === 0) return -EFAULT;
  }
  if (vrm.remap_type === 'shrink') {
    const err = yield* call(shrink_vma(k, mm, vrm, false));
    if (err < 0) return err;
    vrm.old_len = vrm.new_len;
  }
  const err = yield* call(vrm_set_new_addr(k, mm, vrm));
  if (err < 0) return err;
  return yield* call(move_vma(k, mm, vrm));
}

/* vma_expandable(): nothing in the delta pages after the VMA, and it stays in the address space. */
function* vma_expandable(k: KernelContext, mm: number, vma: number, delta: number): KGen<boolean> {
  const v = yield* vma_info(k, vma);
  const end = v.end + delta;
  if ((yield* call(find_vma_intersection(k, mm, v.end, end))) !== 0) return false;
  return (yield* call(get_unmapped_area(k, mm, 0, v.start, end - v.start, MAP_FIXED))) >= 0;
}

/* vrm_can_expand_in_place(): the range ends where its VMA does, and the VMA can grow. */
function* vrm_can_expand_in_place(k: KernelContext, mm: number, vrm: VmaRemap): KGen<boolean> {
  const vm_end = yield k.load(vrm.vma + V.vm_end);
  if (vm_end - vrm.addr !== vrm.old_len) return false;
  return yield* call(vma_expandable(k, mm, vrm.vma, vrm.delta));
}

/*
 * expand_vma_in_place(): vma_merge_extend(): the delta pages after the
 * VMA merge into it (and into the next VMA, if that becomes adjacent and
 * compatible).
 */
function* expand_vma_in_place(k: KernelContext, mm: number, vrm: VmaRemap): KGen<number> {
  const v = yield* vma_info(k, vrm.vma);
  const vma = yield* call(
    vma_merge_new_range(k, mm, {
      start: v.end,
      end: v.end + vrm.delta,
      flags: v.flags,
      file: v.file,
      pgoff: v.pgoff + (v.end - v.start),
      anon_vma: v.anon_vma,
    }),
  );
  if (vma === 0) return -ENOMEM;
  vrm.vma = vma;
  yield* vrm_stat_account(k, mm, vrm.delta);
  return 0;
}

/* expand_vma(): grow in place if the VMA can, else move if allowed. */
function* expand_vma(k: KernelContext, mm: number, vrm: VmaRemap): KGen<number> {
  if (yield* call(vrm_can_expand_in_place(k, mm, vrm))) {
    const err = yield* call(expand_vma_in_place(k, mm, vrm));
    return err < 0 ? err : vrm.addr;
  }
  if (!(vrm.flags & MREMAP_MAYMOVE)) return -ENOMEM;
  const err = yield* call(vrm_set_new_addr(k, mm, vrm));
  if (err < 0) return err;
  return yield* call(move_vma(k, mm, vrm));
}

/* mremap_at(): resize in place, moving only to grow when it must and may. */
function* mremap_at(k: KernelContext, mm: number, vrm: VmaRemap): KGen<number> {
  switch (vrm.remap_type) {
    case 'no_resize':
      return vrm.addr;
    case 'shrink': {
      const err = yield* call(shrink_vma(k, mm, vrm, true));
      return err < 0 ? err : vrm.addr;
    }
    case 'expand':
      return yield* call(expand_vma(k, mm, vrm));
  }
}

/*
 * remap_move(): a MREMAP_FIXED move that keeps the size moves every VMA
 * in [addr, addr + old_len), each to its own offset in the target, so the
 * gaps between them stay. The range must start in a VMA. Returns the new
 * address of the first, or the first error (what moved before it stays
 * moved).
 */
function* remap_move(k: KernelContext, mm: number, vrm: VmaRemap): KGen<number> {
  const start = vrm.addr;
  const end = vrm.addr + vrm.old_len;
  let res = -EFAULT;
  let target_addr = vrm.new_addr;
  let last_end = start;
  let seen_vma = false;
  for (
    let e = yield* call(mt_find(k, mm, start));
    e !== null && e.start < end;
    e = yield* call(mt_find(k, mm, last_end))
  ) {
    if (!seen_vma && start < e.start) return -EFAULT;
    const addr = Math.max(e.start, start);
    const len = Math.min(end, e.end) - addr;
    const offset = seen_vma ? e.start - last_end : 0;
    last_end = e.end;
    vrm.vma = e.vma;
    vrm.addr = addr;
    vrm.new_addr = target_addr + offset;
    vrm.old_len = vrm.new_len = len;
    let res_vma = yield* call(check_prep_vma(k, vrm));
    if (res_vma === 0) res_vma = yield* call(mremap_to(k, mm, vrm));
    if (res_vma < 0) return res_vma;
    if (!seen_vma) res = res_vma;
    seen_vma = true;
    target_addr = res_vma + vrm.new_len;
  }
  return res;
}

/**
 * mremap() after sys_mremap()'s checks: `addr` page-aligned, lengths in
 * pages (old_len may be 0, new_len not), `new_addr` the fixed= target (0
 * when none, -1 when not page-aligned). Returns the new first page or
 * -errno.
 */
export function* do_mremap(
  k: KernelContext,
  mm: number,
  addr: number,
  old_len: number,
  new_len: number,
  flags: number,
  new_addr: number,
): KGen<number> {
  const vrm: VmaRemap = {
    addr,
    old_len,
    new_len,
    flags,
    new_addr,
    vma: 0,
    delta: 0,
    remap_type: 'no_resize',
    populate_expand: false,
  };
  const err = yield* check_mremap_params(k, mm, vrm);
  if (err < 0) return err;
  yield* call(mmap_write_lock(k, mm));
  let res: number;
  if (vrm_move_only(vrm)) {
    res = yield* call(remap_move(k, mm, vrm));
  } else {
    vrm.vma = yield* call(vma_lookup(k, mm, vrm.addr));
    res = yield* call(check_prep_vma(k, vrm));
    if (res === 0)
      res = vrm_implies_new_addr(vrm)
        ? yield* call(mremap_to(k, mm, vrm))
        : yield* call(mremap_at(k, mm, vrm));
  }
  yield* call(mmap_write_unlock(k, mm));
  if (res >= 0 && vrm.populate_expand)
    yield* call(mm_populate(k, mm, vrm.new_addr + vrm.old_len, vrm.new_addr + vrm.new_len));
  return res;
}
