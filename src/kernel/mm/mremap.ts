/*
 * mremap (mm/mremap.c): shrink in place, grow in place (merging the
 * extension), or move to a new place: copy_vma() (merging there if it
 * can), move the page tables, then unmap the old range unless
 * MREMAP_DONTUNMAP. Lengths and addresses are pages; the system-call layer
 * checks alignment.
 */
import type { KernelContext, KGen } from '../../runtime/ops.js';
import { spin_unlock } from '../locking/spinlock.js';
import { get_file } from './filemap.js';
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
  VM_MAYSHARE,
  VM_PFNMAP,
  VM_SHARED,
} from './mm_types.js';
import { do_munmap_range, EFAULT, get_unmapped_area } from './mmap.js';
import { mmap_write_lock, mmap_write_unlock, vma_start_write } from './mmap_lock.js';
import { pte_alloc, pte_offset_map_lock, pte_present, pte_slot, ptl_of } from './pgtable.js';
import { anon_vma_clone } from './rmap.js';
import {
  EINVAL,
  ENOMEM,
  find_vma_intersection,
  MAX_MAP_COUNT,
  type VmaInfo,
  vm_area_dup,
  vma_info,
  vma_link,
  vma_lookup,
  vma_merge_new_range,
} from './vma.js';

/* vma_to_resize(): the VMA at addr, if [addr, addr + old_len) may become new_len. */
function* vma_to_resize(
  k: KernelContext,
  mm: number,
  addr: number,
  old_len: number,
  new_len: number,
  flags: number,
): KGen<VmaInfo | number> {
  const vma = yield* vma_lookup(k, mm, addr);
  if (vma === 0) return -EFAULT;
  const v = yield* vma_info(k, vma);
  // old_len 0 duplicates a shared mapping; for a private one it makes no sense.
  if (old_len === 0 && !(v.flags & (VM_SHARED | VM_MAYSHARE))) return -EINVAL;
  if (flags & MREMAP_DONTUNMAP && v.flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EINVAL;
  if (old_len > v.end - addr) return -EFAULT;
  if (new_len === old_len) return v;
  if (v.flags & (VM_DONTEXPAND | VM_PFNMAP)) return -EFAULT;
  return v;
}

/* vma_expandable(): nothing in [end, end + delta) and it stays in the address space. */
function* vma_expandable(k: KernelContext, mm: number, v: VmaInfo, delta: number): KGen<boolean> {
  const end = v.end + delta;
  if ((yield* find_vma_intersection(k, mm, v.end, end)) !== 0) return false;
  return end <= (yield k.load(mm + MM_STRUCT.task_size));
}

/*
 * move_page_tables(): move the PTEs of [old, old + len) to [new, new + len).
 * Pages keep their mapcounts and references: only their address changes.
 */
function* move_page_tables(
  k: KernelContext,
  mm: number,
  old_addr: number,
  new_addr: number,
  len: number,
): KGen<boolean> {
  for (let i = 0; i < len; i++) {
    const from = yield* pte_offset_map_lock(k, mm, old_addr + i);
    if (from === 0) {
      i = ((old_addr + i) | 511) - old_addr;
      continue;
    }
    const slot = pte_slot(from, old_addr + i);
    const pte = yield k.load(slot);
    yield* spin_unlock(k, ptl_of(from));
    if (!pte_present(pte)) continue;
    const to = yield* pte_alloc(k, mm, new_addr + i);
    if (to === 0) return false;
    yield* pte_offset_map_lock(k, mm, new_addr + i);
    yield k.WRITE_ONCE(pte_slot(to, new_addr + i), pte);
    yield* spin_unlock(k, ptl_of(to));
    yield* pte_offset_map_lock(k, mm, old_addr + i);
    yield k.WRITE_ONCE(slot, 0);
    yield* spin_unlock(k, ptl_of(from));
  }
  return true;
}

/*
 * copy_vma(): a VMA for [addr, addr + len) like `v` at pgoff: merged into a
 * neighbour there if possible, else a new one. An anonymous VMA that never
 * faulted takes the pgoff of its new place, to merge more easily.
 */
function* copy_vma(
  k: KernelContext,
  mm: number,
  v: VmaInfo,
  addr: number,
  len: number,
  pgoff: number,
): KGen<number> {
  if (v.file === 0 && v.anon_vma === 0) pgoff = addr;
  const merged = yield* vma_merge_new_range(k, mm, {
    start: addr,
    end: addr + len,
    flags: v.flags,
    file: v.file,
    pgoff,
    anon_vma: v.anon_vma,
  });
  if (merged !== 0) return merged;
  const fresh = yield* vm_area_dup(k, v.vma);
  if (fresh === 0) return 0;
  yield k.store(fresh + V.vm_start, addr);
  yield k.store(fresh + V.vm_end, addr + len);
  yield k.store(fresh + V.vm_pgoff, pgoff);
  yield* anon_vma_clone(k, fresh, v.vma);
  if (v.file !== 0) yield* get_file(k, v.file);
  if (!(yield* vma_link(k, mm, fresh))) return 0;
  return fresh;
}

/* move_vma(): returns new_addr or -errno. */
function* move_vma(
  k: KernelContext,
  mm: number,
  v: VmaInfo,
  old_addr: number,
  old_len: number,
  new_len: number,
  new_addr: number,
  flags: number,
): KGen<number> {
  if ((yield k.load(mm + MM_STRUCT.map_count)) >= MAX_MAP_COUNT - 3) return -ENOMEM;
  yield* vma_start_write(k, v.vma);
  const new_pgoff = v.pgoff + (old_addr - v.start);
  const new_vma = yield* copy_vma(k, mm, v, new_addr, new_len, new_pgoff);
  if (new_vma === 0) return -ENOMEM;
  if (!(yield* move_page_tables(k, mm, old_addr, new_addr, Math.min(old_len, new_len))))
    return -ENOMEM;
  if (flags & MREMAP_DONTUNMAP) {
    // The old VMA stays, empty; its reservation went with the pages.
    if (v.flags & VM_ACCOUNT) yield k.WRITE_ONCE(v.vma + V.vm_flags, v.flags & ~VM_ACCOUNT);
    return new_addr;
  }
  // Conceal VM_ACCOUNT so that the unmap does not undo the reservation, then
  // restore it on what is left of the old VMA on either side.
  if (v.flags & VM_ACCOUNT) yield k.WRITE_ONCE(v.vma + V.vm_flags, v.flags & ~VM_ACCOUNT);
  const err = yield* do_munmap_range(k, mm, old_addr, old_addr + old_len);
  if (err < 0) return err;
  if (v.flags & VM_ACCOUNT) {
    for (const side of [
      v.start < old_addr ? v.start : -1,
      v.end > old_addr + old_len ? old_addr + old_len : -1,
    ]) {
      if (side < 0) continue;
      const rest = yield* vma_lookup(k, mm, side);
      if (rest !== 0)
        yield k.WRITE_ONCE(rest + V.vm_flags, (yield k.load(rest + V.vm_flags)) | VM_ACCOUNT);
    }
  }
  return new_addr;
}

/* mremap_to(): MREMAP_FIXED or MREMAP_DONTUNMAP. */
function* mremap_to(
  k: KernelContext,
  mm: number,
  addr: number,
  old_len: number,
  new_addr: number,
  new_len: number,
  flags: number,
): KGen<number> {
  // new_addr -1: the caller's target was not page-aligned.
  if (new_addr < 0) return -EINVAL;
  if (new_len > (yield k.load(mm + MM_STRUCT.task_size)) - new_addr) return -EINVAL;
  if (flags & MREMAP_FIXED && addr + old_len > new_addr && new_addr + new_len > addr)
    return -EINVAL;
  if (flags & MREMAP_FIXED) {
    const err = yield* do_munmap_range(k, mm, new_addr, new_addr + new_len);
    if (err < 0) return err;
  }
  if (old_len > new_len) {
    const err = yield* do_munmap_range(k, mm, addr + new_len, addr + old_len);
    if (err < 0) return err;
    old_len = new_len;
  }
  const v = yield* vma_to_resize(k, mm, addr, old_len, new_len, flags);
  if (typeof v === 'number') return v;
  let map_flags = flags & MREMAP_FIXED ? MAP_FIXED : 0;
  if (v.flags & VM_MAYSHARE) map_flags |= MAP_SHARED;
  const placed = yield* get_unmapped_area(k, mm, v.file, new_addr, new_len, map_flags);
  if (placed < 0) return placed;
  return yield* move_vma(
    k,
    mm,
    v,
    addr,
    old_len,
    new_len,
    flags & MREMAP_FIXED ? new_addr : placed,
    flags,
  );
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
  yield* mmap_write_lock(k, mm);
  const ret = yield* mremap_locked(k, mm, addr, old_len, new_len, flags, new_addr);
  yield* mmap_write_unlock(k, mm);
  return ret;
}

function* mremap_locked(
  k: KernelContext,
  mm: number,
  addr: number,
  old_len: number,
  new_len: number,
  flags: number,
  new_addr: number,
): KGen<number> {
  if ((yield* vma_lookup(k, mm, addr)) === 0) return -EFAULT;
  if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))
    return yield* mremap_to(k, mm, addr, old_len, new_addr, new_len, flags);
  // Shrinking always works: it unmaps the tail.
  if (old_len >= new_len) {
    if (old_len === new_len) return addr;
    const err = yield* do_munmap_range(k, mm, addr + new_len, addr + old_len);
    return err < 0 ? err : addr;
  }
  const v = yield* vma_to_resize(k, mm, addr, old_len, new_len, flags);
  if (typeof v === 'number') return v;
  if (old_len === v.end - addr && (yield* vma_expandable(k, mm, v, new_len - old_len))) {
    // vma_merge_extend(): the extension merges into the VMA (and maybe its next).
    const merged = yield* vma_merge_new_range(k, mm, {
      start: v.end,
      end: v.end + (new_len - old_len),
      flags: v.flags,
      file: v.file,
      pgoff: v.pgoff + (v.end - v.start),
      anon_vma: v.anon_vma,
    });
    if (merged === 0) return -ENOMEM;
    yield k.store(
      mm + MM_STRUCT.total_vm,
      (yield k.load(mm + MM_STRUCT.total_vm)) + (new_len - old_len),
    );
    return addr;
  }
  if (!(flags & MREMAP_MAYMOVE)) return -ENOMEM;
  const placed = yield* get_unmapped_area(
    k,
    mm,
    v.file,
    0,
    new_len,
    v.flags & VM_MAYSHARE ? MAP_SHARED : 0,
  );
  if (placed < 0) return placed;
  return yield* move_vma(k, mm, v, addr, old_len, new_len, placed, flags);
}
