/*
 * The address space's structures (include/linux/mm_types.h, mm.h). Each
 * field says what protects it, as mm_types.h does. User addresses are page
 * numbers (they fit a word); byte offsets appear only in user accesses.
 */
import { cacheline_aligned, defineStruct } from '../../runtime/layout.js';
import { RANGE_LOCK_TREE } from '../locking/range_lock.js';
import { RW_SEMAPHORE } from '../locking/rwsem.js';
import { SEQCOUNT } from '../locking/seqlock.js';
import { SPINLOCK } from '../locking/spinlock.js';
import { RCU_HEAD } from '../rcu/tree.js';
import { RCUWAIT } from '../rcuwait.js';
import { REFCOUNT } from '../refcount.js';

/* vm_flags (include/linux/mm.h) */
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_GROWSDOWN = 0x100;
export const VM_PFNMAP = 0x400;
export const VM_LOCKED = 0x2000;
export const VM_IO = 0x4000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
export const VM_ACCOUNT = 0x100000;
export const VM_NORESERVE = 0x200000;
/*
 * Set by secretmem's mmap alone, and never cleared (no MADV_DODUMP is
 * modelled): vma_is_secretmem() relies on it to skip the vm_ops load.
 */
export const VM_DONTDUMP = 0x4000000;
const VM_MIXEDMAP = 0x10000000;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;
/** VMAs that never merge and are never expanded (VM_SPECIAL). */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;

/* mmap prot and flags (uapi/asm-generic/mman*.h) */
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_GROWSDOWN = 0x0100;
export const MAP_POPULATE = 0x8000;
export const MAP_FIXED_NOREPLACE = 0x100000;
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

/** 2 MiB, in pages: the PMD size THP aligns to. */
export const PMD_PAGES = 512;
/** stack_guard_gap: 256 pages below a VM_GROWSDOWN VMA. */
export const STACK_GUARD_GAP = 256;

/** The VMA index node: a sorted array of up to MT_SLOTS ranges (leaf) or children (branch). */
export const MT_SLOTS = 340;
/*
 * The bit of an encoded node pointer (mm->mm_mt, a branch's slots) that
 * says the node is a branch, as maple_enode carries the node type: a
 * reader knows the type without a load. Memory is under 2^30 words.
 */
export const MT_NODE_BRANCH = 1 << 30;

/*
 * struct vm_area_struct. Allocated from a SLAB_TYPESAFE_BY_RCU cache: a
 * VMA found under RCU may be freed and reused at once, so a lockless reader
 * may trust only vm_mm, vm_lock_seq and vm_refcnt until it holds the VMA
 * lock, and must re-check vm_start/vm_end after.
 *
 * Two cache lines, as in the kernel: the first holds what a fault reads
 * (the range, flags, detached, vm_lock_seq, the backing); the per-VMA
 * lock starts a line of its own (vm_refcnt ____cacheline_aligned_in_smp
 * since 6.15, `struct vma_lock vm_lock ____cacheline_aligned_in_smp` in
 * 6.13, a separate object before), so that the lock's writes by every faulting
 * CPU do not take the first line from the others. vm_area_alloc() clears
 * everything up to vm_lock (vm_refcnt included, as vma_init() does);
 * vm_area_dup() copies the fields before vm_refcnt but vm_lock_seq and
 * detached, which it sets, as vm_area_init_from() and vma_lock_init() do.
 */
export const VM_AREA_STRUCT = defineStruct('vm_area_struct', {
  vm_start: 'mmap write lock and the VMA write lock: first page',
  vm_end: 'mmap write lock and the VMA write lock: first page past the end',
  vm_mm: 'set once at allocation; read locklessly (SLAB_TYPESAFE_BY_RCU re-check)',
  vm_flags: 'mmap write lock and the VMA write lock',
  detached: 'the VMA write lock (the 2023 per-VMA lock)',
  vm_lock_seq: 'the VMA write lock: mm_lock_seq when write-locked',
  vm_pgoff:
    'mmap write lock and the VMA write lock: offset in the file (or linear index), in pages',
  vm_file: 'mmap write lock: struct file, or 0 for anonymous memory',
  vm_ops: 'constant after mmap: id of the vm_operations_struct (0: none)',
  anon_vma: 'mmap lock and mm->page_table_lock: set once by __anon_vma_prepare()',
  anon_vma_chain:
    'mmap write lock: how many anon_vmas this VMA is chained to (1: list_is_singular)',
  vm_refcnt: cacheline_aligned([
    REFCOUNT.$,
    'vma_start_read() / vma_start_write() (the 2025 per-VMA lock)',
  ]),
  vm_lock: RW_SEMAPHORE.$,
  vm_rcu: [RCU_HEAD.$, "the queueing CPU's rcu_data_cb.nocb_lock while a free is queued"],
});

