/*
 * Duels: programs of `mmlab fuzz` short enough for DFS. One CPU uses a
 * VMA `v` of p0 that the setup left while another ends or reshapes it,
 * each in one command or two, so that a search of every schedule with at
 * most three preemptions reaches far within fuzz's budget (DUEL_PHASES,
 * fuzz.ts).
 *
 * Why: a race on the lifetime of an object needs each CPU stopped at one
 * of a few accesses among hundreds. The put of a VMA that munmap frees
 * (seeds 000 and 001) takes two or three preemptions at such places; PCT
 * places d - 1 change points among k ~ 2,000 steps, so it meets them with
 * probability about 1/(n k^2). On a two-line program (a fault against the
 * munmap of its VMA), 10,000 schedules each of random, PCT, focus and
 * word at depth 3 meet neither seed, where DFS meets seed 000 after about
 * 1,800 schedules and seed 001 after about 11,000; in program 69 of seed
 * 1, a duel that moves the faulted VMA, after 435 and 4,951. Programs of
 * three commands a CPU (gen_concurrent.ts) are past DFS's reach; so a
 * duel keeps only the race.
 *
 * The shapes, each around v and a word w of it (one of its pages, where a
 * shape splits it):
 *
 *   end      one CPU reads or writes w (a fault, under the VMA lock where
 *            the policy has one); another ends v: munmap of v or of w's
 *            page, mmap fixed over w's page, or mremap moving v away.
 *            Half the time the ending CPU then maps a page again, unlike
 *            its neighbours so that it merges with none and allocates a
 *            vm_area_struct: under vma-refcnt the one it just freed, from
 *            its own CPU's slab (SLAB_TYPESAFE_BY_RCU: the reader may meet
 *            it recycled); in p0 where v was (a lookup that retries finds
 *            it), or at w's page in a child the setup forked and cleared
 *            there (the reader must see that the VMA it found, covering
 *            w, is another mm's: vma_start_read()'s vm_mm check). With
 *            three CPUs or more, the third then ends the child: its
 *            exit_mmap() write-locks the recycled VMA, waiting for the
 *            reader's transient reference, and frees the mm, which the
 *            reader's put must have pinned (9bbffee67ffd).
 *   reshape  one CPU writes w while another splits v at w's page
 *            (mprotect) and then reads w (a write that walked the page
 *            tables before the mprotect and stores after it returned,
 *            through a translation no TLB flush took away, is seen), or
 *            mprotects the pages past it (so that the VMA object a
 *            lockless lookup found no longer covers w); or one CPU reads
 *            or writes w while another zaps w's page (madvise dontneed)
 *   twice    two CPUs change the tree at once, in v and in a VMA far from
 *            it (the setup gains one where it has none): mprotect or munmap
 *            of a page, a split where the page is inside its VMA
 *
 * In an end or a reshape that changes p0's VMAs (not a zap), the CPU
 * that uses v then reads /proc/PID/maps of p0, MAPS_PERCENT of the time:
 * a reader that walks the VMA index under RCU, read-locking one VMA at a
 * time (lock_next_vma(), mm/mmap_lock.c), and prints each, so that the
 * file must be a walk through the states before and after the change
 * (scripts.md, "maps"). Its races are the same shapes' (a VMA found and
 * then split, shrunk from below, unmapped, replaced by a MAP_FIXED,
 * moved by mremap, or freed and recycled into the child), and the
 * access before it keeps the duel's own: each is one preemption of the
 * reading CPU away, the other CPU not yet started.
 *
 * Further CPUs of a campaign of three or four (but the child's exit)
 * read or write w. The orders limit of every program (fit_orders(),
 * gen_concurrent.ts) may cut the remapping on four.
 */

import type { Rng } from '../scenarios/random.js';
import { type Command, type Line, PAGE_SIZE, type Prot } from '../script/ast.js';
import type { MapsLine } from '../script/print.js';
import type { ModelRun } from '../script/run_model.js';
import { chance, pick, weighted } from './gen.js';
import {
  free_ranges,
  like,
  type Range,
  run_setup,
  unlike,
  vmas_of,
  word_access,
  word_in,
} from './gen_aims.js';

/** A duel: its setup and each CPU's commands. */
export interface Duel {
  readonly setup: readonly Line[];
  readonly sections: readonly Line[][];
}

