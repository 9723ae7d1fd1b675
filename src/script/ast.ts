/*
 * The script language shared by `mmlab run`, `mmlab diff` and the Linux
 * oracle (shared/DESIGN.md §4). Addresses are byte offsets inside a 1 GiB
 * window whose base each runner chooses; PAGES are 4 KiB pages.
 */

export const PAGE_SIZE = 4096;
export const WINDOW_BYTES = 0x40000000;
/** The last byte address where a 32-bit access still lies inside the window. */
export const LAST_ACCESS = WINDOW_BYTES - 4;
/**
 * The initial program break of p0 (mm->start_brk and mm->brk, as exec sets
 * them): 16 MiB into the window, below where top-down placement puts
 * mappings; a fork child inherits its parent's.
 */
export const HEAP_START = 0x1000000;
/** The highest break a script may ask for: brk keeps the page above the heap free, in the window too. */
export const LAST_BRK = WINDOW_BYTES - PAGE_SIZE;

export interface Prot {
  readonly read: boolean;
  readonly write: boolean;
  readonly exec: boolean;
}

/**
 * A declared file, `file NAME PAGES [secret]`: a tmpfs file holding its
 * pattern, or with `secret` a memfd_secret(2) file, zero-filled.
 */
export interface FileDecl {
  readonly name: string;
  readonly pages: number;
  readonly secret: boolean;
}

type FileCommand = { readonly op: 'file' } & FileDecl;

export type Command =
  | FileCommand
  | {
      readonly op: 'mmap';
      /** Window offset, or null for `-` (no hint). */
      readonly addr: number | null;
      readonly pages: number;
      readonly prot: Prot;
      readonly shared: boolean;
      /** null for anonymous memory. */
      readonly file: string | null;
      /** off=PAGES, 0 if absent. */
      readonly off: number;
      readonly fixed: boolean;
      readonly noreplace: boolean;
      readonly populate: boolean;
      readonly growsdown: boolean;
    }
  | { readonly op: 'munmap'; readonly addr: number; readonly pages: number }
  | { readonly op: 'mprotect'; readonly addr: number; readonly pages: number; readonly prot: Prot }
  | {
      readonly op: 'mremap';
      readonly addr: number;
      readonly old_pages: number;
      readonly new_pages: number;
      readonly maymove: boolean;
      readonly dontunmap: boolean;
      /** fixed=ADDR (MREMAP_FIXED), or null. */
      readonly fixed: number | null;
    }
  | {
      readonly op: 'madvise';
      readonly addr: number;
      readonly pages: number;
      readonly advice: 'dontneed';
    }
  /** brk(window base + addr): the new program break, or the old one where it cannot move. */
  | { readonly op: 'brk'; readonly addr: number }
  | { readonly op: 'write'; readonly addr: number; readonly value: number }
  | { readonly op: 'read'; readonly addr: number }
  | { readonly op: 'fork' }
  | { readonly op: 'exit' }
  /**
   * Read /proc/PID/maps of the process: its VMAs in the window, one result
   * line. Under per-VMA locks the kernel reads it a VMA at a time, so a
   * `maps` racing other sections may show each VMA as it was at a
   * different moment of the run (docs/scripts.md, "maps").
   */
  | { readonly op: 'maps' }
  /**
   * A long-term write pin of the page holding addr (FOLL_PIN | FOLL_WRITE):
   * pin_user_pages_fast() if `fast`, else the slow path under the mmap read lock.
   */
  | { readonly op: 'pin'; readonly addr: number; readonly fast: boolean }
  /** Read the word at addr (4-byte aligned) through the page an earlier pin holds, then unpin it. */
  | { readonly op: 'unpin'; readonly addr: number };

export interface Line {
  /** 1-based line number in the source text. */
  readonly line: number;
  /** The process (pN) that runs the command. */
  readonly pid: number;
  readonly cmd: Command;
}

export interface Script {
  readonly lines: readonly Line[];
  /** Declared files in declaration order (the k-th is file k = 1, 2, ...). */
  readonly files: readonly FileDecl[];
}

/** The file a `file` line declares. */
export function file_decl(c: FileCommand): FileDecl {
  return { name: c.name, pages: c.pages, secret: c.secret };
}

/** The files that `lines` declare, in order (a concurrent script's setup holds them all). */
export function declared_files(lines: readonly Line[]): FileDecl[] {
  return lines.flatMap((l) => (l.cmd.op === 'file' ? [file_decl(l.cmd)] : []));
}