/*
 * struct mm_struct, in three lines as the kernel keeps them apart: what
 * every fault and lookup reads (the VMA index, the page directory); the
 * mmap_lock, with the counters its write side guards (the kernel places
 * mmap_lock by hand, at offset 0x120, beside map_count and
 * page_table_lock, away from the fields every fault reads); and the
 * sequence counts lockless readers sample (mm_lock_seq, a line after the
 * lock's count in the kernel; write_protect_seq).
 */
export const MM_STRUCT = defineStruct('mm_struct', {
  mm_mt: 'mmap write lock to replace; rcu_dereference by lockless lookups: the VMA index node',
  pgd: 'constant after mm_alloc(): the page directory',
  pgd_base:
    'constant: the first page the page directory covers (PTRS_PER_PGD * PTRS_PER_PTE pages)',
  mmap_base: 'constant: top of the mmap area (page)',
  task_size: 'constant: first page past the user address space',
  mm_users: [REFCOUNT.$, 'atomic: users of the address space'],
  mm_count: [REFCOUNT.$, 'atomic: references to the struct itself'],
  mmap_lock: cacheline_aligned(RW_SEMAPHORE.$),
  map_count:
    'mmap write lock; under the range policy atomic (disjoint writers), its limit checks READ_ONCE',
  pte_tables: 'page_table_lock: the PTE tables populated so far, linked by pte_table.next',
  page_table_lock: [SPINLOCK.$, 'itself: populating the page directory, installing anon_vma'],
  mm_lock_seq: cacheline_aligned([
    SEQCOUNT.$,
    'mmap write lock: odd while the mmap lock is write-held',
  ]),
  write_protect_seq: [SEQCOUNT.$, 'mmap write lock: odd while fork write-protects pages'],
  vma_writer_wait: [RCUWAIT.$, 'the mmap write lock holder waiting for VMA readers'],
  brk_start: 'mmap write lock: mm->start_brk, a page',
  brk: 'mmap write lock: the program break mm->brk, its page',
  total_vm: 'mmap write lock: pages mapped',
  mmap_range: cacheline_aligned([
    RANGE_LOCK_TREE.$,
    'itself: mmap_sem as a range lock (the range policy)',
  ]),
  mt_lock: [SPINLOCK.$, "itself: the VMA index's updates under the range policy"],
  // Last, in the padding of the final cache line: no other field moves.
  brk_offset: 'mmap write lock: where in its page mm->brk lies (a break need not be page-aligned)',
});

/* struct anon_vma: a shared root for the anonymous pages of related VMAs. */
export const ANON_VMA = defineStruct('anon_vma', {
  refcount: [REFCOUNT.$, 'atomic: VMAs and pages that point here'],
  parent: 'constant: the anon_vma it was forked from, or itself',
});

/*
 * struct page: one 4 KiB frame of "physical" memory. The kernel's is 64
 * bytes, one cache line of the memmap: two CPUs faulting in two pages
 * never share a line of struct page.
 */
export const PAGE = defineStruct('page', {
  flags: cacheline_aligned('atomic bit operations: PG_anon, PG_uptodate'),
  _refcount: [REFCOUNT.$, 'atomic: references; pinned pages hold GUP_PIN_COUNTING_BIAS more'],
  _mapcount: 'atomic: page table entries that map the page, minus one',
  _pincount: 'atomic: FOLL_PIN pins (what folio_maybe_dma_pinned() tests)',
  mapping: 'the page lock: anon_vma (anonymous) or address_space (page cache)',
  index: 'the page lock: offset in the file or anon_vma, in pages',
  frame: 'constant while allocated: the 1024 words of data',
});
/* mm->rss_stat[] members (enum in include/linux/mm_types_task.h). */
export const MM_FILEPAGES = 0;
export const MM_ANONPAGES = 1;
export const MM_SWAPENTS = 2;
export const MM_SHMEMPAGES = 3;
export const PG_ANON = 1 << 0;
export const PG_UPTODATE = 1 << 1;
/** pin_user_pages() adds this to _refcount, as the kernel does for small folios. */
export const GUP_PIN_COUNTING_BIAS = 1024;

