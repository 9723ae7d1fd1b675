/*
 * What `mmlab fuzz` aims at beside pins (gen_concurrent.ts): a merge of
 * VMAs, or a move of populated memory, that one CPU makes while the
 * others access the VMAs it changes.
 *
 * A merge needs two VMAs alike and adjacent, which programs drawn command
 * by command almost never make: the merges of mm/vma.c went unseen by
 * every campaign of docs/mutants.md. So an aim builds one around a VMA `v`
 * of p0 that the setup left (the setup run alone on the model says where;
 * the explored run places mappings alike). The setup may gain a mapping
 * beside v, and the aiming CPU's first command makes them one:
 *
 *   fill    a like VMA a hole above v; the CPU maps the hole, like v:
 *           vma_merge_new_range() with prev and next, next removed
 *   extend  the CPU maps pages just above or below v, like v:
 *           vma_merge_new_range() expanding prev or next
 *   absorb  an unlike VMA beside v (now and then a like one past it);
 *           the CPU mprotects all of it to v's protection:
 *           vma_merge_existing_range(), middle (and next) removed
 *   edge    an unlike VMA beside v; the CPU mprotects its pages next to
 *           v: vma_merge_existing_range() moving the boundary
 *
 * Half the time the setup writes the unlike VMA, so that it has an
 * anon_vma where v may have none (dup_anon_vma() of the VMA that grows).
 *
 *   move    the CPU moves a VMA (mremap fixed=, now and then with
 *           dontunmap) onto a mapping the setup wrote at the offset of a
 *           word of it, one the setup wrote or one never touched: the
 *           outcome records the word there, so a write another CPU makes
 *           at the old place during the move is seen if it is lost
 *
 * An aim is kept only if, run on the model after the setup, it does what
 * it is for: the VMA at a merge's address reaches past the merge's range,
 * a move returns its destination.
 */

import { KernelBug } from '../runtime/ops.js';
import type { Rng } from '../scenarios/random.js';
import {
  type Command,
  type Line,
  PAGE_SIZE,
  type Prot,
  ScriptError,
  WINDOW_BYTES,
} from '../script/ast.js';
import { parse_script } from '../script/parse.js';
import type { MapsLine } from '../script/print.js';
import { format_script } from '../script/print.js';
import { type ModelRun, run_model } from '../script/run_model.js';
import { chance, pick, weighted } from './gen.js';

/**
 * The lines run alone on the model, as the explored run will place them:
 * the KernelBug where the model breaks an invariant on them, null where
 * they cannot run (its memory runs out).
 */
function run_alone(lines: readonly Line[]): ModelRun | KernelBug | null {
  try {
    return run_model(parse_script(format_script(lines)));
  } catch (e) {
    if (e instanceof KernelBug) return e;
    if (e instanceof ScriptError) return null;
    throw e;
  }
}

/** The lines run alone on the model, or null where that fails whatever the reason. */
export function run_setup(lines: readonly Line[]): ModelRun | null {
  const run = run_alone(lines);
  return run instanceof KernelBug ? null : run;
}

/** Process `pid`'s VMAs in the window after `run`, ascending (none if it is not alive). */
export function vmas_of(run: ModelRun, pid: number): readonly MapsLine[] {
  return run.maps.find((m) => m.pid === pid)?.vmas ?? [];
}

/** A byte range of the window, [start, end). */
export interface Range {
  readonly start: number;
  readonly end: number;
}

/** One aim: lines the setup gains, the aiming CPU's first command, and where the other CPUs access. */
export interface VmaAim {
  readonly setup: readonly Line[];
  readonly line: Line;
  /** The VMAs the aim changes: the other CPUs read or write a word of one. */
  readonly ranges: readonly Range[];
}

type Shape = 'fill' | 'extend' | 'absorb' | 'edge' | 'move';
const SHAPES: readonly (readonly [Shape, number])[] = [
  ['fill', 20],
  ['extend', 15],
  ['absorb', 25],
  ['edge', 15],
  ['move', 25],
];
/** How often the unlike VMA of `absorb` and `edge` is written in the setup (it gains an anon_vma). */
const WRITTEN_PERCENT = 50;
/** How often `absorb` finds a like VMA past the unlike one, so that the mprotect merges three into one. */
const THREE_PERCENT = 40;
/** How often a move of private anonymous memory keeps the old range (MREMAP_DONTUNMAP). */
const DONTUNMAP_PERCENT = 25;
/** Draws tried before a program goes without an aim. */
const TRIES = 3;

const P = PAGE_SIZE;
const line = (cmd: Command): Line => ({ line: 0, pid: 0, cmd });