type Shape = 'end' | 'reshape' | 'twice';
const SHAPES: readonly (readonly [Shape, number])[] = [
  ['end', 55],
  ['reshape', 20],
  ['twice', 25],
];
/** How often the ending CPU maps again after `end`, taking the freed VMA back. */
const RECYCLE_PERCENT = 50;
/** How often a recycling maps into a child rather than into p0. */
const CHILD_PERCENT = 50;
/** The child a recycling maps into: the duel's setup forks once, last, and children are named in text order. */
const CHILD = 1;
/** How often a change of twice is an mprotect rather than a munmap. */
const MPROTECT_PERCENT = 60;
/** How often an access is a write (of a value no other line writes) rather than a read. */
const WRITE_PERCENT = 50;
/**
 * How often the CPU that uses v, where the other changes p0's VMAs, reads
 * /proc/PID/maps after w: drawn last, so that the duel is otherwise the
 * one drawn.
 */
const MAPS_PERCENT = 30;
/** How often the setup maps a second VMA, and how often that one is v's neighbour (else far). */
const SECOND_PERCENT = 60;
const NEIGHBOUR_PERCENT = 50;

const P = PAGE_SIZE;
/**
 * Below it a duel maps nothing: Linux's default vm.mmap_min_addr, where
 * the model refuses only page 0 (MMAP_MIN_PAGE), so that a duel's
 * mappings are ones a process could make on Linux.
 */
const MMAP_MIN_ADDR = 0x10000;
/** Where the setup maps: low in the window, in two places apart (a range lock of one never reaches the other). */
const NEAR = 0x100000;
const FAR = 0x800000;
/** The most pages a mapping has, and the file a file mapping maps. */
const MAX_PAGES = 8;
const FILE_NAME = 'f1';
const FILE_PAGES = 2 * MAX_PAGES;
const FILE: Line = {
  line: 0,
  pid: 0,
  cmd: { op: 'file', name: FILE_NAME, pages: FILE_PAGES, secret: false },
};

const at = (pid: number, cmd: Command): Line => ({ line: 0, pid, cmd });

/**
 * A duel for `cpus` CPUs, setup and all: one or two small mappings of
 * p0 (a few pages each, of any kind; a schedule's length is the
 * program's, and DFS's reach falls with it), a word or two written,
 * then the race. Null where the drawn shape does not fit the mappings.
 */
export function duel(rng: Rng, cpus: number): Duel | null {
  const setup = duel_setup(rng);
  const run = run_setup(setup);
  if (run === null) return null;
  const vmas = vmas_of(run, 0);
  if (vmas.length === 0) return null;
  const v = pick(rng, vmas);
  const w = word_in(rng, v);
  const shape = weighted(rng, SHAPES);
  const d =
    shape === 'end'
      ? end(rng, run, v, w, cpus)
      : shape === 'reshape'
        ? reshape(rng, vmas, v, w)
        : twice(rng, vmas, v);
  if (d === null) return null;
  const sections = [...d.sections];
  while (sections.length < cpus) sections.push([word_access(rng, w, WRITE_PERCENT)]);
  if (shape !== 'twice' && changes_layout(sections[1]!) && chance(rng, MAPS_PERCENT))
    sections[0] = [...sections[0]!, at(0, { op: 'maps' })];
  return { setup: [...setup, ...d.setup], sections };
}

/* Whether the changing CPU's commands move a VMA boundary or a protection (a zap changes neither). */
function changes_layout(changer: readonly Line[]): boolean {
  return changer.some((l) => l.cmd.op !== 'madvise');
}

/* The setup: v, maybe a second mapping beside it or far from it, and up to two writes into those writable. */
function duel_setup(rng: Rng): Line[] {
  const pages = 1 + rng.below(MAX_PAGES);
  const start = NEAR + P * rng.below(16);
  const ranges: Range[] = [{ start, end: start + pages * P }];
  const maps = [mapping(rng, ranges[0]!)];
  if (chance(rng, SECOND_PERCENT)) {
    const second = chance(rng, NEIGHBOUR_PERCENT) ? ranges[0]!.end : FAR;
    ranges.push({ start: second, end: second + P * (1 + rng.below(MAX_PAGES)) });
    maps.push(mapping(rng, ranges[1]!));
  }
  const writable = ranges.filter((_, i) => maps[i]!.prot.write);
  const writes = Array.from({ length: writable.length === 0 ? 0 : rng.below(3) }, () =>
    at(0, { op: 'write', addr: word_in(rng, pick(rng, writable)), value: rng.next_u32() }),
  );
  const file = maps.some((m) => m.file !== null) ? [FILE] : [];
  return [...file, ...maps.map((m) => at(0, m)), ...writes];
}

