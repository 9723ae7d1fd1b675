/*
 * User space as the model's scripts play it: one command of a script run
 * by a process (an mm) through the system calls and the MMU, and what a
 * run leaves to see (/proc/PID/maps, the words read back). The sequential
 * runner (run_model.ts) and the concurrent one (scenario.ts) both run
 * every command here, so a serial order of a concurrent script and
 * `mmlab run` are the same code.
 */
import { do_user_addr_fault, user_access } from '../kernel/arch/fault.js';
import { dup_mmap } from '../kernel/fork.js';
import {
  MAPS_EXEC,
  MAPS_LINE_WORDS,
  MAPS_READ,
  MAPS_SHARED,
  MAPS_SHMEM,
  MAPS_WRITE,
  ProcMapsPrivate,
  proc_pid_maps_read,
} from '../kernel/fs/proc/task_mmu.js';
import { file_alloc, fput } from '../kernel/mm/filemap.js';
import {
  FOLL_PIN,
  FOLL_WRITE,
  get_user_pages,
  pin_user_pages_fast,
  unpin_user_page,
} from '../kernel/mm/gup.js';
import {
  FILE_REGULAR,
  FILE_SECRETMEM,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MM_STRUCT,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from '../kernel/mm/mm_types.js';
import {
  brk_shrink_pages,
  do_munmap,
  EFAULT,
  mm_alloc,
  mm_populate,
  mmput,
} from '../kernel/mm/mmap.js';
import {
  PAGE_BYTES,
  program_break,
  sys_brk,
  sys_madvise_dontneed,
  sys_mmap,
  sys_mprotect,
  sys_mremap,
  sys_munmap,
} from '../kernel/mm/syscalls.js';
import { EINVAL } from '../kernel/mm/vma.js';
import { kfree, kmalloc } from '../kernel/slab.js';
import type { KernelMemory } from '../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../runtime/ops.js';
import {
  type Command,
  HEAP_START,
  is_outside,
  type Line,
  mremap_unmaps,
  PAGE_SIZE,
  type Prot,
  pin_key,
  ScriptError,
  WINDOW_BYTES,
} from './ast.js';
import { errno_name } from './errno.js';
import {
  type MapsLine,
  maps_read,
  OK,
  OUTSIDE,
  type Result,
  type Signal,
  type WordRead,
  word_read,
} from './print.js';

/*
 * Where the model puts the window: at 2 TiB, with 2 TiB free below it as
 * the oracle has, and page numbers that still fit a word. The window's top
 * is the top of the mmap area; the address space ends at 4 TiB.
 */
const WINDOW_BASE_PAGE = 1 << 29;
const WINDOW_BASE = WINDOW_BASE_PAGE * PAGE_BYTES;
const TOP_PAGE = WINDOW_BASE_PAGE + WINDOW_BYTES / PAGE_BYTES;
const TASK_SIZE_PAGES = 1 << 30;

/** What the processes of one run share: the kernel memory, and the files the script declared. */
export interface UserSpace {
  readonly m: KernelMemory;
  /** Each declared file by name: its struct file and its number k (1, 2, ...). */
  readonly files: Map<string, { file: number; k: number }>;
  /**
   * The pins user space holds, as io_uring's fixed buffers hold theirs: by
   * `THREAD pid page` (the thread that pinned: a section's CPU, or -1 for
   * a setup), the struct pages pinned, last pinned last.
   */
  readonly pins: Pins;
}

/** Pins by `THREAD pid page`, the struct pages pinned, last pinned last (UserSpace.pins). */
export type Pins = Map<string, number[]>;

/** A copy of `pins` that later pins and unpins leave as it is. */
export function copy_pins(pins: Pins): Pins {
  return new Map([...pins].map(([key, pages]) => [key, [...pages]]));
}

/*
 * The pins as a schedule starts on user thread `thread` (a section's
 * CPU): the pins live beside kernel memory, which the explorer restores
 * to the setup's end before each schedule, so they are restored too. The
 * thread's own from an earlier schedule are dropped (one that ended in a
 * bug left them: its teardown never ran), and the setup's put back as it
 * left them (the last schedule's teardown cleared them). A thread pins
 * and unpins under its own keys only, so each CPU restores its own and
 * the setup's, whichever CPU starts first.
 */
export function restore_pins(us: UserSpace, setup: Pins, thread: number): void {
  for (const key of [...us.pins.keys()]) if (key.startsWith(`${thread} `)) us.pins.delete(key);
  for (const [key, pages] of setup) us.pins.set(key, [...pages]);
}

/* The kernel's page number of window offset `addr`. */
function window_page(addr: number): number {
  return WINDOW_BASE_PAGE + Math.floor(addr / PAGE_SIZE);
}

function prot_bits(p: Prot): number {
  return (p.read ? PROT_READ : 0) | (p.write ? PROT_WRITE : 0) | (p.exec ? PROT_EXEC : 0);
}

/*
 * The model's kernel memory is finite where the oracle's is not: a command
 * that found it full (an allocation failed) ran differently from Linux, and
 * so would every command after it. The run stops there, naming the line.
 */
export function check_memory(m: KernelMemory, line: number): void {
  if (m.exhausted)
    throw new ScriptError(
      line,
      `the script needs more than the model's ${m.size >> 18} MiB of kernel memory; Linux would not have failed here`,
    );
}

/*
 * An object that the command on `line` could not do without (a file, a
 * fork child's mm): when its allocation failed because the model's memory
 * is full, check_memory() says so at that line; any other failure is a bug.
 */
function allocated(
  k: KernelContext,
  m: KernelMemory,
  line: number,
  obj: number,
  what: string,
): number {
  if (obj === 0) check_memory(m, line);
  k.BUG_ON(obj === 0, what);
  return obj;
}

/** p0's mm, its heap where exec would have placed it. */
export function* first_process(k: KernelContext): KGen<number> {
  // Page tables for the GiB below the window too: a move placed there (OUTSIDE) moves its pages first.
  const p0 = yield* call(
    mm_alloc(k, TOP_PAGE, TASK_SIZE_PAGES, WINDOW_BASE_PAGE - WINDOW_BYTES / PAGE_BYTES),
  );
  k.BUG_ON(p0 === 0, 'mm_alloc for p0');
  // Its pages are mapped by brk alone.
  yield k.store(p0 + MM_STRUCT.brk_start, WINDOW_BASE_PAGE + HEAP_START / PAGE_BYTES);
  yield k.store(p0 + MM_STRUCT.brk, WINDOW_BASE_PAGE + HEAP_START / PAGE_BYTES);
  return p0;
}

/**
 * Run the command of `l` as process `mm` (a reference the caller holds:
 * `exit` puts it) on user thread `thread` (whose pins an unpin matches).
 * Its result (format_result() prints its line), and a fork's child mm (0
 * otherwise).
 */
export function* run_command(
  k: KernelContext,
  us: UserSpace,
  l: Line,
  mm: number,
  thread: number,
): KGen<{ result: Result; child: number }> {
  const { cmd, line } = l;
  let child = 0;
  let result: Result;
  if (is_outside(cmd)) return { result: OUTSIDE, child };
  switch (cmd.op) {
    case 'file': {
      const id = us.files.size + 1;
      // memfd_secret(2) and ftruncate(), or a tmpfs file created and filled.
      const f = yield* file_alloc(k, id, cmd.pages, cmd.secret ? FILE_SECRETMEM : FILE_REGULAR);
      us.files.set(cmd.name, { file: allocated(k, us.m, line, f, 'file_alloc'), k: id });
      result = OK;
      break;
    }
    case 'mmap': {
      const flags =
        (cmd.shared ? MAP_SHARED : MAP_PRIVATE) |
        (cmd.file === null ? MAP_ANONYMOUS : 0) |
        (cmd.fixed ? MAP_FIXED : 0) |
        (cmd.noreplace ? MAP_FIXED_NOREPLACE : 0) |
        (cmd.populate ? MAP_POPULATE : 0) |
        (cmd.growsdown ? MAP_GROWSDOWN : 0);
      const file = cmd.file === null ? 0 : us.files.get(cmd.file)!.file;
      const addr = cmd.addr === null ? 0 : WINDOW_BASE + cmd.addr;
      const len = cmd.pages * PAGE_BYTES;
      const ret = yield* call(
        sys_mmap(k, mm, addr, len, prot_bits(cmd.prot), flags, file, cmd.off * PAGE_BYTES),
      );
      result = yield* call(placed(k, mm, ret, len));
      break;
    }
    case 'munmap':
      result = status(
        yield* call(sys_munmap(k, mm, WINDOW_BASE + cmd.addr, cmd.pages * PAGE_BYTES)),
      );
      break;
    case 'mprotect':
      result = status(
        yield* call(
          sys_mprotect(k, mm, WINDOW_BASE + cmd.addr, cmd.pages * PAGE_BYTES, prot_bits(cmd.prot)),
        ),
      );
      break;
    case 'madvise':
      result = status(
        yield* call(sys_madvise_dontneed(k, mm, WINDOW_BASE + cmd.addr, cmd.pages * PAGE_BYTES)),
      );
      break;
    case 'mremap': {
      const flags =
        (cmd.maymove ? MREMAP_MAYMOVE : 0) |
        (cmd.dontunmap ? MREMAP_DONTUNMAP : 0) |
        (cmd.fixed !== null ? MREMAP_FIXED : 0);
      const target = cmd.fixed === null ? 0 : WINDOW_BASE + cmd.fixed;
      const len = cmd.new_pages * PAGE_BYTES;
      const ret = yield* call(
        sys_mremap(k, mm, WINDOW_BASE + cmd.addr, cmd.old_pages * PAGE_BYTES, len, flags, target),
      );
      result = yield* call(placed(k, mm, ret, len));
      break;
    }
    case 'brk':
      result = {
        kind: 'address',
        value: (yield* call(sys_brk(k, mm, WINDOW_BASE + cmd.addr))) - WINDOW_BASE,
      };
      break;
    case 'write': {
      const r = yield* call(user_access(k, mm, WINDOW_BASE + cmd.addr, true, cmd.value));
      result = r < 0 ? signal(-r) : OK;
      break;
    }
    case 'read':
      result = yield* call(read_word(k, mm, cmd.addr));
      break;
    case 'pin':
      result = yield* call(
        pin(k, us, mm, `${thread} ${pin_key(l.pid, cmd.addr)}`, cmd.addr, cmd.fast),
      );
      break;
    case 'unpin': {
      const page = us.pins.get(`${thread} ${pin_key(l.pid, cmd.addr)}`)?.pop();
      result = page === undefined ? errno(-EINVAL) : yield* call(unpin(k, page, cmd.addr));
      break;
    }
    case 'fork':
      child = allocated(k, us.m, line, yield* call(dup_mmap(k, mm)), 'fork: dup_mmap failed');
      result = OK;
      break;
    case 'exit':
      yield* call(mmput(k, mm));
      result = OK;
      break;
    case 'maps':
      result = maps_read(yield* call(proc_maps(k, us, mm)));
      break;
  }
  return { result, child };
}

/** A user read of the word at window offset `addr`: the word, or the signal it took. */
export function* read_word(k: KernelContext, mm: number, addr: number): KGen<WordRead> {
  const r = yield* call(user_access(k, mm, WINDOW_BASE + addr, false, 0));
  return r < 0 ? signal(-r) : word_read(r);
}

/**
 * The fault that a user access (`write` or not) at window offset `addr`
 * takes on the page holding `addr`, as the MMU would raise it there: null
 * when the access may be retried, else the signal. On a page the access
 * could already use, the fault finds nothing to do.
 */
export function* fault_page(
  k: KernelContext,
  mm: number,
  addr: number,
  write: boolean,
): KGen<Signal | null> {
  const page = window_page(addr);
  const sig = yield* call(do_user_addr_fault(k, mm, page, write));
  return sig === 0 ? null : signal(sig);
}

/**
 * mm_populate() over the `pages` pages at window offset `addr`, as a
 * serial order's population step of `mmap ... populate` places it
 * (scenario.ts): the kernel's own, under the mmap read lock, VMA by VMA.
 */
export function* populate(k: KernelContext, mm: number, addr: number, pages: number): KGen {
  const start = window_page(addr);
  yield* call(mm_populate(k, mm, start, start + pages));
}

/*
 * A long-term write pin of the page at window offset `addr`, as
 * pin_user_pages() (the slow path, under the mmap read lock) or
 * pin_user_pages_fast() take one: EFAULT where nothing could be pinned.
 */
function* pin(
  k: KernelContext,
  us: UserSpace,
  mm: number,
  key: string,
  addr: number,
  fast: boolean,
): KGen<Result> {
  const page = window_page(addr);
  const pages = fast
    ? yield* call(pin_user_pages_fast(k, mm, page, 1, true))
    : yield* call(get_user_pages(k, mm, page, 1, FOLL_PIN | FOLL_WRITE));
  if (pages.length === 0) return errno(-EFAULT);
  us.pins.set(key, [...(us.pins.get(key) ?? []), pages[0]!]);
  return OK;
}

/* The aligned word at window offset `addr` in the pinned `page` (not the mm's page there now), then the pin dropped. */
function* unpin(k: KernelContext, page: number, addr: number): KGen<Result> {
  const frame = yield k.load(page + PAGE.frame);
  const value = yield k.load(frame + ((addr % PAGE_SIZE) >> 2));
  yield* call(unpin_user_page(k, page));
  return word_read(value);
}

/*
 * A mapping placed below the window (the model's address space is free
 * there, as the oracle's is) prints OUTSIDE and is not kept.
 */
function* placed(k: KernelContext, mm: number, ret: number, len: number): KGen<Result> {
  if (ret < 0) return errno(ret);
  if (ret < WINDOW_BASE || ret + len > WINDOW_BASE + WINDOW_BYTES) {
    yield* call(do_munmap(k, mm, ret / PAGE_BYTES, len / PAGE_BYTES));
    return OUTSIDE;
  }
  return { kind: 'address', value: ret - WINDOW_BASE };
}

function status(ret: number): Result {
  return ret < 0 ? errno(ret) : OK;
}

/* A system call's failure `ret` (a negative errno). */
function errno(ret: number): Result {
  return { kind: 'errno', value: errno_name(-ret) };
}

function signal(sig: number): Signal {
  return { kind: 'signal', value: sig === 7 ? 'SIGBUS' : 'SIGSEGV' };
}

/**
 * The window bytes [start, end) that `cmd`, run now on `mm`, takes out of
 * the VMA index as its `part`-th removal, before it unmaps their pages
 * (concurrent.ts, unlinks()), or null: a munmap's range, the heap a brk
 * shrinks, an mremap's destination or shrunk tail (mremap_unmaps()). For
 * a serial order, which runs alone.
 */
export function* unlinked_range(
  k: KernelContext,
  mm: number,
  cmd: Command,
  part: number,
): KGen<[number, number] | null> {
  switch (cmd.op) {
    case 'munmap':
      return [cmd.addr, cmd.addr + cmd.pages * PAGE_BYTES];
    case 'mremap':
      return mremap_unmaps(cmd)[part] ?? null;
    case 'brk': {
      const pages = yield* call(brk_shrink_pages(k, mm, program_break(WINDOW_BASE + cmd.addr)));
      return pages === null
        ? null
        : [(pages[0] - WINDOW_BASE_PAGE) * PAGE_BYTES, (pages[1] - WINDOW_BASE_PAGE) * PAGE_BYTES];
    }
    default:
      return null;
  }
}

/* Lines a read() of /proc/PID/maps takes (a page of the file holds about 60). */
const MAPS_READ_LINES = 64;

/**
 * Each VMA in the window, as a read of /proc/PID/maps gives it: the
 * kernel's own reader (fs/proc/task_mmu.c), a page of lines a read().
 */
export function* proc_maps(k: KernelContext, us: UserSpace, mm: number): KGen<MapsLine[]> {
  const names = new Map<number, string>([...us.files].map(([name, f]) => [f.file, name]));
  const priv = new ProcMapsPrivate(mm);
  const buf = yield kmalloc(k, MAPS_READ_LINES * MAPS_LINE_WORDS, 'proc_maps');
  k.BUG_ON(buf === 0, 'proc_maps: no memory for a page of the file');
  const out: MapsLine[] = [];
  for (;;) {
    const n = yield* call(proc_pid_maps_read(k, priv, buf, MAPS_READ_LINES));
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      const line = yield* call(maps_line(k, names, buf + i * MAPS_LINE_WORDS));
      if (line !== null) out.push(line);
    }
  }
  yield* kfree(k, buf, 'proc_maps');
  return out;
}

