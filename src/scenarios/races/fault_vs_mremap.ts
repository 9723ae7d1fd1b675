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
 * at the old address: the write would land in a page nobody maps. So
 * after both, the word is at the new address if the write succeeded
 * (0 if it got SIGSEGV because it came after a move), the page the
 * prologue wrote moved with it, and the old address faults after a move.
 */
import { SIGSEGV, user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ } from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { do_mremap } from '../../kernel/mm/mremap.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, new_mm } from '../common.js';

/** The VMA: two pages, the second written by the prologue. */
const A = BASE + 16;
/** MREMAP_FIXED's target in mode 0. */
const TARGET = BASE + 64;
/** cpu0 writes VALUE at this offset of A's first page; the prologue wrote KEPT on the second. */
const OFFSET = 8;
const VALUE = 0x5a5a;
const KEPT = 0x1111;

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
});

export const scenario: Scenario<{ g: number }> = {
  name: 'fault-vs-mremap',
  description: 'a write fault in a VMA while another CPU moves or grows it with mremap',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 2,
  params: { mode: MODE_MOVE },
  param_max: { mode: MODE_GROW_MOVE },
  param_docs: {
    mode: {
      doc: 'how cpu1 mremaps the VMA: 0 move (MREMAP_FIXED), 1 grow in place, 2 grow where it must move',
    },
  },
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(FVR.$, 'fault_vs_mremap') }),

  *prologue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield* call(new_mm(k));
    yield* call(do_mmap(k, mm, anon_fixed(A, 2)));
    // Read-only, so it never merges with A: A cannot grow where it is.
    if (cfg.params.mode === MODE_GROW_MOVE)
      yield* call(do_mmap(k, mm, anon_fixed(A + 2, 1, PROT_READ)));
    k.BUG_ON(
      (yield* call(user_access(k, mm, (A + 1) * PAGE_BYTES + OFFSET, true, KEPT))) !== 0,
      'fault-vs-mremap: the prologue cannot write its own page',
    );
    yield k.store(g + FVR.mm, mm);
  },

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + FVR.mm);
    if (k.cpu === 0) {
      yield k.store(
        g + FVR.wrote,
        yield* call(user_access(k, mm, A * PAGE_BYTES + OFFSET, true, VALUE)),
      );
      return;
    }
    const moved_to =
      cfg.params.mode === MODE_MOVE
        ? yield* call(do_mremap(k, mm, A, 2, 2, MREMAP_MAYMOVE | MREMAP_FIXED, TARGET))
        : yield* call(do_mremap(k, mm, A, 2, 4, MREMAP_MAYMOVE, 0));
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
    const fail = (what: string): never => {
      throw new KernelBug('outcome', `fault-vs-mremap: ${what}`);
    };
    const mode = cfg.params.mode!;
    const to = w(FVR.moved_to);
    if (to <= 0) fail(`mremap failed (${to})`);
    if (mode === MODE_MOVE && to !== TARGET) fail(`moved to ${to}, not ${TARGET}`);
    if (mode === MODE_GROW && to !== A) fail(`grew at ${to}, not in place at ${A}`);
    if (mode === MODE_GROW_MOVE && to === A) fail(`grew in place past a mapping`);
    const wrote = w(FVR.wrote);
    if (wrote !== 0 && (wrote !== -SIGSEGV || mode === MODE_GROW))
      fail(`the write returned ${wrote}`);
    const want = wrote === 0 ? VALUE : 0;
    if (w(FVR.at_new) !== want)
      fail(`the new address holds ${w(FVR.at_new)}, not ${want} (the write returned ${wrote})`);
    if (w(FVR.kept) !== KEPT) fail(`the prologue's page holds ${w(FVR.kept)}, not ${KEPT}`);
    if (mode !== MODE_GROW && w(FVR.at_old) !== -SIGSEGV)
      fail(`the old address still reads ${w(FVR.at_old)} after the move`);
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
