/*
 * gup-fast-vs-fork: cpu1 pins a written anonymous page with
 * pin_user_pages_fast() (a driver about to DMA into it) while cpu0 forks;
 * then the parent writes the page. The pinned page must still be the one
 * the parent's PTE maps: fork copies a possibly pinned page for the child
 * at once instead of sharing it write-protected. GUP-fast walks without
 * mmap_lock, so it can pin between fork's check of the pin count and its
 * write-protection of the PTE; the parent's next write would then COW
 * away from the pinned page and the device would write into a page no
 * process maps. fork brackets copy_page_range() in write_protect_seq and
 * gup_fast() gives its pins back when the sequence moved; seed 004 drops
 * that check (VARIANT_GUP_FAST_WITHOUT_WP_SEQ).
 *
 * vma-races race 2 with only the race in the schedule: the prologue maps
 * and writes the page; the epilogue, the process once its threads are
 * joined, writes the page, looks at the pinned one, unpins it and exits.
 *
 * The outcome rule, whatever the order of the pin and the fork: a page
 * was pinned; it holds AFTER, the parent's write after both; the parent
 * reads AFTER; the child reads BEFORE, the prologue's write, since the
 * parent wrote only after the fork (a child that reads AFTER shares the
 * parent's page, a pinned page that holds BEFORE is one no process maps).
 */
import { user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { dup_mmap, VARIANT_GUP_FAST_WITHOUT_WP_SEQ } from '../../kernel/fork.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { pin_user_pages_fast, unpin_user_page } from '../../kernel/mm/gup.js';
import { PAGE } from '../../kernel/mm/mm_types.js';
import { mmput } from '../../kernel/mm/mmap.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import {
  anon_fixed,
  assert_outcome,
  BASE,
  hex,
  mm_with_written_word,
  race_basics,
  SEED_VARIANT_DOCS,
} from '../common.js';

/** The pinned page: one page of its own VMA, written by the prologue. */
const P = BASE + 16;
const ADDR = P * PAGE_BYTES;
const NAME = 'gup-fast-vs-fork';
/** What the prologue writes, and what the parent writes after the fork. */
export const BEFORE = 1;
export const AFTER = 0x5eed;

const GFF = defineStruct('gup_fast_vs_fork', {
  mm: 'set by the prologue: the parent mm, of which both CPUs are threads; put by the epilogue',
  child: 'cpu0: the mm its fork made; put by the epilogue',
  pinned: 'cpu1: the page it pinned (0: none)',
  joined: 'store_release by cpu1 as it ends; load_acquire by the epilogue (the join)',
  seen: 'the epilogue: what the pinned page holds after the parent wrote it (-1: nothing pinned)',
  parent: "the epilogue: the parent's word, after its write",
  child_word: "the epilogue: the child's word",
});

/** What the epilogue recorded: the pinned page's word (-1: none), the parent's, the child's. */
export interface Observed {
  readonly pinned: number;
  readonly parent: number;
  readonly child: number;
}

/** The outcome rule of the header: the first thing `o` breaks, if any. */
export function judge(o: Observed): string | undefined {
  if (o.pinned === -1) return 'pin_user_pages_fast() pinned nothing';
  if (o.pinned !== AFTER)
    return `the pinned page stopped being the parent's: it holds ${hex(o.pinned)}, not the parent's ${hex(AFTER)}`;
  if (o.parent !== AFTER) return `the parent reads ${hex(o.parent)} after writing ${hex(AFTER)}`;
  if (o.child !== BEFORE)
    return `the child reads ${hex(o.child)}, not ${hex(BEFORE)} (the parent wrote ${hex(AFTER)} only after the fork)`;
  return undefined;
}

export const scenario: Scenario<{ g: number }> = {
  name: NAME,
  description:
    'pin_user_pages_fast() while another thread forks; the pinned page stays the parent’s',
  module: import.meta.url,
  variants: [VARIANT_GUP_FAST_WITHOUT_WP_SEQ],
  variant_docs: SEED_VARIANT_DOCS,
  params: {},
  ...race_basics(GFF, 'gup_fast_vs_fork'),

  *prologue(k: KernelContext, { g }): KGen {
    const mm = yield* call(mm_with_written_word(k, [anon_fixed(P, 1)], ADDR, BEFORE, NAME));
    yield k.store(g + GFF.mm, mm);
  },

  *cpu(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + GFF.mm);
    if (k.cpu === 1) {
      const [page] = yield* call(pin_user_pages_fast(k, mm, P, 1, true));
      yield k.store(g + GFF.pinned, page ?? 0);
      yield k.store_release(g + GFF.joined, 1);
    } else {
      const child = yield* call(dup_mmap(k, mm));
      k.BUG_ON(child === 0, 'gup-fast-vs-fork: fork failed');
      yield k.store(g + GFF.child, child);
    }
  },

  *epilogue(k: KernelContext, { g }): KGen {
    // The explorer's KCSAN sees no join of cpu1's end: this acquire is it.
    k.BUG_ON((yield k.load_acquire(g + GFF.joined)) !== 1, 'gup-fast-vs-fork: cpu1 did not end');
    const mm = yield k.load(g + GFF.mm);
    // The parent writes after both the fork and the pin: the device must see it.
    yield* call(user_access(k, mm, ADDR, true, AFTER));
    yield k.store(g + GFF.parent, yield* call(user_access(k, mm, ADDR, false, 0)));
    const child = yield k.load(g + GFF.child);
    yield k.store(g + GFF.child_word, yield* call(user_access(k, child, ADDR, false, 0)));
    const page = yield k.load(g + GFF.pinned);
    if (page === 0) {
      yield k.store(g + GFF.seen, -1);
    } else {
      yield k.store(g + GFF.seen, yield k.load(yield k.load(page + PAGE.frame)));
      yield* call(unpin_user_page(k, page));
    }
    yield* call(mmput(k, child));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const w = (field: number): number => m.words[g + field]!;
    assert_outcome(
      NAME,
      judge({ pinned: w(GFF.seen), parent: w(GFF.parent), child: w(GFF.child_word) }),
    );
    check_mm_caches_empty(m, sys, 'after both mms died');
  },
};