/* The line at `w` as the window shows it (null outside the window), the file named as the script names it. */
function* maps_line(
  k: KernelContext,
  names: ReadonlyMap<number, string>,
  w: number,
): KGen<MapsLine | null> {
  const start = Math.max(yield k.load(w), WINDOW_BASE_PAGE);
  const end = Math.min(yield k.load(w + 1), TOP_PAGE);
  if (start >= end) return null;
  const flags = yield k.load(w + 2);
  const pgoff = yield k.load(w + 3);
  const file = yield k.load(w + 4);
  const perm = `${flags & MAPS_READ ? 'r' : '-'}${flags & MAPS_WRITE ? 'w' : '-'}${flags & MAPS_EXEC ? 'x' : '-'}${flags & MAPS_SHARED ? 's' : 'p'}`;
  const shmem = (flags & MAPS_SHMEM) !== 0;
  return {
    start: (start - WINDOW_BASE_PAGE) * PAGE_BYTES,
    end: (end - WINDOW_BASE_PAGE) * PAGE_BYTES,
    perm,
    offset: pgoff * PAGE_BYTES,
    name: file === 0 ? '' : shmem ? '[shmem]' : names.get(file)!,
  };
}

/** The end of a run: the pins still held dropped, the processes' last references put, then the files'. */
export function* tear_down(k: KernelContext, us: UserSpace, mms: Iterable<number>): KGen {
  for (const pages of us.pins.values())
    for (const page of pages) yield* call(unpin_user_page(k, page));
  us.pins.clear();
  for (const mm of mms) yield* call(mmput(k, mm));
  for (const { file } of us.files.values()) yield* call(fput(k, file));
}
