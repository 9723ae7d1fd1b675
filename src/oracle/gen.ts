/*
 * Random scripts for `mmlab diff` (shared/DESIGN.md §4): the model and the
 * kernel of this machine run the same script and must print the same text.
 *
 * Uniformly random addresses in a 1 GiB window would almost never touch a
 * mapping, so the generator keeps a rough guess of what each live process
 * has mapped (Guess) and aims most ranges and accesses at it: its edges,
 * just before and just after it, across it. The rest of the addresses are
 * clustered near the window's top (where top-down placement puts mappings
 * made without a fixed address) and in a low region (where hints and fixed
 * addresses land), so that operations collide. A guess can be wrong; that
 * costs nothing but a less interesting command, since both runners report
 * whatever really happens.
 */
import type { Rng } from '../scenarios/random.js';
import {
  type Command,
  type FileDecl,
  HEAP_START,
  is_outside,
  LAST_ACCESS,
  LAST_BRK,
  type Line,
  PAGE_SIZE,
  type Prot,
  WINDOW_BYTES,
} from '../script/ast.js';
import { MAX_FILE_PAGES, MAX_FILES, MAX_PAGES } from '../script/parse.js';
import { format_script } from '../script/print.js';
import { Guess, guess_brk, guess_mmap, guess_mremap, THP_PAGES } from './guess.js';

export const DEFAULT_COMMANDS = 40;

const WINDOW_PAGES = WINDOW_BYTES / PAGE_SIZE;
/** The top and low clusters are 64 MiB each. */
const CLUSTER_PAGES = (64 << 20) / PAGE_SIZE;
/** Processes p0..p5 at most: enough for COW chains, cheap for the oracle. */
const MAX_PROCS = 6;
/** MAP_POPULATE only up to 8 MiB, so that no script allocates a window's worth of memory. */
const MAX_POPULATE_PAGES = 4 * THP_PAGES;

/** What the generator draws: every command but pins, which the Linux oracle cannot run. */
export type Op = Exclude<Command['op'], 'pin' | 'unpin'>;

/** True with probability percent/100. */
export function chance(rng: Rng, percent: number): boolean {
  return rng.below(100) < percent;
}

/** One of `xs`, uniformly. */
export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.below(xs.length)]!;
}

export function weighted<T>(rng: Rng, choices: readonly (readonly [T, number])[]): T {
  let r = rng.below(choices.reduce((sum, [, w]) => sum + w, 0));
  for (const [x, w] of choices) {
    if (r < w) return x;
    r -= w;
  }
  throw new Error('weighted: no choice has a positive weight');
}

/**
 * A length in pages: mostly small (1-16), sometimes up to 512, sometimes a
 * multiple of 2 MiB (THP alignment), rarely 0 (EINVAL or a no-op, depending
 * on the call) or past the window's size.
 */
function pick_pages(rng: Rng): number {
  const r = rng.below(100);
  if (r < 4) return 0;
  if (r < 70) return 1 + rng.below(16);
  if (r < 86) return 17 + rng.below(512 - 16);
  if (r < 98) return THP_PAGES * (1 + rng.below(4));
  return WINDOW_PAGES - 16 + rng.below(MAX_PAGES - WINDOW_PAGES);
}

/** Mostly small files, sometimes large ones, rarely empty ones (every access SIGBUS). */
function pick_file_pages(rng: Rng): number {
  const r = rng.below(100);
  if (r < 3) return 0;
  if (r < 65) return 1 + rng.below(16);
  if (r < 92) return 17 + rng.below(512 - 16);
  return 1 + rng.below(MAX_FILE_PAGES);
}

/** rw- half the time (so that most memory can be written), otherwise any protection. */
function pick_prot(rng: Rng): Prot {
  if (chance(rng, 50)) return { read: true, write: true, exec: false };
  return { read: chance(rng, 50), write: chance(rng, 50), exec: chance(rng, 25) };
}

/**
 * A byte offset inside a page for a 32-bit access: mostly word-aligned,
 * sometimes any byte, sometimes straddling into the next page (the access
 * then needs both pages: one of them may be unmapped, read-only or past EOF).
 */
