/*
 * mmap, munmap, brk, populate and the death of an address space
 * (mm/mmap.c, mm/vma.c, arch/x86/kernel/sys_x86_64.c). Lengths are in
 * pages; the system-call layer turns byte arguments into these.
 */
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import { lock_class } from '../locking/lockdep.js';
import { RANGE_LOCK_TREE } from '../locking/range_lock.js';
import { RW_SEMAPHORE } from '../locking/rwsem.js';
import { SPINLOCK } from '../locking/spinlock.js';
import { refcount_dec_and_test, refcount_inc, refcount_set } from '../refcount.js';
import { kmem_cache_free, kmem_cache_zalloc } from '../slab.js';
import { file_alloc, get_file } from './filemap.js';
import { mt_destroy, mt_entries, mt_find, mt_store_range } from './maple_tree.js';
import { FAULT_FLAG_WRITE, handle_mm_fault, VM_FAULT_ERROR, zap_page_range } from './memory.js';
import {
  FILE,
  FILE_SECRETMEM,
  FILE_SHMEM,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_POPULATE,
  MAP_SHARED,
  MM_STRUCT,
  PMD_PAGES,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  PTRS_PER_PTE,
  STACK_GUARD_GAP,
  VM_AREA_STRUCT as V,
  VM_ACCESS_FLAGS,
  VM_ACCOUNT,
  VM_DONTDUMP,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_IO,
  VM_LOCKED,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_NORESERVE,
  VM_OPS_FILE,
  VM_OPS_NONE,
  VM_OPS_SECRETMEM,
  VM_OPS_SHMEM,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from './mm_types.js';
import {
  mmap_lock_range,
  mmap_read_lock,
  mmap_read_unlock,
  mmap_write_lock,
  mmap_write_unlock,
  mmdrop,
  vma_mark_detached,
} from './mmap_lock.js';
import { free_pgd_range, pgd_alloc } from './pgtable.js';
import {
  __split_vma,
  EINVAL,
  ENOMEM,
  find_vma_intersection,
  MAX_MAP_COUNT,
  remove_vma,
  vm_area_alloc,
  vma_extent,
  vma_info,
  vma_is_secretmem,
  vma_link,
  vma_merge_new_range,
  vma_start_write_range,
} from './vma.js';

export const EPERM = 1;
export const EEXIST = 17;
export const EACCES = 13;
export const EFAULT = 14;

/** mmap_min_addr: the lowest page a mapping may start at. */
const MMAP_MIN_PAGE = 1;
/** RLIMIT_STACK: 8 MiB. */
export const RLIMIT_STACK_PAGES = 2048;

const MMAP_LOCK_CLASS = lock_class('mm->mmap_lock');
const PTL_CLASS = lock_class('mm->page_table_lock');
const RANGE_CLASS = lock_class('mm->mmap_range.lock');
const MT_LOCK_CLASS = lock_class('mm->mt_lock');

/**
 * mm_alloc(): an empty address space of `task_size` pages whose mmap area
 * tops out at `mmap_base`, with page tables for the 2 GiB from `pgd_base`.
 */
export function* mm_alloc(
  k: KernelContext,
  mmap_base: number,
  task_size: number,
  pgd_base: number,
): KGen<number> {
  // A directory entry covers one PTE table's pages: pgd_slot() and pte_slot() agree only on a boundary.
  k.BUG_ON(pgd_base % PTRS_PER_PTE !== 0, `mm_alloc: pgd_base ${pgd_base} not table-aligned`);
  const mm = yield kmem_cache_zalloc(k, k.sys.mm.mm_cachep, 'mm_alloc');
  if (mm === 0) return 0;
  const pgd = yield* pgd_alloc(k);
  if (pgd === 0) {
    yield kmem_cache_free(k, k.sys.mm.mm_cachep, mm, 'mm_alloc');
    return 0;
  }
  yield k.store(mm + MM_STRUCT.pgd, pgd);
  yield k.store(mm + MM_STRUCT.mmap_lock + RW_SEMAPHORE.dep_map, MMAP_LOCK_CLASS);
  yield k.store(mm + MM_STRUCT.page_table_lock + SPINLOCK.dep_map, PTL_CLASS);
  yield k.store(mm + MM_STRUCT.mmap_range + RANGE_LOCK_TREE.lock + SPINLOCK.dep_map, RANGE_CLASS);
  yield k.store(mm + MM_STRUCT.mt_lock + SPINLOCK.dep_map, MT_LOCK_CLASS);
  yield refcount_set(k, mm + MM_STRUCT.mm_users, 1);
  yield refcount_set(k, mm + MM_STRUCT.mm_count, 1);
  yield k.store(mm + MM_STRUCT.mmap_base, mmap_base);
  yield k.store(mm + MM_STRUCT.task_size, task_size);
  yield k.store(mm + MM_STRUCT.pgd_base, pgd_base);
  return mm;
}

/* ---- placement ---- */

/** vm_start_gap(): a VM_GROWSDOWN VMA keeps stack_guard_gap free below it. */
function start_gap(start: number, flags: number): number {
  return flags & VM_GROWSDOWN ? Math.max(0, start - STACK_GUARD_GAP) : start;
}

/*
 * unmapped_area_topdown(): the highest [addr, addr + len) in a gap below
 * high. As the kernel does, when the VMA above the chosen gap is
 * VM_GROWSDOWN and its guard gap reaches into the gap, the search starts
 * again below the guard gap; so no gap inside a stack's guard region is
 * ever used, even one between two other VMAs.
 */
function* unmapped_area_topdown(
  k: KernelContext,
  mm: number,
  len: number,
  low: number,
  high: number,
): KGen<number> {
  const vmas = yield* call(mt_entries(k, mm));
  for (;;) {
    // mas_empty_area_rev(): the highest gap of at least len pages within [low, high).
    let found = -1;
    for (let i = vmas.length; i >= 0 && found < 0; i--) {
      const top = Math.min(high, i < vmas.length ? vmas[i]!.start : high);
      const bottom = Math.max(low, i > 0 ? vmas[i - 1]!.end : low);
      if (top - bottom >= len) found = i;
    }
    if (found < 0) return -ENOMEM;
    const above = vmas[found];
    const gap_end = Math.min(high, above !== undefined ? above.start : high);
    if (above !== undefined) {
      const guard = start_gap(above.start, yield k.load(above.vma + V.vm_flags));
      if (guard < gap_end) {
        high = guard;
        continue;
      }
    }
    return gap_end - len;
  }
}

/**
 * arch_get_unmapped_area_topdown(): a hint is rounded down to a page and
 * taken if it fits below the next VMA's start gap; otherwise the highest
 * gap under mmap_base.
 */
function* arch_get_unmapped_area_topdown(
  k: KernelContext,
  mm: number,
  addr: number,
  len: number,
  flags: number,
): KGen<number> {
  const task_size = yield k.load(mm + MM_STRUCT.task_size);
  if (len > task_size) return -ENOMEM;
  if (flags & MAP_FIXED) return addr;
  if (addr !== 0 && addr >= MMAP_MIN_PAGE && addr + len <= task_size) {
    const next = yield* call(mt_find(k, mm, addr));
    if (next === null || addr + len <= start_gap(next.start, yield k.load(next.vma + V.vm_flags)))
      return addr;
  }
  return yield* call(
    unmapped_area_topdown(k, mm, len, MMAP_MIN_PAGE, yield k.load(mm + MM_STRUCT.mmap_base)),
  );
}

/*
 * __thp_get_unmapped_area(): search for len + 2 MiB, then place the
 * mapping so that its file offset and address agree modulo 2 MiB. 0 when
 * the range cannot hold an aligned 2 MiB, or nothing fits.
 */
function* thp_get_unmapped_area(
  k: KernelContext,
  mm: number,
  addr: number,
  len: number,
  pgoff: number,
  flags: number,
): KGen<number> {
  const off_end = Math.floor((pgoff + len) / PMD_PAGES) * PMD_PAGES;
  const off_align = Math.ceil(pgoff / PMD_PAGES) * PMD_PAGES;
  if (off_end <= off_align || off_end - off_align < PMD_PAGES) return 0;
  const ret = yield* call(arch_get_unmapped_area_topdown(k, mm, addr, len + PMD_PAGES, flags));
  if (ret < 0) return 0;
  if (ret === addr) return addr;
  const off_sub = (((pgoff - ret) % PMD_PAGES) + PMD_PAGES) % PMD_PAGES;
  return off_sub === 0 ? ret + PMD_PAGES : ret + off_sub;
}

/**
 * __get_unmapped_area(): where a mapping of `len` pages goes. Anonymous
 * private mappings of whole 2 MiB units without a hint are THP-aligned.
 * Files are tmpfs files (shmem_get_unmapped_area() with huge pages off),
 * placed like any other mapping.
 */
export function* get_unmapped_area(
  k: KernelContext,
  mm: number,
  file: number,
  addr: number,
  len: number,
  flags: number,
): KGen<number> {
  let ret = 0;
  if (
    file === 0 &&
    !(flags & MAP_SHARED) &&
    addr === 0 &&
    len % PMD_PAGES === 0 &&
    !(flags & MAP_FIXED)
  ) {
    ret = yield* call(thp_get_unmapped_area(k, mm, addr, len, 0, flags));
  }
  if (ret === 0) ret = yield* call(arch_get_unmapped_area_topdown(k, mm, addr, len, flags));
  if (ret < 0) return ret;
  if (ret > (yield k.load(mm + MM_STRUCT.task_size)) - len) return -ENOMEM;
  return ret;
}

/* ---- munmap ---- */

/**
 * vms_gather_munmap_vmas(): split the VMAs at the edges of [start, end)
 * and write-lock every VMA inside; they stay in the index (the caller's
 * next store replaces them). Returns them, or -ENOMEM. mmap write lock held.
 */
function* vms_gather_munmap_vmas(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
): KGen<number[] | number> {
  const victims: number[] = [];
  const first = yield* call(find_vma_intersection(k, mm, start, end));
  if (first === 0) return victims;
  const f = yield* vma_info(k, first);
  if (start > f.start) {
    // map_count may pass its limit only by the split that munmap undoes. READ_ONCE:
    // disjoint writers of the range policy change it at the same time (as split_vma).
    if (end < f.end && (yield k.READ_ONCE(mm + MM_STRUCT.map_count)) >= MAX_MAP_COUNT)
      return -ENOMEM;
    if ((yield* call(__split_vma(k, first, start, true))) === 0) return -ENOMEM;
  }
  for (
    let e = yield* call(mt_find(k, mm, start));
    e !== null && e.start < end;
    e = yield* call(mt_find(k, mm, e.end))
  ) {
    if (e.end > end && (yield* call(__split_vma(k, e.vma, end, false))) === 0) return -ENOMEM;
    victims.push(e.vma);
  }
  yield* call(vma_start_write_range(k, victims));
  return victims;
}

/* vms_clear_ptes(): zap the pages of the gathered VMAs. */
function* vms_clear_ptes(k: KernelContext, victims: readonly number[]): KGen {
  for (const vma of victims) {
    yield* call(
      zap_page_range(k, vma, yield k.load(vma + V.vm_start), yield k.load(vma + V.vm_end)),
    );
  }
}

/**
 * vms_complete_munmap_vmas(): the gathered VMAs, out of the index now,
 * are detached, uncounted, zapped (unless `ptes_cleared`) and freed.
 * Linux marks them detached as it gathers them, while they are still in
 * the index; here they are marked once replaced there, as before the
 * gather and the store were split, so that munmap takes the steps the
 * DFS bounds of docs/explorer.md were proved on. A lockless reader cannot
 * tell: it meets a gathered VMA write-locked (vm_lock_seq is checked
 * first), detached or not, and falls back to the mmap lock.
 */
function* vms_complete_munmap_vmas(
  k: KernelContext,
  mm: number,
  victims: readonly number[],
  ptes_cleared: boolean,
): KGen {
  for (const vma of victims) {
    const v = yield* vma_info(k, vma);
    yield* call(vma_mark_detached(k, vma));
    yield k.fetch_add(mm + MM_STRUCT.map_count, -1);
    yield k.fetch_add(mm + MM_STRUCT.total_vm, -(v.end - v.start));
    if (!ptes_cleared) yield* call(zap_page_range(k, vma, v.start, v.end));
    yield* call(remove_vma(k, vma));
  }
}

/* Clear [start, end) in the index: the gathered VMAs leave it at once, a gap in their place. */
function* vma_iter_clear(k: KernelContext, mm: number, start: number, end: number): KGen {
  if (!(yield* call(mt_store_range(k, mm, start, end, 0))))
    throw new KernelBug('BUG', 'munmap: VMA index full');
}

/**
 * do_vmi_align_munmap(): unmap [start, end): gather the VMAs inside
 * (split at the edges, write-locked), take the range out of the index,
 * then zap and free them. mmap write lock held. Returns 0 or -ENOMEM.
 */
export function* do_munmap_range(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
): KGen<number> {
  const victims = yield* call(vms_gather_munmap_vmas(k, mm, start, end));
  if (typeof victims === 'number') return victims;
  if (victims.length === 0) return 0;
  yield* call(vma_iter_clear(k, mm, start, end));
  yield* call(vms_complete_munmap_vmas(k, mm, victims, false));
  return 0;
}

/** munmap(): `start` page-aligned (the caller checks), `pages` > 0. */
export function* do_munmap(
  k: KernelContext,
  mm: number,
  start: number,
  pages: number,
): KGen<number> {
  const end = start + pages;
  yield* call(mmap_lock_range(k, mm, start, end, true, () => vma_extent(k, mm, start, end, false)));
  const ret = yield* call(do_munmap_range(k, mm, start, end));
  yield* call(mmap_write_unlock(k, mm));
  return ret;
}

/* ---- mmap ---- */

export interface MmapArgs {
  /** Page hint or fixed address (0: none). */
  readonly addr: number;
  readonly len: number;
  readonly prot: number;
  readonly flags: number;
  /** struct file, or 0 for anonymous memory. */
  readonly file: number;
  readonly pgoff: number;
}

/* calc_vm_prot_bits() */
export function calc_vm_prot_bits(prot: number): number {
  return (
    (prot & PROT_READ ? VM_READ : 0) |
    (prot & PROT_WRITE ? VM_WRITE : 0) |
    (prot & PROT_EXEC ? VM_EXEC : 0)
  );
}

/* accountable_mapping(): private writable memory is charged (VM_ACCOUNT). */
function accountable_mapping(vm_flags: number): boolean {
  return (vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) === VM_WRITE;
}

/**
 * do_mmap(): returns the first page of the mapping, or -errno. Takes and
 * drops the mmap write lock; populates afterwards under the read lock.
 */
export function* do_mmap(k: KernelContext, mm: number, a: MmapArgs): KGen<number> {
  if (a.len === 0) return -EINVAL;
  yield* call(mmap_write_lock(k, mm));
  const ret = yield* call(do_mmap_locked(k, mm, a));
  yield* call(mmap_write_unlock(k, mm));
  if (ret >= 0 && a.flags & MAP_POPULATE) yield* call(mm_populate(k, mm, ret, ret + a.len));
  return ret;
}

function* do_mmap_locked(k: KernelContext, mm: number, a: MmapArgs): KGen<number> {
  let flags = a.flags;
  if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
  if ((yield k.load(mm + MM_STRUCT.map_count)) > MAX_MAP_COUNT) return -ENOMEM;
  const addr = yield* call(get_unmapped_area(k, mm, a.file, a.addr, a.len, flags));
  if (addr < 0) return addr;
  if (
    flags & MAP_FIXED_NOREPLACE &&
    (yield* call(find_vma_intersection(k, mm, addr, addr + a.len))) !== 0
  )
    return -EEXIST;
  let vm_flags =
    calc_vm_prot_bits(a.prot) |
    (flags & MAP_GROWSDOWN ? VM_GROWSDOWN : 0) |
    VM_MAYREAD |
    VM_MAYWRITE |
    VM_MAYEXEC;
  // The file's f_op: memfd_secret(2)'s files live on a MNT_NOEXEC mount (path_noexec()).
  const secretmem = a.file !== 0 && (yield k.load(a.file + FILE.kind)) === FILE_SECRETMEM;
  if (secretmem) {
    if (vm_flags & VM_EXEC) return -EPERM;
    vm_flags &= ~VM_MAYEXEC;
  }
  // Only private anonymous memory may grow down (a stack).
  if (vm_flags & VM_GROWSDOWN && (a.file !== 0 || flags & MAP_SHARED)) return -EINVAL;
  let pgoff = a.pgoff;
  if (a.file !== 0) {
    if (flags & MAP_SHARED) vm_flags |= VM_SHARED | VM_MAYSHARE;
  } else if (flags & MAP_SHARED) {
    pgoff = 0;
    vm_flags |= VM_SHARED | VM_MAYSHARE;
  } else {
    pgoff = addr;
  }
  return yield* call(
    mmap_region(k, mm, { file: a.file, addr, len: a.len, vm_flags, pgoff, secretmem }),
  );
}

/** What mmap_region() maps: do_mmap()'s arguments, checked and turned into VMA terms. */
interface NewMapping {
  /** struct file, or 0 for anonymous memory. */
  readonly file: number;
  /** First page and length in pages. */
  readonly addr: number;
  readonly len: number;
  readonly vm_flags: number;
  readonly pgoff: number;
  /** A memfd_secret(2) file: secretmem_mmap_prepare() has its say. */
  readonly secretmem: boolean;
}

/**
 * Re-introduced behaviour fixed by f8d112a4e657 ("mm/mmap: avoid zeroing
 * vma tree in mmap_region()", 6.12; Liam R. Howlett's series "Avoid
 * MAP_FIXED gap exposure"): a MAP_FIXED mmap unmaps what it replaces, a
 * store of nothing, before it maps, so a walker of the index under RCU
 * sees a gap that never logically exists. Nothing reported such a gap
 * until lockless readers did: /proc/PID/maps under per-VMA locks needs
 * the fix.
 */
export const VARIANT_MAP_FIXED_GAP = 'f8d112a4e657-map-fixed-gap';

/**
 * mmap_region() (__mmap_region() in mm/vma.c): gather what a fixed
 * mapping replaces (split at the edges, write-locked, still in the index)
 * and zap its pages, let the file's ->mmap_prepare have its say (only
 * secretmem has one), then merge with a neighbour or link a new VMA: one
 * store replaces the old VMAs in the index, so a lockless reader finds
 * either them, write-locked, or the new mapping, never a gap. Only then
 * are the old VMAs detached and freed. Shared anonymous memory gets its
 * shmem file.
 */
function* mmap_region(k: KernelContext, mm: number, map: NewMapping): KGen<number> {
  const end = map.addr + map.len;
  const victims =
    k.variant === VARIANT_MAP_FIXED_GAP
      ? yield* call(do_munmap_range(k, mm, map.addr, end))
      : yield* call(vms_gather_munmap_vmas(k, mm, map.addr, end));
  if (typeof victims === 'number') {
    if (victims < 0) return victims;
    return yield* call(mmap_new_range(k, mm, map));
  }
  // vms_clean_up_area(): the PTEs go while the old VMAs are still in the index.
  yield* call(vms_clear_ptes(k, victims));
  const ret = yield* call(mmap_new_range(k, mm, map));
  // vms_abort_munmap_vmas(): with their PTEs gone the old VMAs are not put back; the gap stays.
  if (ret < 0 && victims.length > 0) yield* call(vma_iter_clear(k, mm, map.addr, end));
  yield* call(vms_complete_munmap_vmas(k, mm, victims, true));
  return ret;
}

/**
 * The new mapping of mmap_region(), over whatever is still indexed there:
 * merged into a neighbour or a new VMA. Returns its first page or -errno,
 * the index unchanged on failure.
 */
function* mmap_new_range(k: KernelContext, mm: number, map: NewMapping): KGen<number> {
  const { file, addr, len, pgoff, secretmem } = map;
  let vm_flags = map.vm_flags;
  const end = addr + len;
  let file_ops = file !== 0 ? VM_OPS_FILE : VM_OPS_NONE;
  if (secretmem) {
    /*
     * secretmem_mmap_prepare() (RLIMIT_MEMLOCK not modelled). Its refusal
     * leaves what a MAP_FIXED replaced unmapped (mmap_region()).
     */
    if (!(vm_flags & (VM_SHARED | VM_MAYSHARE))) return -EINVAL;
    vm_flags |= VM_LOCKED | VM_DONTDUMP;
    file_ops = VM_OPS_SECRETMEM;
  }
  if (accountable_mapping(vm_flags)) vm_flags |= VM_ACCOUNT;
  let vma = yield* call(
    vma_merge_new_range(k, mm, {
      start: addr,
      end,
      flags: vm_flags,
      file,
      pgoff,
      anon_vma: 0,
    }),
  );
  if (vma === 0) {
    vma = yield* vm_area_alloc(k, mm);
    if (vma === 0) return -ENOMEM;
    let f = file;
    let ops = file_ops;
    if (file !== 0) {
      yield* call(get_file(k, file));
    } else if (vm_flags & VM_SHARED) {
      // shmem_zero_setup(): shared anonymous memory is a shmem file of the mapping's size.
      f = yield* file_alloc(k, 0, len, FILE_SHMEM);
      if (f === 0) {
        yield* call(remove_vma(k, vma));
        return -ENOMEM;
      }
      ops = VM_OPS_SHMEM;
    }
    yield k.store(vma + V.vm_start, addr);
    yield k.store(vma + V.vm_end, end);
    yield k.store(vma + V.vm_flags, vm_flags);
    yield k.store(vma + V.vm_pgoff, pgoff);
    yield k.store(vma + V.vm_file, f);
    yield k.store(vma + V.vm_ops, ops);
    if (!(yield* call(vma_link(k, mm, vma)))) {
      yield* call(remove_vma(k, vma));
      return -ENOMEM;
    }
  }
  yield k.fetch_add(mm + MM_STRUCT.total_vm, len);
  return addr;
}

/**
 * __mm_populate(): fault in [start, end) under the mmap read lock, as
 * MAP_POPULATE does: write faults for private writable VMAs (to break
 * COW now), read faults otherwise; errors end that VMA's pass silently.
 */
export function* mm_populate(k: KernelContext, mm: number, start: number, end: number): KGen {
  yield* call(mmap_read_lock(k, mm));
  for (
    let e = yield* call(mt_find(k, mm, start));
    e !== null && e.start < end;
    e = yield* call(mt_find(k, mm, e.end))
  ) {
    const vm_flags = yield k.load(e.vma + V.vm_flags);
    if (vm_flags & (VM_IO | VM_PFNMAP) || !(vm_flags & VM_ACCESS_FLAGS)) continue;
    // GUP's check_vma_flags() refuses secretmem: its pages are never populated.
    if (yield* vma_is_secretmem(k, e.vma, vm_flags)) continue;
    const write = (vm_flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    for (let p = Math.max(start, e.start); p < Math.min(end, e.end); p++) {
      if (
        (yield* call(handle_mm_fault(k, e.vma, p, write ? FAULT_FLAG_WRITE : 0))) & VM_FAULT_ERROR
      )
        break;
    }
  }
  yield* call(mmap_read_unlock(k, mm));
}

/* ---- brk ---- */

/**
 * The program break (mm->brk): a byte address that need not be
 * page-aligned, as a page and the offset in it. The heap's VMAs end at
 * PAGE_ALIGN(mm->brk).
 */
export interface ProgramBreak {
  readonly page: number;
  readonly offset: number;
}

/* PAGE_ALIGN(brk), as a page. */
const brk_end = (b: ProgramBreak) => b.page + (b.offset === 0 ? 0 : 1);

/*
 * do_brk_flags(): map [addr, addr + len) for the heap. Only the VMA that
 * ends at addr above start_brk (vma_prev_limit(), brk()'s brkvma) may be
 * expanded instead: with `expand` false the heap is empty and the pages
 * get a VMA of their own, whatever lies below start_brk.
 */
function* do_brk_flags(
  k: KernelContext,
  mm: number,
  addr: number,
  len: number,
  expand: boolean,
): KGen<number> {
  const flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT;
  const merged = expand
    ? yield* call(
        vma_merge_new_range(k, mm, {
          start: addr,
          end: addr + len,
          flags,
          file: 0,
          pgoff: addr,
          anon_vma: 0,
        }),
      )
    : 0;
  if (merged === 0) {
    const vma = yield* vm_area_alloc(k, mm);
    if (vma === 0) return -ENOMEM;
    yield k.store(vma + V.vm_start, addr);
    yield k.store(vma + V.vm_end, addr + len);
    yield k.store(vma + V.vm_flags, flags);
    yield k.store(vma + V.vm_pgoff, addr);
    if (!(yield* call(vma_link(k, mm, vma)))) {
      yield* call(remove_vma(k, vma));
      return -ENOMEM;
    }
  }
  yield k.fetch_add(mm + MM_STRUCT.total_vm, len);
  return 0;
}

/*
 * Shrink the heap from page oldbrk down to newbrk: refused when no VMA is
 * left there (the heap was unmapped); otherwise everything in the range
 * goes, brk's VMAs or not.
 */
function* brk_shrink(k: KernelContext, mm: number, newbrk: number, oldbrk: number): KGen<boolean> {
  if ((yield* call(find_vma_intersection(k, mm, newbrk, oldbrk))) === 0) return false;
  return (yield* call(do_munmap_range(k, mm, newbrk, oldbrk))) === 0;
}

/*
 * Grow the heap from page oldbrk up to newbrk: it must keep a page, and a
 * stack's guard gap, clear of the next mapping.
 */
function* brk_grow(
  k: KernelContext,
  mm: number,
  start_brk: number,
  oldbrk: number,
  newbrk: number,
): KGen<boolean> {
  const next = yield* call(mt_find(k, mm, oldbrk));
  if (next !== null && newbrk + 1 > start_gap(next.start, yield k.load(next.vma + V.vm_flags)))
    return false;
  return (yield* call(do_brk_flags(k, mm, oldbrk, newbrk - oldbrk, oldbrk > start_brk))) === 0;
}

/** Where a brk() to `brk` starts: start_brk, the break now, and both as page ends (PAGE_ALIGN). */
interface BrkMove {
  readonly start_brk: number;
  readonly orig: ProgramBreak;
  readonly newbrk: number;
  readonly oldbrk: number;
}

/* brk()'s reads of the break, under the mmap write lock (or with nothing else running). */
function* brk_move(k: KernelContext, mm: number, brk: ProgramBreak): KGen<BrkMove> {
  const start_brk = yield k.load(mm + MM_STRUCT.brk_start);
  const orig: ProgramBreak = {
    page: yield k.load(mm + MM_STRUCT.brk),
    offset: yield k.load(mm + MM_STRUCT.brk_offset),
  };
  return { start_brk, orig, newbrk: brk_end(brk), oldbrk: brk_end(orig) };
}

/**
 * The pages [first, end) a brk() to `brk` would unmap now, shrinking the
 * heap (brk_shrink()), or null: for a caller that runs alone, as a serial
 * order's steps do (the mmap lock is not taken).
 */
export function* brk_shrink_pages(
  k: KernelContext,
  mm: number,
  brk: ProgramBreak,
): KGen<[number, number] | null> {
  const { start_brk, newbrk, oldbrk } = yield* call(brk_move(k, mm, brk));
  return brk.page >= start_brk && newbrk < oldbrk ? [newbrk, oldbrk] : null;
}

/**
 * brk() (SYSCALL_DEFINE1(brk), mm/mmap.c): move the program break to
 * `brk`; returns the break, unchanged where it could not move: below
 * start_brk, blocked by a mapping above, or nothing left to shrink. A move
 * within the break's last page changes no mapping.
 */
export function* do_brk(k: KernelContext, mm: number, brk: ProgramBreak): KGen<ProgramBreak> {
  yield* call(mmap_write_lock(k, mm));
  const { start_brk, orig, newbrk, oldbrk } = yield* call(brk_move(k, mm, brk));
  const moved =
    brk.page >= start_brk &&
    (newbrk === oldbrk ||
      (newbrk < oldbrk
        ? yield* call(brk_shrink(k, mm, newbrk, oldbrk))
        : yield* call(brk_grow(k, mm, start_brk, oldbrk, newbrk))));
  if (moved) {
    yield k.store(mm + MM_STRUCT.brk, brk.page);
    yield k.store(mm + MM_STRUCT.brk_offset, brk.offset);
  }
  yield* call(mmap_write_unlock(k, mm));
  return moved ? brk : orig;
}

/* ---- exit ---- */

/** exit_mmap(): unmap and free everything, then the page tables. */
export function* exit_mmap(k: KernelContext, mm: number): KGen {
  yield* call(mmap_write_lock(k, mm));
  const all = yield* call(mt_entries(k, mm));
  yield* call(
    vma_start_write_range(
      k,
      all.map((e) => e.vma),
    ),
  );
  for (const e of all) {
    yield* call(vma_mark_detached(k, e.vma));
    yield* call(zap_page_range(k, e.vma, e.start, e.end));
    yield* call(remove_vma(k, e.vma));
  }
  yield k.store(mm + MM_STRUCT.map_count, 0);
  yield* call(mt_destroy(k, mm));
  yield* call(mmap_write_unlock(k, mm));
  yield* call(free_pgd_range(k, mm));
}

/** mmget(): one more user of the address space (a thread, a GUP caller). */
export function* mmget(k: KernelContext, mm: number): KGen {
  yield* refcount_inc(k, mm + MM_STRUCT.mm_users);
}

/** mmput(): the last user tears the address space down and frees it. */
export function* mmput(k: KernelContext, mm: number): KGen {
  if (!(yield* refcount_dec_and_test(k, mm + MM_STRUCT.mm_users))) return;
  yield* call(exit_mmap(k, mm));
  yield* call(mmdrop(k, mm));
}
