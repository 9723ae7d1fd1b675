/*
 * The memory system calls as user space calls them: byte addresses and
 * lengths, checked in the kernel's order (SYSCALL_DEFINE in mm/mmap.c,
 * mm/mprotect.c, mm/mremap.c, mm/madvise.c), then handed to the page-level
 * implementations. Each returns a byte address or 0, or -errno.
 */
import { call, type KernelContext, type KGen, Unmodelled } from '../../runtime/ops.js';
import { do_madvise_dontneed } from './madvise.js';
import {
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MM_STRUCT,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
} from './mm_types.js';
import { do_brk, do_mmap, do_munmap, type ProgramBreak } from './mmap.js';
import { do_mprotect } from './mprotect.js';
import { do_mremap } from './mremap.js';
import { EINVAL, ENOMEM } from './vma.js';

export const PAGE_BYTES = 4096;

const pages_of = (len: number) => Math.ceil(len / PAGE_BYTES);
const aligned = (addr: number) => addr % PAGE_BYTES === 0;

/*
 * The checks mprotect() and madvise() make before any work: an unaligned
 * start is -EINVAL, an empty range succeeds at once. Returns the page range,
 * or the syscall's result when there is nothing to do.
 */
function page_range(addr: number, len: number): { start: number; pages: number } | number {
  if (!aligned(addr)) return -EINVAL;
  if (len === 0) return 0;
  return { start: addr / PAGE_BYTES, pages: pages_of(len) };
}

export function* sys_mmap(
  k: KernelContext,
  mm: number,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  file: number,
  off: number,
): KGen<number> {
  k.unmodelled(Unmodelled.SYSCALL_ENTRY);
  if (!aligned(off)) return -EINVAL;
  if (len === 0) return -EINVAL;
  const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  if (fixed && !aligned(addr)) return -EINVAL;
  const task_size = yield k.load(mm + MM_STRUCT.task_size);
  if (fixed && addr / PAGE_BYTES + pages_of(len) > task_size) return -ENOMEM;
  const ret = yield* call(
    do_mmap(k, mm, {
      addr: Math.floor(addr / PAGE_BYTES),
      len: pages_of(len),
      prot,
      flags,
      file,
      pgoff: off / PAGE_BYTES,
    }),
  );
  return ret < 0 ? ret : ret * PAGE_BYTES;
}

export function* sys_munmap(k: KernelContext, mm: number, addr: number, len: number): KGen<number> {
  k.unmodelled(Unmodelled.SYSCALL_ENTRY);
  const task_bytes = (yield k.load(mm + MM_STRUCT.task_size)) * PAGE_BYTES;
  if (!aligned(addr) || addr > task_bytes || len > task_bytes - addr) return -EINVAL;
  if (pages_of(len) === 0) return -EINVAL;
  return yield* call(do_munmap(k, mm, addr / PAGE_BYTES, pages_of(len)));
}

export function* sys_mprotect(
  k: KernelContext,
  mm: number,
  addr: number,
  len: number,
  prot: number,
): KGen<number> {
  k.unmodelled(Unmodelled.SYSCALL_ENTRY);
  const r = page_range(addr, len);
  if (typeof r === 'number') return r;
  return yield* call(do_mprotect(k, mm, r.start, r.pages, prot));
}

export function* sys_madvise_dontneed(
  k: KernelContext,
  mm: number,
  addr: number,
  len: number,
): KGen<number> {
  k.unmodelled(Unmodelled.SYSCALL_ENTRY);
  const r = page_range(addr, len);
  if (typeof r === 'number') return r;
  return yield* call(do_madvise_dontneed(k, mm, r.start, r.pages));
}

export function* sys_mremap(
  k: KernelContext,
  mm: number,
  addr: number,
  old_len: number,
  new_len: number,
  flags: number,
  new_addr: number,
): KGen<number> {
  k.unmodelled(Unmodelled.SYSCALL_ENTRY);
  if (flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) return -EINVAL;
  if (flags & MREMAP_FIXED && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  if (flags & MREMAP_DONTUNMAP && (!(flags & MREMAP_MAYMOVE) || old_len !== new_len))
    return -EINVAL;
  if (!aligned(addr)) return -EINVAL;
  if (pages_of(new_len) === 0) return -EINVAL;
  // An unaligned target is refused inside, after the VMA lookup, as the kernel does.
  const target = flags & MREMAP_FIXED ? (aligned(new_addr) ? new_addr / PAGE_BYTES : -1) : 0;
  const ret = yield* call(
    do_mremap(k, mm, addr / PAGE_BYTES, pages_of(old_len), pages_of(new_len), flags, target),
  );
  return ret < 0 ? ret : ret * PAGE_BYTES;
}

/** The break at byte address `brk`, as brk() takes it. */
export function program_break(brk: number): ProgramBreak {
  return { page: Math.floor(brk / PAGE_BYTES), offset: brk % PAGE_BYTES };
}

/** brk(): the new break (any byte address), or the old one if it could not move. */
export function* sys_brk(k: KernelContext, mm: number, brk: number): KGen<number> {
  k.unmodelled(Unmodelled.SYSCALL_ENTRY);
  const b = yield* call(do_brk(k, mm, program_break(brk)));
  return b.page * PAGE_BYTES + b.offset;
}
