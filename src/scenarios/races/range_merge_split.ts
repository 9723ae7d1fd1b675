/*
 * range-merge-split: cpu0 mprotects the middle of a VMA read-only, which
 * splits it in three, while cpu1 mprotects a read-only VMA back to
 * read-write, which merges it with both its neighbours. `layout` picks
 * where:
 *
 *   0 disjoint: cpu0 splits X while cpu1 merges the three VMAs of Y, far
 *     away. Under the range policy their range locks do not overlap, so
 *     both rewrite the VMA index at once; the index has its own lock for
 *     that, since a split or a merge replaces index nodes that cover both
 *     ranges (seed 002, VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK, drops it
 *     and loses a VMA or frees a node twice).
 *   1 neighbours: cpu0 splits X's second page off while cpu1 merges the
 *     read-only VMA after X with X and the VMA after it. The pages
 *     they change do not overlap, but the VMA is the same: the range locks
 *     must widen to the VMAs' boundaries and neighbours, which are known
 *     only after the lookup.
 *
 * The outcome rule, in either order and under every policy (the others
 * serialize the writers on mmap_lock): the mm ends with exactly the VMAs
 * of the layout's `after`, each with its protection, and nothing else,
 * which validate_mm() must find well formed.
 */
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty, validate_mm } from '../../kernel/mm/debug.js';
import { mt_entries, VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK } from '../../kernel/mm/maple_tree.js';
import {
  PROT_READ,
  PROT_WRITE,
  VM_AREA_STRUCT as V,
  VM_READ,
  VM_WRITE,
} from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { mmap_write_lock, mmap_write_unlock } from '../../kernel/mm/mmap_lock.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import {
  anon_fixed,
  assert_outcome,
  BASE,
  new_mm,
  race_basics,
  SEED_VARIANT_DOCS,
  selector,
} from '../common.js';

/** Far enough apart that neither range lock reaches the other's VMAs. */
const X = BASE + 16;
const Y = BASE + 128;

export const LAYOUT_DISJOINT = 0;
export const LAYOUT_NEIGHBOURS = 1;

const RW = PROT_READ | PROT_WRITE;

/** A VMA by its pages [start, end) and its protection (or, recorded, its vm_flags). */
type Extent = readonly [start: number, end: number, prot: number];

interface Layout {
  /** What the prologue maps, in order (a later one may change part of an earlier one). */
  readonly before: readonly Extent[];
  /** What cpu0 makes read-only, and what cpu1 makes read-write. */
  readonly split: readonly [start: number, pages: number];
  readonly merge: readonly [start: number, pages: number];
  /** The VMAs the mm must end with, in address order. */
  readonly after: readonly Extent[];
}

const LAYOUTS: readonly Layout[] = [
  {
    before: [
      [X, X + 4, RW],
      [Y, Y + 4, RW],
      [Y + 1, Y + 3, PROT_READ],
    ],
    split: [X + 1, 2],
    merge: [Y + 1, 2],
    after: [
      [X, X + 1, RW],
      [X + 1, X + 3, PROT_READ],
      [X + 3, X + 4, RW],
      [Y, Y + 4, RW],
    ],
  },
  {
    before: [
      [X, X + 8, RW],
      [X + 4, X + 5, PROT_READ],
    ],
    split: [X + 1, 1],
    merge: [X + 4, 1],
    after: [
      [X, X + 1, RW],
      [X + 1, X + 2, PROT_READ],
      [X + 2, X + 8, RW],
    ],
  },
];
/** Entries the outcome records (more would be wrong anyway). */
const MAX_ENTRIES = 6;

const RMS = defineStruct('range_merge_split', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  joined: 'store_release by cpu1 as it ends; load_acquire by the epilogue (the join)',
  nr: 'the epilogue, under the mmap write lock: how many VMAs the index holds',
  entries: [MAX_ENTRIES * 3, 'the epilogue, likewise: start, end and vm_flags of each VMA'],
});

