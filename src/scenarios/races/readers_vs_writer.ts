/*
 * readers-vs-writer: every CPU but the last reads its own never-touched
 * page of one VMA, so each faults under that VMA's lock where the policy
 * has one; the last CPU mprotects the VMA's last page read-only, which
 * splits the VMA and so write-locks it. With vm_refcnt the readers share
 * one counter: the writer adds the writer flag, after which a reader's
 * increment fails at VMA_REF_LIMIT (it falls back to mmap_lock), and
 * waits in rcuwait until only the attach reference is left; the last
 * reader's put must wake it, and only it (one writer at most: it holds
 * mmap_lock for write). A lost wake-up is a deadlock the explorer
 * reports; a reader let in past the flag breaks the VMA lock's exclusion,
 * which lockdep reports.
 *
 * `whole` = 1 makes the whole VMA read-only instead: no split and no
 * merge, where mm/mprotect.c's mprotect_fixup() calls vma_start_write()
 * itself before vm_flags_reset_once(); the model's does not (see the
 * test).
 *
 * The outcome rule, whatever the order: mprotect returns 0; every read
 * returns 0 (the pages read stay readable throughout and were never
 * written: the prologue's WRITTEN is on the last page only). After all,
 * the mprotect took effect: the last page reads WRITTEN and a write to it
 * gets SIGSEGV; a write to a reader's page succeeds, or with `whole` = 1
 * gets SIGSEGV.
 */
import { SIGSEGV, user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { PROT_READ } from '../../kernel/mm/mm_types.js';
import { mmput } from '../../kernel/mm/mmap.js';
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

const MAX_CPUS = 8;
/** The VMA: a page for each reader, then one the prologue writes (its page table exists). */
const A = BASE + 16;
const OFFSET = 8;
/** seen[i] before reader i stored its result. */
const UNSET = -1;
/** What the prologue writes on the last page. */
export const WRITTEN = 0x7e57;
const NAME = 'readers-vs-writer';

const RVW = defineStruct('readers_vs_writer', {
  mm: 'set by the prologue: the mm every CPU is a thread of; put by the epilogue',
  mprotect: 'the writer: what mprotect returned',
  seen: [MAX_CPUS, 'reader i: what its read returned (or -SIGSEGV)'],
  wrote: [MAX_CPUS, "the epilogue: a write to reader i's page, its result (0 or -SIGSEGV)"],
  last_read: 'the epilogue: the word the prologue wrote on the last page',
  last_write: 'the epilogue: a write to the last page, its result',
});

/** What the tasks recorded. */
export interface Observed {
  readonly whole: boolean;
  readonly mprotect: number;
  readonly seen: readonly number[];
  readonly wrote: readonly number[];
  readonly last_read: number;
  readonly last_write: number;
}

/** The outcome rule of the header: the first thing `o` breaks, if any. */
export function judge(o: Observed): string | undefined {
  if (o.mprotect !== 0) return `mprotect returned ${o.mprotect}`;
  const bad = o.seen.findIndex((v) => v !== 0);
  if (bad >= 0)
    return `reader ${bad} read ${o.seen[bad]} from a never-written, always readable page, not 0`;
  if (o.last_read !== WRITTEN) return `the last page reads ${o.last_read}, not ${WRITTEN}`;
  if (o.last_write !== -SIGSEGV)
    return `a write to the read-only last page returned ${o.last_write}, not SIGSEGV`;
  const want = o.whole ? -SIGSEGV : 0;
  const wrong = o.wrote.findIndex((v) => v !== want);
  if (wrong >= 0)
    return `a write to reader ${wrong}'s page returned ${o.wrote[wrong]}, not ${want}`;
  return undefined;
}

const reader_addr = (i: number): number => (A + i) * PAGE_BYTES + OFFSET;

export const scenario: Scenario<{ g: number }> = {
  name: NAME,
  description: 'several CPUs fault in one VMA under its lock while another mprotects it',
  module: import.meta.url,
  variants: [],
  ...selector(
    'whole',
    0,
    1,
    '1: the writer makes the whole VMA read-only (no split) rather than its last page',
  ),
  ...race_basics(RVW, 'readers_vs_writer', 3, MAX_CPUS),

  *prologue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const readers = cfg.cpus - 1;
    const last = reader_addr(readers);
    const mm = yield* call(
      mm_with_written_word(k, [anon_fixed(A, readers + 1)], last, WRITTEN, NAME),
    );
    for (let i = 0; i < readers; i++) yield k.store(g + RVW.seen + i, UNSET);
    yield k.store(g + RVW.mm, mm);
  },

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + RVW.mm);
    const readers = cfg.cpus - 1;
    if (k.cpu === readers) {
      const [start, pages] = cfg.params.whole === 1 ? [A, readers + 1] : [A + readers, 1];
      yield k.store(g + RVW.mprotect, yield* call(do_mprotect(k, mm, start, pages, PROT_READ)));
    } else {
      const seen = yield* call(user_access(k, mm, reader_addr(k.cpu), false, 0));
      yield k.store(g + RVW.seen + k.cpu, seen);
    }
  },

  *epilogue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + RVW.mm);
    const readers = cfg.cpus - 1;
    for (let i = 0; i < readers; i++)
      yield k.store(
        g + RVW.wrote + i,
        yield* call(user_access(k, mm, reader_addr(i), true, i + 1)),
      );
    const last = reader_addr(readers);
    yield k.store(g + RVW.last_read, yield* call(user_access(k, mm, last, false, 0)));
    yield k.store(g + RVW.last_write, yield* call(user_access(k, mm, last, true, 0)));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }, cfg: RunConfig): void {
    const w = (field: number): number => m.words[g + field]!;
    const each = (field: number): number[] =>
      Array.from({ length: cfg.cpus - 1 }, (_, i) => w(field + i));
    assert_outcome(
      NAME,
      judge({
        whole: cfg.params.whole === 1,
        mprotect: w(RVW.mprotect),
        seen: each(RVW.seen),
        wrote: each(RVW.wrote),
        last_read: w(RVW.last_read),
        last_write: w(RVW.last_write),
      }),
    );
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
