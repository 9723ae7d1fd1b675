/*
 * fault-vs-mremap: cpu0 writes a word on a page of a VMA it never
 * touched, so it faults, under the VMA lock where the policy has one;
 * cpu1 mremaps the VMA meanwhile. `mode` picks how:
 *
 *   0 move: MREMAP_MAYMOVE|MREMAP_FIXED to another place, same size;
 *   1 grow in place: from two pages to four, the pages after it free;
 *   2 grow and move: a mapping right after the VMA forces the move.
 *
 * mremap write-locks the VMA, moves its page tables and, for a move,
 * detaches it. A fault that looked the VMA up before must not install a
 * page where the move already took the page tables from, or after them
 * at the old address: the write would land in a page nobody maps.
 *
 * The outcome rule, from what each CPU saw of the other (a READ_ONCE of
 * the other's done flag before its own operation):
 *   - mremap succeeds: to TARGET (mode 0), in place (1), elsewhere (2);
 *   - the write succeeds, or gets SIGSEGV in a mode that moves (the VMA
 *     gone from the old address); SIGSEGV if the move had returned before
 *     the write began, success if the write had returned before the
 *     mremap began, and always success when growing in place;
 *   - after both, the new address holds VALUE if the write succeeded and
 *     0 if not (a write that succeeded into a page nobody maps is lost);
 *     the prologue's KEPT moved with its page; the old address faults
 *     after a move.
 */
import { SIGSEGV, user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ } from '../../kernel/mm/mm_types.js';
import { mmput } from '../../kernel/mm/mmap.js';
import { do_mremap } from '../../kernel/mm/mremap.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import {
  anon_fixed,
  assert_outcome,
  BASE,
  mm_with_written_word,
  race_basics,
  selector,
} from '../common.js';

/** The VMA: two pages, the second written by the prologue. */
const A = BASE + 16;
/** MREMAP_FIXED's target in mode 0. */
const TARGET = BASE + 64;
/** cpu0 writes VALUE at this offset of A's first page; the prologue wrote KEPT on the second. */
const OFFSET = 8;
export const VALUE = 0x5a5a;
export const KEPT = 0x1111;
const NAME = 'fault-vs-mremap';

export const MODE_MOVE = 0;
export const MODE_GROW = 1;
export const MODE_GROW_MOVE = 2;

const FVR = defineStruct('fault_vs_mremap', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  wrote: "cpu0: its write's result, 0 or -SIGSEGV",
  moved_to: 'cpu1: the first page of the VMA after mremap (or -errno)',
  joined: 'store_release by cpu1 as it ends; load_acquire by the epilogue (the join)',
  at_new: 'the epilogue: the word at the new address',
  kept: "the epilogue: the prologue's word, at the new address of its page",
  at_old: 'the epilogue: the word at the old address (or -SIGSEGV)',
  wrote_done: 'WRITE_ONCE by cpu0 once its write returned; READ_ONCE by cpu1 before its mremap',
  remapped: 'WRITE_ONCE by cpu1 once its mremap returned; READ_ONCE by cpu0 before its write',
  remapped_first: 'cpu0: remapped, as it saw it before its write',
  wrote_first: 'cpu1: wrote_done, as it saw it before its mremap',
});

/** What the tasks recorded. */
export interface Observed {
  readonly mode: number;
  readonly moved_to: number;
  readonly wrote: number;
  readonly at_new: number;
  readonly kept: number;
  readonly at_old: number;
  readonly remapped_first: boolean;
  readonly wrote_first: boolean;
}

/** Where mremap must have put the VMA in `mode`; the wrong place, if `to` is one. */
function misplaced(mode: number, to: number): string | undefined {
  if (to <= 0) return `mremap failed (${to})`;
  if (mode === MODE_MOVE && to !== TARGET) return `moved to ${to}, not ${TARGET}`;
  if (mode === MODE_GROW && to !== A) return `grew at ${to}, not in place at ${A}`;
  if (mode === MODE_GROW_MOVE && to === A) return 'grew in place past a mapping';
  return undefined;
}

/** The write's result the order allows: 0 or -SIGSEGV, undefined where both may be. */
function write_must(o: Observed): number | undefined {
  if (o.mode === MODE_GROW || o.wrote_first) return 0;
  return o.remapped_first ? -SIGSEGV : undefined;
}

