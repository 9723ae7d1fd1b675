/*
 * What the random script generator (gen.ts) believes each process has
 * mapped: a rough guess kept from the commands' flags alone, so that most
 * ranges and accesses aim at memory that is probably there. A wrong guess
 * costs only a less interesting command: every runner reports what really
 * happened.
 */
import type { Rng } from '../scenarios/random.js';
import { type Command, HEAP_START, is_outside, PAGE_SIZE, WINDOW_BYTES } from '../script/ast.js';

const WINDOW_PAGES = WINDOW_BYTES / PAGE_SIZE;
/** A PMD-sized THP: anonymous private mappings of a multiple of it are aligned to it. */
export const THP_PAGES = (2 << 20) / PAGE_SIZE;

export interface Range {
  /** First page. */
  readonly start: number;
  /** One past the last page. */
  readonly end: number;
  /** A private anonymous MAP_GROWSDOWN mapping: a fault just below it may grow it. */
  readonly growsdown: boolean;
}

/**
 * The page ranges a process probably has mapped, sorted and disjoint.
 * Adjacent ranges are deliberately not merged: the edge between two
 * mappings is a good place to aim at, whether or not the kernel merged them.
 */
export class Guess {
  constructor(
    private ranges: Range[] = [],
    /** The program break, a window offset: where p0's heap starts, or the parent's break. */
    public brk = HEAP_START,
  ) {}

  clone(): Guess {
    return new Guess([...this.ranges], this.brk);
  }

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  any(rng: Rng): Range {
    return this.ranges[rng.below(this.ranges.length)]!;
  }

  /** The guessed stacks: where a fault just below the start grows the mapping. */
  stacks(): Range[] {
    return this.ranges.filter((r) => r.growsdown);
  }

  is_free(start: number, end: number): boolean {
    return this.ranges.every((r) => r.end <= start || r.start >= end);
  }

  unmap(start: number, end: number): void {
    this.ranges = this.ranges.flatMap((r) => {
      if (r.end <= start || r.start >= end) return [r];
      const left = r.start < start ? [{ ...r, end: start }] : [];
      const right = r.end > end ? [{ ...r, start: end }] : [];
      return [...left, ...right];
    });
  }

  map(start: number, end: number, growsdown = false): void {
    this.unmap(start, end);
    this.ranges.push({ start, end, growsdown });
    this.ranges.sort((a, b) => a.start - b.start);
  }

  /**
   * Where a mapping without a usable hint goes: the highest free gap below
   * the window's top that fits, its start aligned down to `align` pages
   * (Linux's top-down unmapped_area_topdown, without the stack guard gap).
   */
  top_down(pages: number, align: number): number | null {
    let gap_end = WINDOW_PAGES;
    for (let i = this.ranges.length; i >= 0; i--) {
      const gap_start = i > 0 ? this.ranges[i - 1]!.end : 0;
      const start = Math.floor((gap_end - pages) / align) * align;
      if (start >= gap_start) return start;
      if (i > 0) gap_end = this.ranges[i - 1]!.start;
    }
    return null;
  }
}

/** What mmap probably did, from the flags alone. */
export function guess_mmap(g: Guess, c: Extract<Command, { op: 'mmap' }>): void {
  if (c.pages === 0) return; // EINVAL
  const growsdown = c.growsdown && c.file === null && !c.shared;
  if (c.addr !== null) {
    if (is_outside(c)) return;
    const start = Math.floor(c.addr / PAGE_SIZE);
    const end = start + c.pages;
    if (c.fixed || c.noreplace) {
      if (c.addr % PAGE_SIZE !== 0) return; // EINVAL
      if (c.noreplace && !g.is_free(start, end)) return; // EEXIST
      g.map(start, end, growsdown);
      return;
    }
    // A hint is rounded down to a page and used if the range is free.
    if (g.is_free(start, end)) {
      g.map(start, end, growsdown);
      return;
    }
  }
  const thp = c.file === null && !c.shared && c.pages % THP_PAGES === 0;
  const start = g.top_down(c.pages, thp ? THP_PAGES : 1);
  if (start !== null) g.map(start, start + c.pages, growsdown);
}

/** What mremap probably did: shrink or grow in place, else move if allowed. */
export function guess_mremap(g: Guess, c: Extract<Command, { op: 'mremap' }>): void {
  const { addr, old_pages, new_pages, fixed } = c;
  if (is_outside(c)) return;
  if (addr % PAGE_SIZE !== 0 || new_pages === 0) return; // EINVAL
  // MREMAP_FIXED and MREMAP_DONTUNMAP need MREMAP_MAYMOVE; DONTUNMAP keeps the size.
  if ((fixed !== null || c.dontunmap) && !c.maymove) return;
  if (c.dontunmap && old_pages !== new_pages) return;
  const old = addr / PAGE_SIZE;
  let dest: number | null;
  if (fixed !== null) {
    if (fixed % PAGE_SIZE !== 0) return;
    dest = fixed / PAGE_SIZE;
  } else if (!c.dontunmap && new_pages <= old_pages) {
    g.unmap(old + new_pages, old + old_pages);
    return;
  } else if (!c.dontunmap && g.is_free(old + old_pages, old + new_pages)) {
    g.map(old, old + new_pages);
    return;
  } else {
    dest = c.maymove ? g.top_down(new_pages, 1) : null;
  }
  if (dest === null) return;
  if (!c.dontunmap) g.unmap(old, old + old_pages);
  g.map(dest, dest + new_pages);
}

/** PAGE_ALIGN(addr) as a page: where a heap ending at break `addr` ends. */
const heap_end = (addr: number) => Math.ceil(addr / PAGE_SIZE);

/**
 * What brk probably did: nothing below the heap's start, shrink (if some
 * of the heap is left), or grow if a page above the new break stays free.
 */
export function guess_brk(g: Guess, c: Extract<Command, { op: 'brk' }>): void {
  if (is_outside(c) || c.addr < HEAP_START) return;
  const old = heap_end(g.brk);
  const end = heap_end(c.addr);
  if (end < old) g.unmap(end, old);
  else if (end > old) {
    if (!g.is_free(old, end + 1)) return;
    g.map(old, end);
  }
  g.brk = c.addr;
}