type Kind = 'private' | 'shared' | 'file' | 'shared-file' | 'stack';
const KINDS: readonly (readonly [Kind, number])[] = [
  ['private', 45],
  ['shared', 15],
  ['file', 15],
  ['shared-file', 10],
  ['stack', 15],
];
const PROTS: readonly (readonly [Prot, number])[] = [
  [{ read: true, write: true, exec: false }, 70],
  [{ read: true, write: false, exec: false }, 15],
  [{ read: true, write: false, exec: true }, 15],
];

/* A fixed mapping of `r` of a kind drawn. */
function mapping(rng: Rng, r: Range): Extract<Command, { op: 'mmap' }> {
  const kind = weighted(rng, KINDS);
  const file = kind === 'file' || kind === 'shared-file';
  const pages = (r.end - r.start) / P;
  return {
    op: 'mmap',
    addr: r.start,
    pages,
    prot: kind === 'stack' ? PROTS[0]![0] : weighted(rng, PROTS),
    shared: kind === 'shared' || kind === 'shared-file',
    file: file ? FILE_NAME : null,
    off: file ? rng.below(FILE_PAGES - pages + 1) : 0,
    fixed: true,
    noreplace: false,
    populate: false,
    growsdown: kind === 'stack',
  };
}

/* w's page of v, as a range. */
function page_of(w: number): Range {
  const start = w - (w % P);
  return { start, end: start + P };
}

function end(rng: Rng, run: ModelRun, v: MapsLine, w: number, cpus: number): Duel | null {
  const ender = ending(rng, run, v, w);
  if (ender === null) return null;
  const sections: Line[][] = [[word_access(rng, w, WRITE_PERCENT)], [at(0, ender)]];
  if (!chance(rng, RECYCLE_PERCENT)) return { setup: [], sections };
  if (!chance(rng, CHILD_PERCENT)) {
    sections[1]!.push(at(0, anon(page_of(w), unlike(v))));
    return { setup: [], sections };
  }
  // w's page in the child, where p0's reader looks: the child's copies of
  // v and of the VMAs beside it unmapped in the setup, so that nothing merges.
  sections[1]!.push(at(CHILD, anon(page_of(w))));
  if (cpus >= 3) sections.push([at(CHILD, { op: 'exit' })]);
  const around = with_neighbours(vmas_of(run, 0), v);
  const unmap: Command = {
    op: 'munmap',
    addr: around.start,
    pages: (around.end - around.start) / P,
  };
  return { setup: [at(0, { op: 'fork' }), at(CHILD, unmap)], sections };
}

/* v and the VMAs that touch it (v's neighbours, theirs, ...), as one range. */
function with_neighbours(vmas: readonly MapsLine[], v: MapsLine): Range {
  const r = { start: v.start, end: v.end };
  for (const o of [...vmas].sort((a, b) => b.start - a.start))
    if (o.end === r.start) r.start = o.start;
  for (const o of [...vmas].sort((a, b) => a.start - b.start)) if (o.start === r.end) r.end = o.end;
  return r;
}

/* A fixed private anonymous mapping of `r`, read-write unless `prot` says otherwise. */
function anon(r: Range, prot: Prot = PROTS[0]![0]): Command {
  return like({ start: r.start, end: r.end, perm: 'rw-p', offset: 0, name: '' }, r, prot)!;
}

/* The start of `len` bytes no mapping of p0 covers, at mmap_min_addr or above; null if none. */
function free_at(rng: Rng, run: ModelRun, len: number): number | null {
  const room = (g: Range) => g.end - Math.max(g.start, MMAP_MIN_ADDR) >= len;
  const gaps = free_ranges(run).filter(room);
  return gaps.length === 0 ? null : Math.max(pick(rng, gaps).start, MMAP_MIN_ADDR);
}