function pick_in_page(rng: Rng): number {
  const r = rng.below(100);
  if (r < 60) return 4 * rng.below(PAGE_SIZE / 4);
  if (r < 85) return rng.below(PAGE_SIZE);
  return PAGE_SIZE - 1 - rng.below(3);
}

/**
 * Where the generator aims beyond `mmlab diff`'s defaults: `mmlab fuzz`
 * wants stacks, and faults just below them, which a diff script meets
 * only now and then. Zero percent draws nothing, so the defaults leave
 * diff's scripts as they were.
 */
export interface Aim {
  /** Of private anonymous mmaps, how many are MAP_GROWSDOWN. */
  readonly growsdown_percent: number;
  /** Of reads and writes of a process with a guessed stack, how many fault just below it. */
  readonly below_stack_percent: number;
  /**
   * The most pages of a mapping the kernel places (no address given); a
   * longer one goes below the window, where the runner unmaps it again in
   * a second call, which a concurrent fork could see between the two.
   */
  readonly placed_max_pages: number;
  /** Of declared files, how many are memfd_secret(2)'s (0 where the oracle cannot make one). */
  readonly secret_percent: number;
}

const DIFF_AIM: Aim = {
  growsdown_percent: 10,
  below_stack_percent: 0,
  placed_max_pages: Number.MAX_SAFE_INTEGER,
  secret_percent: 20,
};

/** What a generator knows of the processes at one point of its script, to go back to. */
export interface GenState {
  readonly procs: ReadonlyMap<number, Guess>;
  readonly next_pid: number;
  readonly written: readonly number[];
}

export class ScriptGen {
  private lines: Line[] = [];
  private readonly files: FileDecl[] = [];
  /*
   * Which files are secret, and which mappings of them turn shared, drawn
   * from a stream of their own: the other draws, and so every script a
   * seed gave before secret files existed, stay as they were but for
   * those words.
   */
  private readonly kinds: Rng;
  /** Live processes in creation order, each with its guessed mappings. */
  private procs = new Map<number, Guess>([[0, new Guess()]]);
  private next_pid = 1;
  /** Every address written so far, by any process: reads aim here to see COW and sharing. */
  private written: number[] = [];

  constructor(
    private readonly rng: Rng,
    private readonly aim: Aim = DIFF_AIM,
  ) {
    this.kinds = rng.split();
  }

  script(commands: number): string {
    // A file or two up front, so that file mappings start early.
    const files = Math.min(this.rng.below(3), commands);
    for (let i = 0; i < files; i++) this.emit(0, this.file());
    while (this.lines.length < commands) this.step();
    return format_script(this.lines);
  }

  /** The lines emitted since the last take(), which starts the next batch. */
  take(): Line[] {
    const lines = this.lines;
    this.lines = [];
    return lines;
  }

  /** The live processes, in creation order. */
  pids(): number[] {
    return [...this.procs.keys()];
  }

  save(): GenState {
    const procs = new Map([...this.procs].map(([pid, g]) => [pid, g.clone()]));
    return { procs, next_pid: this.next_pid, written: [...this.written] };
  }

  restore(s: GenState): void {
    this.procs = new Map([...s.procs].map(([pid, g]) => [pid, g.clone()]));
    this.next_pid = s.next_pid;
    this.written = [...s.written];
  }

  /** A file declared now (file k is named fk). */
  declare_file(): void {
    if (this.files.length < MAX_FILES) this.emit(0, this.file());
  }

  /**
   * A small stack for `pid`: private anonymous MAP_GROWSDOWN memory placed
   * top-down (below everything mapped so far, so that nothing mapped yet
   * sits in its guard gap), sometimes populated.
   */
  stack(pid: number): void {
    const cmd: Command = {
      op: 'mmap',
      addr: null,
      pages: 1 + this.rng.below(4),
      prot: { read: true, write: true, exec: false },
      shared: false,
      file: null,
      off: 0,
      fixed: false,
      noreplace: false,
      populate: chance(this.rng, 30),
      growsdown: true,
    };
    this.emit(pid, cmd);
    guess_mmap(this.procs.get(pid)!, cmd);
  }