/* A VMA as the outcome prints it. */
const show = (start: number, end: number, flags: number): string =>
  `${start}-${end} ${flags & VM_READ ? 'r' : '-'}${flags & VM_WRITE ? 'w' : '-'}`;

/** What the epilogue recorded: how many VMAs the index holds, and the first MAX_ENTRIES as start, end, vm_flags. */
export interface Observed {
  readonly layout: number;
  readonly nr: number;
  readonly entries: readonly Extent[];
}

/** The outcome rule of the header: what `o` breaks, if anything. */
export function judge(o: Observed): string | undefined {
  const found = o.entries.map(([start, end, flags]) => show(start, end, flags));
  const want = LAYOUTS[o.layout]!.after.map(([start, end, prot]) =>
    show(start, end, prot & PROT_WRITE ? VM_READ | VM_WRITE : VM_READ),
  );
  if (o.nr !== want.length || found.join(',') !== want.join(','))
    return `the mm ends with ${o.nr} VMAs [${found.join(', ')}], not [${want.join(', ')}]`;
  return undefined;
}

export const scenario: Scenario<{ g: number }> = {
  name: 'range-merge-split',
  description:
    'two CPUs split VMAs with mprotect and merge them back, on disjoint or neighbouring ranges',
  module: import.meta.url,
  variants: [VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK],
  variant_docs: SEED_VARIANT_DOCS,
  ...selector(
    'layout',
    LAYOUT_DISJOINT,
    LAYOUT_NEIGHBOURS,
    'where: 0 disjoint (the split and the merge far apart), 1 neighbours (the merge takes in the split VMA)',
  ),
  ...race_basics(RMS, 'range_merge_split'),

  *prologue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield* call(new_mm(k));
    for (const [start, end, prot] of LAYOUTS[cfg.params.layout!]!.before) {
      const err = (yield* call(do_mmap(k, mm, anon_fixed(start, end - start, prot)))) < 0;
      k.BUG_ON(err, 'range-merge-split: the prologue cannot map its VMAs');
    }
    yield k.store(g + RMS.mm, mm);
  },

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + RMS.mm);
    const layout = LAYOUTS[cfg.params.layout!]!;
    const [start, pages] = k.cpu === 0 ? layout.split : layout.merge;
    k.BUG_ON(
      (yield* call(do_mprotect(k, mm, start, pages, k.cpu === 0 ? PROT_READ : RW))) !== 0,
      'range-merge-split: an mprotect failed',
    );
    if (k.cpu === 1) yield k.store_release(g + RMS.joined, 1);
  },

  *epilogue(k: KernelContext, { g }): KGen {
    // The explorer's KCSAN sees no join of cpu1's end: this acquire is it.
    k.BUG_ON((yield k.load_acquire(g + RMS.joined)) !== 1, 'range-merge-split: cpu1 did not end');
    const mm = yield k.load(g + RMS.mm);
    yield* call(mmap_write_lock(k, mm));
    yield* call(validate_mm(k, mm));
    const entries = yield* call(mt_entries(k, mm));
    yield k.store(g + RMS.nr, entries.length);
    for (const [i, e] of entries.slice(0, MAX_ENTRIES).entries()) {
      const slot = g + RMS.entries + 3 * i;
      yield k.store(slot, e.start);
      yield k.store(slot + 1, e.end);
      yield k.store(slot + 2, yield k.load(e.vma + V.vm_flags));
    }
    yield* call(mmap_write_unlock(k, mm));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }, cfg: RunConfig): void {
    const w = m.words;
    const nr = w[g + RMS.nr]!;
    const entries = Array.from({ length: Math.min(nr, MAX_ENTRIES) }, (_, i): Extent => {
      const slot = g + RMS.entries + 3 * i;
      return [w[slot]!, w[slot + 1]!, w[slot + 2]!];
    });
    assert_outcome('range-merge-split', judge({ layout: cfg.params.layout!, nr, entries }));
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
