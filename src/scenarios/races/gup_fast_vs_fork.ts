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
 */
import { user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { dup_mmap, VARIANT_GUP_FAST_WITHOUT_WP_SEQ } from '../../kernel/fork.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { pin_user_pages_fast, unpin_user_page } from '../../kernel/mm/gup.js';
import { PAGE } from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, new_mm, SEED_VARIANT_DOCS } from '../common.js';

/** The pinned page: one page of its own VMA, written by the prologue. */
const P = BASE + 16;
/** What the prologue writes, and what the parent writes after the fork. */
const BEFORE = 1;
const AFTER = 0x5eed;

const GFF = defineStruct('gup_fast_vs_fork', {
  mm: 'set by the prologue: the parent mm, of which both CPUs are threads; put by the epilogue',
  child: 'cpu0: the mm its fork made; put by the epilogue',
  pinned: 'cpu1: the page it pinned (0: none)',
  joined: 'store_release by cpu1 as it ends; load_acquire by the epilogue (the join)',
  seen: 'the epilogue: what the pinned page holds after the parent wrote it (-1: nothing pinned)',
});

export const scenario: Scenario<{ g: number }> = {
  name: 'gup-fast-vs-fork',
  description:
    'pin_user_pages_fast() while another thread forks; the pinned page stays the parent’s',
  module: import.meta.url,
  variants: [VARIANT_GUP_FAST_WITHOUT_WP_SEQ],
  default_cpus: 2,
  max_cpus: 2,
  variant_docs: SEED_VARIANT_DOCS,
  params: {},
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(GFF.$, 'gup_fast_vs_fork') }),

  *prologue(k: KernelContext, { g }): KGen {
    const mm = yield* call(new_mm(k));
    yield* call(do_mmap(k, mm, anon_fixed(P, 1)));
    k.BUG_ON(
      (yield* call(user_access(k, mm, P * PAGE_BYTES, true, BEFORE))) !== 0,
      'gup-fast-vs-fork: the prologue cannot write its own page',
    );
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
    yield* call(user_access(k, mm, P * PAGE_BYTES, true, AFTER));
    const page = yield k.load(g + GFF.pinned);
    if (page === 0) {
      yield k.store(g + GFF.seen, -1);
    } else {
      yield k.store(g + GFF.seen, yield k.load(yield k.load(page + PAGE.frame)));
      yield* call(unpin_user_page(k, page));
    }
    yield* call(mmput(k, yield k.load(g + GFF.child)));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const seen = m.words[g + GFF.seen]!;
    if (seen === -1)
      throw new KernelBug('outcome', 'gup-fast-vs-fork: pin_user_pages_fast() pinned nothing');
    if (seen !== AFTER)
      throw new KernelBug(
        'outcome',
        `gup-fast-vs-fork: the pinned page stopped being the parent's: it holds ${seen.toString(16)}, not the parent's ${AFTER.toString(16)}`,
      );
    check_mm_caches_empty(m, sys, 'after both mms died');
  },
};