  private emit(pid: number, cmd: Command): void {
    this.lines.push({ line: this.lines.length + 1, pid, cmd });
  }

  private step(): void {
    const rng = this.rng;
    const pid = this.pick_pid();
    const g = this.procs.get(pid)!;
    const op = weighted<Op>(rng, [
      // A process with nothing mapped can do little else that is interesting.
      ['mmap', g.empty ? 60 : 22],
      ['munmap', 8],
      ['mprotect', 8],
      ['mremap', 8],
      ['madvise', 5],
      ['brk', 5],
      ['write', 18],
      ['read', 18],
      ['fork', this.next_pid < MAX_PROCS ? 4 : 0],
      // The last live process never exits: the script would have to end.
      ['exit', this.procs.size > 1 ? 2 : 0],
      ['file', this.files.length < MAX_FILES ? 2 : 0],
      ['maps', 3],
    ]);
    this.run(pid, op);
  }

  /**
   * Emit one `op` command of process `pid`, aimed at its guessed mappings,
   * and guess what it did. A fork beyond MAX_PROCS is not registered.
   */
  run(pid: number, op: Op): Command {
    const g = this.procs.get(pid)!;
    const cmd = this.command(op, g);
    this.emit(pid, cmd);
    switch (cmd.op) {
      case 'mmap':
        guess_mmap(g, cmd);
        break;
      case 'munmap':
        if (cmd.addr % PAGE_SIZE === 0 && !is_outside(cmd)) {
          g.unmap(cmd.addr / PAGE_SIZE, cmd.addr / PAGE_SIZE + cmd.pages);
        }
        break;
      case 'mremap':
        guess_mremap(g, cmd);
        break;
      case 'brk':
        guess_brk(g, cmd);
        break;
      case 'write':
        this.written.push(cmd.addr);
        break;
      case 'fork':
        this.procs.set(this.next_pid++, g.clone());
        break;
      case 'exit':
        this.procs.delete(pid);
        break;
      default:
        break;
    }
    return cmd;
  }

  /** The newest live process often (a fresh child is where COW happens), else any live one. */
  private pick_pid(): number {
    const live = [...this.procs.keys()];
    return chance(this.rng, 40) ? live[live.length - 1]! : pick(this.rng, live);
  }

  private command(op: Op, g: Guess): Command {
    const rng = this.rng;
    switch (op) {
      case 'file':
        return this.file();
      case 'mmap':
        return this.mmap(g);
      case 'munmap':
        return { op, ...this.pick_range(g) };
      case 'mprotect':
        return { op, ...this.pick_range(g), prot: pick_prot(rng) };
      case 'mremap':
        return this.mremap(g);
      case 'madvise':
        return { op, ...this.pick_range(g), advice: 'dontneed' };
      case 'brk':
        return { op, addr: this.pick_brk(g) };
      case 'write':
        return { op, addr: this.pick_access(g), value: rng.next_u32() };
      case 'read':
        return { op, addr: this.pick_access(g) };
      case 'fork':
      case 'exit':
      case 'maps':
        return { op };
    }
  }

  private file(): Extract<Command, { op: 'file' }> {
    const file = {
      name: `f${this.files.length + 1}`,
      pages: pick_file_pages(this.rng),
      secret: chance(this.kinds, this.aim.secret_percent),
    };
    this.files.push(file);
    return { op: 'file', ...file };
  }