/*
 * A page table entry: page pointer << 3 | flags. A _PAGE_PROTNONE entry
 * still maps its page (rmap and refcount hold) but user accesses fault, as
 * x86 keeps PROT_NONE pages.
 */
export const _PAGE_PRESENT = 1;
export const _PAGE_RW = 2;
export const _PAGE_PROTNONE = 4;
export const PTE_SHIFT = 3;

/** Pages per PTE table: a table maps 2 MiB. Entries per page directory. */
export const PTRS_PER_PTE = 512;
export const PTRS_PER_PGD = 1024;

/*
 * A PTE table. The kernel keeps the split page-table lock in the table
 * page's struct ptdesc, not in the page of entries: the lock's line is not
 * the first entries' line.
 */
export const PTE_TABLE = defineStruct('pte_table', {
  ptl: [SPINLOCK.$, 'itself: the split page-table lock of this table'],
  next: 'mm->page_table_lock: the next table of the same mm (freed at exit)',
  ptes: cacheline_aligned([PTRS_PER_PTE, 'ptl; read locklessly by gup_fast']),
});

/*
 * struct file and its page cache (struct address_space). The kernel's are
 * two objects (file->f_mapping): here the address_space starts a line, so
 * that f_count's changes on every mmap and munmap stay off the line every
 * file fault reads.
 */
export const FILE = defineStruct('file', {
  f_count: [REFCOUNT.$, 'atomic: mappings and the open descriptor'],
  id: 'constant: k of the k-th script file (0 for shmem)',
  kind: 'constant: FILE_REGULAR, FILE_SHMEM or FILE_SECRETMEM (which f_op it has)',
  i_size: cacheline_aligned('i_rwsem: size in pages'),
  i_pages: 'i_pages lock: array of page pointers, one per page of the file',
  i_pages_lock: [SPINLOCK.$, 'itself: the page cache of this file'],
});

/** file.kind: a tmpfs file of the script's, the shmem file behind shared anonymous memory, memfd_secret(2)'s. */
export const FILE_REGULAR = 0;
export const FILE_SHMEM = 1;
export const FILE_SECRETMEM = 2;

/** vm_operations_struct ids: what a VMA's vm_ops can do. */
export const VM_OPS_NONE = 0;
/** generic_file_vm_ops: ->fault, ->map_pages, ->page_mkwrite. */
export const VM_OPS_FILE = 1;
/** shmem_vm_ops: ->fault, ->map_pages. */
export const VM_OPS_SHMEM = 2;
/** A driver's vm_ops with ->fault but no ->map_pages (not audited: seed 003). */
export const VM_OPS_UNAUDITED = 3;
/** A driver's vm_ops with ->close: such a VMA is never removed by a merge. */
export const VM_OPS_CLOSE = 4;
/** secretmem_vm_ops (mm/secretmem.c): ->fault alone, so it is not audited for the VMA lock either. */
export const VM_OPS_SECRETMEM = 5;

interface VmOps {
  readonly name: string;
  readonly map_pages: boolean;
  readonly close: boolean;
  readonly page_mkwrite: boolean;
}

export const VM_OPS: readonly VmOps[] = [
  { name: 'none', map_pages: false, close: false, page_mkwrite: false },
  { name: 'generic_file_vm_ops', map_pages: true, close: false, page_mkwrite: true },
  { name: 'shmem_vm_ops', map_pages: true, close: false, page_mkwrite: false },
  { name: 'unaudited_vm_ops', map_pages: false, close: false, page_mkwrite: false },
  { name: 'closing_vm_ops', map_pages: true, close: true, page_mkwrite: false },
  { name: 'secretmem_vm_ops', map_pages: false, close: false, page_mkwrite: false },
];