/* A command of p0 that ends v under an access of w. */
function ending(rng: Rng, run: ModelRun, v: MapsLine, w: number): Command | null {
  const page = page_of(w);
  switch (rng.below(4)) {
    case 0:
      return { op: 'munmap', addr: v.start, pages: (v.end - v.start) / P };
    case 1:
      return { op: 'munmap', addr: page.start, pages: 1 };
    case 2:
      return anon(page, unlike(v));
    default: {
      const len = v.end - v.start;
      const dst = free_at(rng, run, len);
      if (dst === null) return null;
      const pages = len / P;
      return {
        op: 'mremap',
        addr: v.start,
        old_pages: pages,
        new_pages: pages,
        maymove: true,
        dontunmap: false,
        fixed: dst,
      };
    }
  }
}

/*
 * What a reshape does to v under the access of w: split it at w's page
 * (mprotect); mprotect the pages past w's page (write permission flipped,
 * the access a write), which leaves the vm_area_struct the reader found
 * attached but covering those pages, not w's (a split keeps the object
 * for the upper part, as munmap's does, but munmap detaches it:
 * lock_vma_under_rcu() must check the range again once the VMA is
 * locked); or zap w's page (madvise dontneed). A split's access is a
 * write (its fault decides on the write permission the mprotect flips),
 * and the changing CPU reads w after it: once mprotect() has returned, no
 * access that began before may still land through the old PTE, since
 * change_protection() flushes the TLB (flush_tlb_range()) before it
 * returns. A write that stores after it through a translation no flush
 * took away is then missing from the read, where every serial order puts
 * it before the read or, the page made read-only, refuses it: one
 * preemption of the writer, between its walk and its store.
 */
type Reshape = 'split' | 'past' | 'zap';
const RESHAPES: readonly (readonly [Reshape, number])[] = [
  ['split', 35],
  ['past', 25],
  ['zap', 40],
];

function reshape(rng: Rng, vmas: readonly MapsLine[], v: MapsLine, w: number): Duel {
  const page = page_of(w);
  const kind = weighted(rng, RESHAPES);
  // A VMA at v's end might merge with the pages past w (then the object keeps w): split at w instead.
  const past = kind === 'past' && page.end < v.end && !vmas.some((o) => o.start === v.end);
  const cmd: Command =
    kind === 'zap'
      ? { op: 'madvise', addr: page.start, pages: 1, advice: 'dontneed' }
      : past
        ? { op: 'mprotect', addr: page.end, pages: (v.end - page.end) / P, prot: unlike(v) }
        : { op: 'mprotect', addr: page.start, pages: 1, prot: unlike(v) };
  // A fault through the object that now covers the pages past w's, or through w's
  // split, takes their protection: a write shows it.
  const access = word_access(rng, w, kind === 'zap' ? WRITE_PERCENT : 100);
  // An mprotect of w's page (a split, or a past where none fits), then a read of w.
  const seen: Line[] = kind !== 'zap' && !past ? [at(0, { op: 'read', addr: w })] : [];
  return { setup: [], sections: [[access], [at(0, cmd), ...seen]] };
}

/*
 * Two changes at once, in v and in a VMA far from it: every policy but
 * range serializes them under mmap_lock, and range locks whole VMAs and
 * their neighbours (vma_extent()), so only VMAs apart run both at once.
 * The setup gains one at FAR where it has none. Each change is of an inner
 * page where the VMA has one, so that it splits.
 */
function twice(rng: Rng, vmas: readonly MapsLine[], v: MapsLine): Duel {
  const apart = vmas.filter((o) => o.end < v.start || o.start > v.end);
  // Where the setup left none apart, the VMA anon() maps at FAR.
  const made: MapsLine = {
    start: FAR,
    end: FAR + v.end - v.start,
    perm: 'rw-p',
    offset: 0,
    name: '',
  };
  const far = apart.length > 0 ? pick(rng, apart) : made;
  const setup = apart.length > 0 ? [] : [at(0, anon(made))];
  const change = (o: MapsLine): Line[] => {
    const n = (o.end - o.start) / P;
    const start = o.start + P * (n < 3 ? rng.below(n) : 1 + rng.below(n - 2));
    const cmd: Command = chance(rng, MPROTECT_PERCENT)
      ? { op: 'mprotect', addr: start, pages: 1, prot: unlike(o) }
      : { op: 'munmap', addr: start, pages: 1 };
    return [at(0, cmd)];
  };
  return { setup, sections: [change(v), change(far)] };
}
