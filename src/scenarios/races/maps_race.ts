/*
 * maps-race: cpu0 reads /proc/PID/maps of its own process, one line a
 * read() by default (so that every record is looked up again at the start
 * of a pass, as at a page boundary of the file); cpu1 changes the VMA
 * beside the first one with a MAP_FIXED mmap, as
 * tools/testing/selftests/proc/proc-maps-race.c does:
 *
 *   op 0, split: A, three read-only pages, gets its first page remapped
 *        read-exec: A splits into A0 (r-x) and A1 (r--);
 *   op 1, merge: the reverse: A0 is remapped read-only and merges into
 *        A1, which grows down over it;
 *   op 2, shrink: an mprotect, not an mmap: A's upper two pages turn
 *        read-exec. A keeps them, its start moving up, and a new VMA
 *        takes its first page: the one change here after which a VMA
 *        the reader found past its position is no longer the next one,
 *        which lock_next_vma()'s second lookup is there to catch.
 *
 * Below A lies P, two read-write pages, untouched. With per-VMA locks the
 * reader walks the index under RCU and read-locks one VMA at a time
 * (lock_next_vma()), so it may see some VMAs as they were before the
 * mmap and later ones as they are after it. The outcome rule, exact:
 * each line is the first VMA ending past the previous line's end (page 0
 * for the first) in the address space before the mmap or after it, and
 * once a line comes from the after-state none comes from the before-state;
 * the file ends where that state has nothing more. So no VMA is torn (a
 * start from one state, an end from another), none is missing, and the
 * one case of a VMA shown twice is a merged VMA met again after the piece
 * of it shown before the merge (as the selftest allows). Then, both
 * done, the file read once more must be the after-state, and the mmap
 * must have returned A.
 *
 * The variant (f8d112a4e657, "Avoid MAP_FIXED gap exposure", 6.12): the
 * mmap unmaps A0 before it maps, and with op 1 the reader, from P's end,
 * finds A1 past the gap, not write-locked yet; its second lookup finds
 * the same gap, and the file shows no VMA at A0's page. (With op 0 the
 * VMA past the gap is A's split-off upper part, write-locked by the
 * split, and the reader falls back to the mmap lock, in Linux too.)
 */
import type { KernelSymbols } from '../../kernel/boot.js';
import {
  MAPS_EXEC,
  MAPS_LINE_WORDS,
  MAPS_READ,
  MAPS_WRITE,
  ProcMapsPrivate,
  proc_pid_maps_read,
} from '../../kernel/fs/proc/task_mmu.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput, VARIANT_MAP_FIXED_GAP } from '../../kernel/mm/mmap.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import {
  anon_fixed,
  assert_outcome,
  BASE,
  hex,
  type MapsLineOps,
  maps_walk_error,
  new_mm,
  race_basics,
} from '../common.js';
import { HISTORICAL_VARIANT_DOCS } from '../historical.js';

const NAME = 'maps-race';
/** P, two read-write pages, then A, three pages from A_PAGE. */
const P_PAGE = BASE + 14;
const A_PAGE = P_PAGE + 2;

export const OP_SPLIT = 0;
export const OP_MERGE = 1;
export const OP_SHRINK = 2;
const OP_NAMES = ['split mmap', 'merge mmap', 'mprotect'];

/** The most lines the reader keeps: more than any state has, so a reader that loops shows. */
const MAX_LINES = 6;

const MR = defineStruct('maps_race', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  mapped: 'cpu1: what its mmap or mprotect returned',
  nr: 'cpu0: the lines it read',
  lines: [MAX_LINES * MAPS_LINE_WORDS, 'cpu0: the lines it read (start, end, flags)'],
  after_nr: 'the epilogue: the lines of a read once both are done',
  after: [MAX_LINES * MAPS_LINE_WORDS, 'the epilogue: those lines'],
});

/** A line of the file: [first page, end page, MAPS_* flags]. */
export type MapsLine = readonly [number, number, number];

const P_LINE: MapsLine = [P_PAGE, P_PAGE + 2, MAPS_READ | MAPS_WRITE];
const A_WHOLE: MapsLine = [A_PAGE, A_PAGE + 3, MAPS_READ];
const A0_EXEC: MapsLine = [A_PAGE, A_PAGE + 1, MAPS_READ | MAPS_EXEC];
const A1: MapsLine = [A_PAGE + 1, A_PAGE + 3, MAPS_READ];
const A0: MapsLine = [A_PAGE, A_PAGE + 1, MAPS_READ];
const A1_EXEC: MapsLine = [A_PAGE + 1, A_PAGE + 3, MAPS_READ | MAPS_EXEC];

/** The address space before and after cpu1's change, for each op. */
export function states(op: number): readonly [readonly MapsLine[], readonly MapsLine[]] {
  const whole = [P_LINE, A_WHOLE];
  const split = [P_LINE, A0_EXEC, A1];
  if (op === OP_SHRINK) return [whole, [P_LINE, A0, A1_EXEC]];
  return op === OP_SPLIT ? [whole, split] : [split, whole];
}