/** A merge or a move of p0's memory that the model shows taking effect after `setup`; null if none is found. */
export function vma_aim(rng: Rng, setup: readonly Line[]): VmaAim | null {
  // A setup the model fails on is reported by the explored run's prologue.
  const run = run_setup(setup);
  if (run === null) return null;
  // Shared anonymous memory is a new object at each mmap: nothing maps it alike.
  const vmas = vmas_of(run, 0).filter((v) => v.name !== '[shmem]');
  for (let i = 0; i < TRIES && vmas.length > 0; i++) {
    const aim = draw(rng, weighted(rng, SHAPES), pick(rng, vmas), setup, run);
    if (aim !== null && takes_effect(setup, run, aim)) return aim;
  }
  return null;
}

function draw(
  rng: Rng,
  shape: Shape,
  v: MapsLine,
  setup: readonly Line[],
  run: ModelRun,
): VmaAim | null {
  switch (shape) {
    case 'fill':
      return fill(rng, v);
    case 'extend':
      return extend(rng, v);
    case 'absorb':
      return absorb(rng, v);
    case 'edge':
      return edge(rng, v);
    case 'move':
      return move(rng, v, setup, run);
  }
}

function fill(rng: Rng, v: MapsLine): VmaAim | null {
  const hole = (1 + rng.below(2)) * P;
  const next = { start: v.end + hole, end: v.end + hole + (1 + rng.below(3)) * P };
  const filler = like(v, { start: v.end, end: next.start });
  const after = like(v, next);
  if (filler === null || after === null) return null;
  return { setup: [line(after)], line: line(filler), ranges: [v, next] };
}

function extend(rng: Rng, v: MapsLine): VmaAim | null {
  const pages = (1 + rng.below(3)) * P;
  const r = chance(rng, 50)
    ? { start: v.end, end: v.end + pages }
    : { start: v.start - pages, end: v.start };
  const cmd = like(v, r);
  return cmd === null ? null : { setup: [], line: line(cmd), ranges: [v, r] };
}

/* An unlike VMA of `pages` above or below v, with the setup lines that map (and maybe write) it. */
function unlike_neighbour(
  rng: Rng,
  v: MapsLine,
  pages: number,
): { middle: Range; above: boolean; setup: Line[] } | null {
  const above = chance(rng, 50);
  const middle = above
    ? { start: v.end, end: v.end + pages * P }
    : { start: v.start - pages * P, end: v.start };
  const map = like(v, middle, unlike(v));
  if (map === null) return null;
  const setup = [line(map)];
  if (chance(rng, WRITTEN_PERCENT))
    setup.push(line({ op: 'write', addr: word_in(rng, middle), value: rng.next_u32() }));
  return { middle, above, setup };
}

function absorb(rng: Rng, v: MapsLine): VmaAim | null {
  const n = unlike_neighbour(rng, v, 1 + rng.below(3));
  if (n === null) return null;
  const { middle, above } = n;
  const setup = [...n.setup];
  const ranges: Range[] = [v, middle];
  if (chance(rng, THREE_PERCENT)) {
    const pages = (1 + rng.below(2)) * P;
    const far = above
      ? { start: middle.end, end: middle.end + pages }
      : { start: middle.start - pages, end: middle.start };
    const map = like(v, far);
    if (map === null) return null;
    setup.unshift(line(map));
    ranges.push(far);
  }
  const pages = (middle.end - middle.start) / P;
  const cmd: Command = { op: 'mprotect', addr: middle.start, pages, prot: prot_of(v) };
  return { setup, line: line(cmd), ranges };
}

function edge(rng: Rng, v: MapsLine): VmaAim | null {
  const total = 2 + rng.below(2);
  const n = unlike_neighbour(rng, v, total);
  if (n === null) return null;
  const pages = 1 + rng.below(total - 1);
  const addr = n.above ? n.middle.start : n.middle.end - pages * P;
  const cmd: Command = { op: 'mprotect', addr, pages, prot: prot_of(v) };
  return { setup: n.setup, line: line(cmd), ranges: [v, n.middle] };
}