/** Where pins are matched with unpins: a process's pins of one page (window page number). */
export function pin_key(pid: number, addr: number): string {
  return `${pid} ${Math.floor(addr / PAGE_SIZE)}`;
}

/**
 * The pin/unpin rule a script is held to before it runs: each `unpin`
 * follows a `pin` of the same page by the same process in `lines` (one
 * sequential script, or one section of a concurrent one), not already
 * matched by an earlier unpin. A pin that failed leaves its unpin to print
 * EINVAL at run time.
 */
export function check_unpins(lines: readonly Line[], where = ''): void {
  const held = new Map<string, number>();
  for (const l of lines) {
    if (l.cmd.op !== 'pin' && l.cmd.op !== 'unpin') continue;
    const key = pin_key(l.pid, l.cmd.addr);
    const n = held.get(key) ?? 0;
    if (l.cmd.op === 'pin') held.set(key, n + 1);
    else if (n === 0)
      throw new ScriptError(
        l.line,
        `unpin 0x${l.cmd.addr.toString(16)}: no earlier pin of that page by p${l.pid}${where} holds it`,
      );
    else held.set(key, n - 1);
  }
}

/** A script that cannot run: `line N: problem`. */
export class ScriptError extends Error {
  constructor(
    readonly line: number,
    readonly problem: string,
  ) {
    super(`line ${line}: ${problem}`);
    this.name = 'ScriptError';
  }
}

/**
 * The OUTSIDE rule of shared/DESIGN.md §4: a command whose range leaves the
 * window is not run, and prints OUTSIDE.
 */
export function is_outside(c: Command): boolean {
  const past = (addr: number, pages: number) => addr + pages * PAGE_SIZE > WINDOW_BYTES;
  switch (c.op) {
    case 'mmap':
      return c.addr !== null && past(c.addr, c.pages);
    case 'munmap':
    case 'mprotect':
    case 'madvise':
      return past(c.addr, c.pages);
    case 'mremap':
      return (
        past(c.addr, Math.max(c.old_pages, c.new_pages)) ||
        (c.fixed !== null && past(c.fixed, c.new_pages))
      );
    case 'brk':
      return c.addr > LAST_BRK;
    case 'read':
    case 'write':
    case 'pin':
    case 'unpin':
      return c.addr > LAST_ACCESS;
    default:
      return false;
  }
}

/**
 * The window bytes [start, end) an mremap unmaps before it moves the VMA,
 * in the order Linux unmaps them (mremap_to()): with fixed=, the
 * destination (do_munmap() of [new_addr, new_addr + new_len)); shrinking,
 * then the source's tail (shrink_vma()). None for any other mremap.
 */
export function mremap_unmaps(c: Extract<Command, { op: 'mremap' }>): [number, number][] {
  const ranges: [number, number][] = [];
  if (c.fixed !== null) ranges.push([c.fixed, c.fixed + c.new_pages * PAGE_SIZE]);
  if (c.new_pages < c.old_pages)
    ranges.push([c.addr + c.new_pages * PAGE_SIZE, c.addr + c.old_pages * PAGE_SIZE]);
  return ranges;
}

/**
 * Whether a read or write crosses a page boundary: it then faults a page
 * at a time, as the instruction is restarted after each fault, and the
 * outcome check orders those faults apart from the access
 * (concurrent.ts, serial_steps()).
 */
export function straddles_pages(c: Command): boolean {
  return (
    (c.op === 'read' || c.op === 'write') &&
    !is_outside(c) &&
    Math.floor(c.addr / PAGE_SIZE) !== Math.floor((c.addr + 3) / PAGE_SIZE)
  );
}

/**
 * A concurrent script (docs/scripts.md, "Concurrent scripts"): the lines
 * before the first `cpu N:` header are its setup, run on cpu0 alone before
 * any other CPU starts; then CPU i runs the lines under `cpu i:`, in
 * order, while the others run theirs. Every process (pN) is one mm that
 * all CPUs share: two CPUs naming p0 are two threads of p0.
 */
export interface ConcurrentScript {
  /** Declared files in declaration order, as Script's (file lines belong to the setup). */
  readonly files: Script['files'];
  /** The setup: run sequentially, as a Script's lines are. */
  readonly setup: readonly Line[];
  /** cpus[i]: the lines under `cpu i:`, in order; 2 to 4 sections, numbered from 0 without gaps. */
  readonly cpus: readonly (readonly Line[])[];
}