const LINE_OPS: MapsLineOps<MapsLine> = {
  end: (l) => l[1],
  same: (a, b) => a[0] === b[0] && a[1] === b[1] && a[2] === b[2],
  show: (l) =>
    `${hex(l[0])}-${hex(l[1])} ${l[2] & MAPS_READ ? 'r' : '-'}${l[2] & MAPS_WRITE ? 'w' : '-'}${l[2] & MAPS_EXEC ? 'x' : '-'}p`,
  at: hex,
};

/** The outcome rule of the header (maps_walk_error()) for `lines` read while the address space went through `seq`. */
export const judge_maps = (
  lines: readonly MapsLine[],
  seq: readonly (readonly MapsLine[])[],
): string | undefined => maps_walk_error(lines, seq, LINE_OPS);

/* The lines at `buf`. */
function read_lines(m: KernelMemory, buf: number, nr: number): MapsLine[] {
  const out: MapsLine[] = [];
  for (let i = 0; i < nr; i++) {
    const w = buf + i * MAPS_LINE_WORDS;
    out.push([m.words[w]!, m.words[w + 1]!, m.words[w + 2]!]);
  }
  return out;
}

/* Read the whole file, `per_read` lines a read() (0: as many as it holds), into `buf`; returns the lines. */
function* read_maps(k: KernelContext, mm: number, buf: number, per_read: number): KGen<number> {
  const priv = new ProcMapsPrivate(mm);
  let nr = 0;
  while (nr < MAX_LINES) {
    const room = per_read === 0 ? MAX_LINES - nr : Math.min(per_read, MAX_LINES - nr);
    const n = yield* call(proc_pid_maps_read(k, priv, buf + nr * MAPS_LINE_WORDS, room));
    if (n === 0) break;
    nr += n;
  }
  return nr;
}

/* A0's page mapped read-exec (split) or read-only again (merge). */
const remap_a0 = (op: number) =>
  anon_fixed(A_PAGE, 1, PROT_READ | (op === OP_SPLIT ? PROT_EXEC : 0));

/* cpu1's change: what it returns, and what it must return. */
function* change(k: KernelContext, mm: number, op: number): KGen<number> {
  if (op === OP_SHRINK)
    return yield* call(do_mprotect(k, mm, A_PAGE + 1, 2, PROT_READ | PROT_EXEC));
  return yield* call(do_mmap(k, mm, remap_a0(op)));
}
const changed = (op: number): number => (op === OP_SHRINK ? 0 : A_PAGE);

export const scenario: Scenario<{ g: number }> = {
  name: NAME,
  description:
    '/proc/PID/maps read under per-VMA locks while a MAP_FIXED mmap splits or merges a VMA, or an mprotect shrinks it',
  module: import.meta.url,
  variants: [VARIANT_MAP_FIXED_GAP],
  variant_docs: HISTORICAL_VARIANT_DOCS,
  params: { op: OP_MERGE, lines: 1 },
  param_max: { op: OP_SHRINK, lines: MAX_LINES },
  param_docs: {
    op: {
      doc: "cpu1's change: 0 an mmap splits A's first page off read-exec, 1 one merges it back read-only, 2 an mprotect makes A's upper pages read-exec",
    },
    lines: { doc: 'lines the reader takes a read(), 0 for the whole file in one' },
  },
  ...race_basics(MR, 'maps_race'),

  *prologue(k: KernelContext, { g }, cfg): KGen {
    const mm = yield* call(new_mm(k));
    yield* call(do_mmap(k, mm, anon_fixed(P_PAGE, 2, PROT_READ | PROT_WRITE)));
    yield* call(do_mmap(k, mm, anon_fixed(A_PAGE, 3, PROT_READ)));
    if (cfg.params.op === OP_MERGE) yield* call(do_mmap(k, mm, remap_a0(OP_SPLIT)));
    yield k.store(g + MR.mm, mm);
  },

  *cpu(k: KernelContext, { g }, cfg): KGen {
    const mm = yield k.load(g + MR.mm);
    if (k.cpu === 0) {
      yield k.store(g + MR.nr, yield* call(read_maps(k, mm, g + MR.lines, cfg.params.lines!)));
      return;
    }
    yield k.store(g + MR.mapped, yield* call(change(k, mm, cfg.params.op!)));
  },

  *epilogue(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + MR.mm);
    yield k.store(g + MR.after_nr, yield* call(read_maps(k, mm, g + MR.after, 0)));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }, cfg): void {
    const op = cfg.params.op!;
    const [before, after] = states(op);
    const w = (field: number): number => m.words[g + field]!;
    const mapped = w(MR.mapped);
    const settled = judge_maps(read_lines(m, g + MR.after, w(MR.after_nr)), [after]);
    assert_outcome(
      NAME,
      mapped !== changed(op)
        ? `the ${OP_NAMES[op]} returned ${hex(mapped)}, not ${hex(changed(op))}`
        : (judge_maps(read_lines(m, g + MR.lines, w(MR.nr)), [before, after]) ??
            (settled === undefined ? undefined : `once both were done, ${settled}`)),
    );
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