  private mmap(g: Guess): Extract<Command, { op: 'mmap' }> {
    const rng = this.rng;
    const file = this.files.length > 0 && chance(rng, 35) ? pick(rng, this.files) : null;
    const off = file === null ? 0 : this.pick_off(file);
    // Half the file mappings end near the file's end: the pages past it SIGBUS.
    const length =
      file !== null && chance(rng, 50)
        ? Math.max(1, file.pages - off + rng.below(5) - 2)
        : pick_pages(rng);
    const fixed = chance(rng, 30);
    const noreplace = chance(rng, 12);
    // A secret file maps shared only: most of its private draws turn shared, from its stream.
    const shared = chance(rng, 35) || (file?.secret === true && chance(this.kinds, 75));
    const addr = fixed || noreplace || chance(rng, 40) ? this.pick_addr(g) : null;
    const pages =
      addr === null ? Math.min(length, this.aim.placed_max_pages) : this.fit(addr, length);
    return {
      op: 'mmap',
      addr,
      pages,
      prot: pick_prot(rng),
      shared,
      file: file === null ? null : file.name,
      off,
      fixed,
      noreplace,
      populate: pages <= MAX_POPULATE_PAGES && chance(rng, 15),
      // Mostly where it is allowed (private anonymous), sometimes where it is not.
      growsdown: chance(rng, file === null && !shared ? this.aim.growsdown_percent : 3),
    };
  }

  /** off=PAGES: mostly 0 or inside the file, sometimes at or past its end, rarely far past. */
  private pick_off(file: FileDecl): number {
    const rng = this.rng;
    const r = rng.below(100);
    if (r < 50) return 0;
    if (r < 80) return rng.below(Math.max(file.pages, 1));
    if (r < 95) return Math.max(0, file.pages - 1 + rng.below(3));
    return rng.below(MAX_PAGES);
  }

  private mremap(g: Guess): Extract<Command, { op: 'mremap' }> {
    const rng = this.rng;
    const src = !g.empty && chance(rng, 75) ? g.any(rng) : null;
    const addr = src === null ? this.pick_addr(g) : src.start * PAGE_SIZE;
    const r = rng.below(100);
    // Old size 0 asks to duplicate a shared mapping (EINVAL for a private one).
    const old_pages = r < 5 ? 0 : src !== null && r < 70 ? src.end - src.start : pick_pages(rng);
    const maymove = chance(rng, 50);
    const dontunmap = chance(rng, 15);
    const new_pages = this.fit(
      addr,
      dontunmap && chance(rng, 70) ? old_pages : this.resize(old_pages),
    );
    return {
      op: 'mremap',
      addr,
      old_pages,
      new_pages,
      maymove,
      dontunmap,
      fixed: chance(rng, 20) ? this.pick_addr(g) : null,
    };
  }

  /** A new size for mremap: shrink (rarely to 0: EINVAL), grow, keep, or anything. */
  private resize(old_pages: number): number {
    const rng = this.rng;
    const r = rng.below(100);
    if (r < 40) return rng.below(Math.max(old_pages, 1));
    if (r < 80) return old_pages + 1 + rng.below(chance(rng, 70) ? 16 : 512);
    if (r < 88) return old_pages;
    return pick_pages(rng);
  }

  /**
   * Most lengths that would run past the window's end are cut at it: mappings
   * crowd at the top, so otherwise a tenth of the commands would print
   * OUTSIDE, which checks little.
   */
  private fit(addr: number, pages: number): number {
    const room = Math.floor((WINDOW_BYTES - addr) / PAGE_SIZE);
    return addr + pages * PAGE_SIZE > WINDOW_BYTES && room > 0 && chance(this.rng, 75)
      ? room
      : pages;
  }

  /**
   * A new break: mostly a few pages above or below the current one, often
   * not page-aligned; sometimes just below a guessed mapping (the heap may
   * not reach it), below the heap's start (the break stays), or at the
   * window's top (OUTSIDE past LAST_BRK).
   */
  private pick_brk(g: Guess): number {
    const rng = this.rng;
    const r = rng.below(100);
    const bytes = (1 + rng.below(16)) * PAGE_SIZE - (chance(rng, 30) ? rng.below(PAGE_SIZE) : 0);
    if (r < 45) return g.brk + bytes;
    if (r < 70) return Math.max(0, g.brk - bytes);
    if (r < 80 && !g.empty) return Math.max(0, g.any(rng).start - rng.below(3)) * PAGE_SIZE;
    if (r < 88) return rng.below(HEAP_START);
    if (r < 95) return g.brk + (17 + rng.below(512)) * PAGE_SIZE;
    return LAST_BRK - 2 * PAGE_SIZE + rng.below(4 * PAGE_SIZE);
  }

