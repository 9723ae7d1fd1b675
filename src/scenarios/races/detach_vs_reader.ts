/*
 * detach-vs-reader: cpu0 reads a never-touched page of a VMA, so it
 * faults, and under a per-VMA lock policy holds that VMA's read lock (a
 * transient vm_refcnt reference) for the fault; cpu1 meanwhile makes a
 * change that merges the VMA into the one before it, which removes it:
 * vma_mark_detached() must wait out the transient reader (the writer flag
 * and rcuwait), and a reader that finds the VMA detached or no longer
 * covering its page must look up again and land in the merged VMA.
 * `mode` picks the merge:
 *
 *   0 mprotect: Q, read-only after P, becomes read-write like P; P grows
 *     over it and Q is removed;
 *   1 mmap: a mapping fills the one-page hole between P and R; P grows
 *     over the new range and R, and R is removed.
 *
 * The outcome rule, whatever the order: the page stays mapped and
 * readable throughout, so the read returns 0, never SIGSEGV nor the
 * prologue's WRITTEN (which is on another page); the mm ends with P
 * alone, grown over the removed VMA; P's first page still holds WRITTEN
 * (the merge kept the anon pages of the VMA it grew) and the page cpu0
 * read still reads 0 through the merged VMA.
 */
import { user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { mt_find } from '../../kernel/mm/maple_tree.js';
import { PROT_READ, PROT_WRITE } from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { mmap_read_lock, mmap_read_unlock } from '../../kernel/mm/mmap_lock.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
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

/** P: two pages, the first written by the prologue (P has an anon_vma and a page table). */
const P = BASE + 16;
/** Mode 0: Q, read-only, right after P. */
const Q = P + 2;
/** Mode 1: the hole, then R, two pages. */
const HOLE = P + 2;
const R = HOLE + 1;

export const MODE_MPROTECT = 0;
export const MODE_MMAP = 1;

/** The page cpu0 reads (in the VMA that goes away), and where P ends after the merge. */
const READ_PAGE = [Q + 1, R + 1] as const;
const read_addr = (mode: number): number => READ_PAGE[mode]! * PAGE_BYTES + 8;
/** The word the prologue writes, on P's first page. */
const ADDR_P = P * PAGE_BYTES;
const MERGED_END = [Q + 2, R + 2] as const;
/** What the prologue writes on P's first page. */
export const WRITTEN = 0xd7a1;
const NAME = 'detach-vs-reader';

const DVR = defineStruct('detach_vs_reader', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  seen: 'cpu0: the value its read returned (or -SIGSEGV)',
  start: 'the epilogue, under the mmap read lock: the extent of the VMA at P',
  end: 'likewise',
  kept: "the epilogue: P's first word, the prologue's",
  reread: 'the epilogue: the word cpu0 read, read again through the merged VMA',
});

/** What the tasks recorded. */
export interface Observed {
  readonly mode: number;
  readonly seen: number;
  readonly start: number;
  readonly end: number;
  readonly kept: number;
  readonly reread: number;
}

/** The outcome rule of the header: the first thing `o` breaks, if any. */
export function judge(o: Observed): string | undefined {
  if (o.seen !== 0) return `a read of a mapped, never-written page returned ${o.seen}, not 0`;
  const end = MERGED_END[o.mode]!;
  if (o.start !== P || o.end !== end)
    return `the VMA at ${P} spans ${o.start}-${o.end} after the merge, not ${P}-${end}`;
  if (o.kept !== WRITTEN) return `P's first page holds ${o.kept} after the merge, not ${WRITTEN}`;
  if (o.reread !== 0) return `the page cpu0 read reads ${o.reread} through the merged VMA, not 0`;
  return undefined;
}

export const scenario: Scenario<{ g: number }> = {
  name: NAME,
  description: 'a fault holds a VMA read lock while a merge removes the VMA',
  module: import.meta.url,
  variants: [],
  ...selector(
    'mode',
    MODE_MPROTECT,
    MODE_MMAP,
    'the merge that removes the VMA cpu0 faults in: 0 an mprotect makes it like the VMA before it, 1 an mmap fills the hole before it',
  ),
  ...race_basics(DVR, 'detach_vs_reader'),

  *prologue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const next = cfg.params.mode === MODE_MPROTECT ? anon_fixed(Q, 2, PROT_READ) : anon_fixed(R, 2);
    const vmas = [anon_fixed(P, 2), next];
    yield k.store(g + DVR.mm, yield* call(mm_with_written_word(k, vmas, ADDR_P, WRITTEN, NAME)));
  },

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + DVR.mm);
    const mode = cfg.params.mode!;
    if (k.cpu === 0) {
      yield k.store(g + DVR.seen, yield* call(user_access(k, mm, read_addr(mode), false, 0)));
    } else {
      const ret =
        mode === MODE_MPROTECT
          ? yield* call(do_mprotect(k, mm, Q, 2, PROT_READ | PROT_WRITE))
          : yield* call(do_mmap(k, mm, anon_fixed(HOLE, 1)));
      k.BUG_ON(ret < 0, `detach-vs-reader: the merging call failed (${ret})`);
    }
  },

  *epilogue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + DVR.mm);
    yield k.store(g + DVR.kept, yield* call(user_access(k, mm, ADDR_P, false, 0)));
    const reread = yield* call(user_access(k, mm, read_addr(cfg.params.mode!), false, 0));
    yield k.store(g + DVR.reread, reread);
    yield* call(mmap_read_lock(k, mm));
    const e = yield* call(mt_find(k, mm, P));
    yield k.store(g + DVR.start, e?.start ?? 0);
    yield k.store(g + DVR.end, e?.end ?? 0);
    yield* call(mmap_read_unlock(k, mm));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }, cfg: RunConfig): void {
    const w = (field: number): number => m.words[g + field]!;
    assert_outcome(
      NAME,
      judge({
        mode: cfg.params.mode!,
        seen: w(DVR.seen),
        start: w(DVR.start),
        end: w(DVR.end),
        kept: w(DVR.kept),
        reread: w(DVR.reread),
      }),
    );
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