function move(rng: Rng, v: MapsLine, setup: readonly Line[], run: ModelRun): VmaAim | null {
  const len = v.end - v.start;
  const gaps = free_ranges(run).filter((g) => g.end - g.start >= len);
  if (gaps.length === 0) return null;
  const gap = pick(rng, gaps);
  const dst = gap.start + P * rng.below((gap.end - gap.start - len) / P + 1);
  const written = setup.flatMap((l, i) =>
    l.pid === 0 &&
    l.cmd.op === 'write' &&
    run.results[i] === 'ok' &&
    v.start <= l.cmd.addr &&
    l.cmd.addr + 4 <= v.end
      ? [l.cmd.addr & ~3]
      : [],
  );
  // A word the setup wrote, or one no fault has touched yet, which the
  // racing CPU's access then faults in while the page tables move.
  const word = written.length > 0 && chance(rng, 50) ? pick(rng, written) : word_in(rng, v);
  // The destination mapped and written first: its word is one the outcome
  // records, and the move must leave there what the old place held.
  const at_target = like({ ...v, perm: 'rw-p', name: '' }, { start: dst, end: dst + len })!;
  const remap: Command = {
    op: 'mremap',
    addr: v.start,
    old_pages: len / P,
    new_pages: len / P,
    maymove: true,
    dontunmap: v.perm.endsWith('p') && v.name === '' && chance(rng, DONTUNMAP_PERCENT),
    fixed: dst,
  };
  return {
    setup: [
      line(at_target),
      line({ op: 'write', addr: dst + (word - v.start), value: rng.next_u32() }),
    ],
    line: line(remap),
    ranges: [{ start: word, end: word + 4 }],
  };
}

/** The window's page ranges that map nothing in p0. */
export function free_ranges(run: ModelRun): Range[] {
  const out: Range[] = [];
  let at = 0;
  for (const v of [...vmas_of(run, 0), { start: WINDOW_BYTES, end: WINDOW_BYTES }]) {
    if (v.start > at) out.push({ start: at, end: v.start });
    at = Math.max(at, v.end);
  }
  return out;
}

/** A fixed mmap of `r` that is like v (its protection unless `prot` says otherwise, its file at the offset v would have there); null outside the window or before the file. */
export function like(
  v: MapsLine,
  r: Range,
  prot: Prot = prot_of(v),
): Extract<Command, { op: 'mmap' }> | null {
  const off = v.name === '' ? 0 : (v.offset + r.start - v.start) / P;
  if (r.start < 0 || r.end > WINDOW_BYTES || off < 0) return null;
  return {
    op: 'mmap',
    addr: r.start,
    pages: (r.end - r.start) / P,
    prot,
    shared: v.perm.endsWith('s'),
    file: v.name === '' ? null : v.name,
    off,
    fixed: true,
    noreplace: false,
    populate: false,
    growsdown: false,
  };
}

function prot_of(v: MapsLine): Prot {
  return { read: v.perm[0] === 'r', write: v.perm[1] === 'w', exec: v.perm[2] === 'x' };
}

/** v's protection with write flipped: a VMA beside v that no merge joins to it. */
export function unlike(v: MapsLine): Prot {
  return { ...prot_of(v), write: v.perm[1] !== 'w' };
}

/** A read or, `write_percent` times in a hundred, a write (of a value drawn) of word `addr` of p0. */
export function word_access(rng: Rng, addr: number, write_percent: number): Line {
  return chance(rng, write_percent)
    ? { line: 0, pid: 0, cmd: { op: 'write', addr, value: rng.next_u32() } }
    : { line: 0, pid: 0, cmd: { op: 'read', addr } };
}

/** An aligned word of `r`. */
export function word_in(rng: Rng, r: Range): number {
  return r.start + 4 * rng.below((r.end - r.start) / 4);
}

/*
 * Whether the aim's command, run after the setup (which gave `run`) and
 * the aim's own setup lines, merges (the VMA at its address afterwards
 * reaches past both its range and the VMA there before) or moves (mremap
 * returns its destination). An aim the model breaks an invariant on is
 * kept: the explored run meets the bug and reports it (a kernel whose
 * every merge trips an assertion must not make the fuzzer stop merging).
 */
function takes_effect(setup: readonly Line[], run: ModelRun, aim: VmaAim): boolean {
  const after = run_alone([...setup, ...aim.setup, aim.line]);
  if (after instanceof KernelBug) return true;
  if (after === null) return false;
  const cmd = aim.line.cmd;
  if (cmd.op === 'mremap') {
    const result = after.results[after.results.length - 1]!;
    return /^0x/.test(result) && Number(result) === cmd.fixed;
  }
  if ((cmd.op !== 'mmap' && cmd.op !== 'mprotect') || cmd.addr === null) return false;
  // The maps before the command: the setup's own where the aim adds no line.
  const before = aim.setup.length === 0 ? run : run_alone([...setup, ...aim.setup]);
  if (before instanceof KernelBug) return true;
  if (before === null) return false;
  const was = vma_at(before, cmd.addr);
  const now = vma_at(after, cmd.addr);
  const start = Math.min(cmd.addr, was?.start ?? cmd.addr);
  const end = Math.max(cmd.addr + cmd.pages * P, was?.end ?? 0);
  return now !== undefined && (now.start < start || now.end > end);
}

function vma_at(run: ModelRun, addr: number): MapsLine | undefined {
  return vmas_of(run, 0).find((v) => v.start <= addr && addr < v.end);
}