  /** A range for munmap, mprotect and madvise: sometimes exactly one guessed mapping. */
  private pick_range(g: Guess): { addr: number; pages: number } {
    if (!g.empty && chance(this.rng, 30)) {
      const r = g.any(this.rng);
      return { addr: r.start * PAGE_SIZE, pages: r.end - r.start };
    }
    const addr = this.pick_addr(g);
    return { addr, pages: this.fit(addr, pick_pages(this.rng)) };
  }

  /** A start address for a syscall; 7% not page-aligned (EINVAL, or a rounded hint). */
  private pick_addr(g: Guess): number {
    const page = this.pick_page(g);
    return page * PAGE_SIZE + (chance(this.rng, 7) ? 1 + this.rng.below(PAGE_SIZE - 1) : 0);
  }

  /**
   * A start page: around a guessed mapping (on it, inside it, just before
   * it so that the range is partly unmapped, right after it, or across its
   * end), in one of the clusters, anywhere, or at the window's end.
   */
  private pick_page(g: Guess): number {
    const rng = this.rng;
    const r = rng.below(100);
    if (!g.empty && r < 55) {
      const m = g.any(rng);
      const size = m.end - m.start;
      switch (rng.below(5)) {
        case 0:
          return m.start;
        case 1:
          return m.start + rng.below(size);
        case 2:
          return Math.max(0, m.start - 1 - rng.below(8));
        case 3:
          return m.end;
        default:
          return m.end - 1 - rng.below(Math.min(size, 8));
      }
    }
    if (r < 92) return this.cluster_page(r < 75);
    if (r < 98) return rng.below(WINDOW_PAGES);
    // At the window's end (OUTSIDE with most lengths) or past it.
    return WINDOW_PAGES - rng.below(4) + (chance(rng, 30) ? rng.below(1024) : 0);
  }

  /**
   * A page in the top cluster (mostly its last 4 MiB, where top-down
   * placement starts) or the low one; a quarter of them 2 MiB-aligned.
   */
  private cluster_page(top: boolean): number {
    const rng = this.rng;
    const page = top
      ? WINDOW_PAGES - 1 - rng.below(chance(rng, 60) ? 1024 : CLUSTER_PAGES)
      : rng.below(CLUSTER_PAGES);
    return chance(rng, 25) ? page - (page % THP_PAGES) : page;
  }

  /**
   * An address for read or write: often one some process wrote before
   * (COW after fork, a shared mapping seen from another process), mostly
   * inside a guessed mapping, sometimes in a cluster (likely SIGSEGV), and
   * rarely across the window's end (OUTSIDE past 0x3ffffffc).
   */
  private pick_access(g: Guess): number {
    const rng = this.rng;
    const stacks = g.stacks();
    if (this.aim.below_stack_percent > 0 && stacks.length > 0) {
      if (chance(rng, this.aim.below_stack_percent)) {
        const s = pick(rng, stacks);
        return Math.max(0, s.start - 1 - rng.below(3)) * PAGE_SIZE + pick_in_page(rng);
      }
    }
    const r = rng.below(100);
    if (this.written.length > 0 && r < 30) return pick(rng, this.written);
    if (!g.empty && r < 85) {
      const m = g.any(rng);
      return (m.start + rng.below(m.end - m.start)) * PAGE_SIZE + pick_in_page(rng);
    }
    if (r < 96) return this.cluster_page(chance(rng, 60)) * PAGE_SIZE + pick_in_page(rng);
    return LAST_ACCESS - 4 + rng.below(8);
  }
}

/**
 * One random script of exactly `commands` lines (default 40) that
 * parse_script accepts; the same Rng state gives the same text.
 */
export function random_script(
  rng: Rng,
  opts: { commands?: number; secret?: boolean } = {},
): string {
  const aim = opts.secret === false ? { ...DIFF_AIM, secret_percent: 0 } : DIFF_AIM;
  return new ScriptGen(rng, aim).script(opts.commands ?? DEFAULT_COMMANDS);
}