/** The outcome rule of the header: the first thing `o` breaks, if any. */
export function judge(o: Observed): string | undefined {
  const where = misplaced(o.mode, o.moved_to);
  if (where !== undefined) return where;
  const must = write_must(o);
  if ((o.wrote !== 0 && o.wrote !== -SIGSEGV) || (must !== undefined && o.wrote !== must))
    return `the write returned ${o.wrote}${must === undefined ? '' : `, not ${must}`} (mremap ${o.remapped_first ? 'had returned before it' : o.wrote_first ? 'began after it' : 'ran beside it'})`;
  const want = o.wrote === 0 ? VALUE : 0;
  if (o.at_new !== want)
    return `the new address holds ${o.at_new}, not ${want} (the write returned ${o.wrote})`;
  if (o.kept !== KEPT) return `the prologue's page holds ${o.kept}, not ${KEPT}`;
  if (o.mode !== MODE_GROW && o.at_old !== -SIGSEGV)
    return `the old address still reads ${o.at_old} after the move`;
  return undefined;
}

export const scenario: Scenario<{ g: number }> = {
  name: NAME,
  description: 'a write fault in a VMA while another CPU moves or grows it with mremap',
  module: import.meta.url,
  variants: [],
  ...selector(
    'mode',
    MODE_MOVE,
    MODE_GROW_MOVE,
    'how cpu1 mremaps the VMA: 0 move (MREMAP_FIXED), 1 grow in place, 2 grow where it must move',
  ),
  ...race_basics(FVR, 'fault_vs_mremap'),

  *prologue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    // Read-only, so it never merges with A: A cannot grow where it is.
    const blocker = cfg.params.mode === MODE_GROW_MOVE ? [anon_fixed(A + 2, 1, PROT_READ)] : [];
    const kept_at = (A + 1) * PAGE_BYTES + OFFSET;
    const vmas = [anon_fixed(A, 2), ...blocker];
    yield k.store(g + FVR.mm, yield* call(mm_with_written_word(k, vmas, kept_at, KEPT, NAME)));
  },

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + FVR.mm);
    if (k.cpu === 0) {
      const remapped = yield k.READ_ONCE(g + FVR.remapped);
      yield k.store(
        g + FVR.wrote,
        yield* call(user_access(k, mm, A * PAGE_BYTES + OFFSET, true, VALUE)),
      );
      yield k.WRITE_ONCE(g + FVR.wrote_done, 1);
      yield k.store(g + FVR.remapped_first, remapped);
      return;
    }
    const wrote = yield k.READ_ONCE(g + FVR.wrote_done);
    const moved_to =
      cfg.params.mode === MODE_MOVE
        ? yield* call(do_mremap(k, mm, A, 2, 2, MREMAP_MAYMOVE | MREMAP_FIXED, TARGET))
        : yield* call(do_mremap(k, mm, A, 2, 4, MREMAP_MAYMOVE, 0));
    yield k.WRITE_ONCE(g + FVR.remapped, 1);
    yield k.store(g + FVR.wrote_first, wrote);
    yield k.store(g + FVR.moved_to, moved_to);
    yield k.store_release(g + FVR.joined, 1);
  },

  *epilogue(k: KernelContext, { g }): KGen {
    // The explorer's KCSAN sees no join of cpu1's end: this acquire is it.
    k.BUG_ON((yield k.load_acquire(g + FVR.joined)) !== 1, 'fault-vs-mremap: cpu1 did not end');
    const mm = yield k.load(g + FVR.mm);
    const to = yield k.load(g + FVR.moved_to);
    if (to > 0) {
      yield k.store(
        g + FVR.at_new,
        yield* call(user_access(k, mm, to * PAGE_BYTES + OFFSET, false, 0)),
      );
      const kept = yield* call(user_access(k, mm, (to + 1) * PAGE_BYTES + OFFSET, false, 0));
      yield k.store(g + FVR.kept, kept);
      yield k.store(
        g + FVR.at_old,
        yield* call(user_access(k, mm, A * PAGE_BYTES + OFFSET, false, 0)),
      );
    }
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }, cfg: RunConfig): void {
    const w = (field: number): number => m.words[g + field]!;
    assert_outcome(
      NAME,
      judge({
        mode: cfg.params.mode!,
        moved_to: w(FVR.moved_to),
        wrote: w(FVR.wrote),
        at_new: w(FVR.at_new),
        kept: w(FVR.kept),
        at_old: w(FVR.at_old),
        remapped_first: w(FVR.remapped_first) !== 0,
        wrote_first: w(FVR.wrote_first) !== 0,
      }),
    );
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
