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
 * The page stays mapped and readable throughout, so the read returns 0,
 * never SIGSEGV; and the mm ends with P alone, grown.
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
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, new_mm } from '../common.js';

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
const MERGED_END = [Q + 2, R + 2] as const;

const DVR = defineStruct('detach_vs_reader', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  seen: 'cpu0: the value its read returned (or -SIGSEGV)',
  start: 'the epilogue, under the mmap read lock: the extent of the VMA at P',
  end: 'likewise',
});

export const scenario: Scenario<{ g: number }> = {
  name: 'detach-vs-reader',
  description: 'a fault holds a VMA read lock while a merge removes the VMA',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 2,
  params: { mode: MODE_MPROTECT },
  param_max: { mode: MODE_MMAP },
  param_docs: {
    mode: {
      doc: 'the merge that removes the VMA cpu0 faults in: 0 an mprotect makes it like the VMA before it, 1 an mmap fills the hole before it',
    },
  },
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(DVR.$, 'detach_vs_reader') }),

  *prologue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield* call(new_mm(k));
    yield* call(do_mmap(k, mm, anon_fixed(P, 2)));
    if (cfg.params.mode === MODE_MPROTECT) yield* call(do_mmap(k, mm, anon_fixed(Q, 2, PROT_READ)));
    else yield* call(do_mmap(k, mm, anon_fixed(R, 2)));
    k.BUG_ON(
      (yield* call(user_access(k, mm, P * PAGE_BYTES, true, 1))) !== 0,
      'detach-vs-reader: the prologue cannot write its own page',
    );
    yield k.store(g + DVR.mm, mm);
  },

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + DVR.mm);
    const mode = cfg.params.mode!;
    if (k.cpu === 0) {
      const addr = READ_PAGE[mode]! * PAGE_BYTES + 8;
      yield k.store(g + DVR.seen, yield* call(user_access(k, mm, addr, false, 0)));
    } else {
      const ret =
        mode === MODE_MPROTECT
          ? yield* call(do_mprotect(k, mm, Q, 2, PROT_READ | PROT_WRITE))
          : yield* call(do_mmap(k, mm, anon_fixed(HOLE, 1)));
      k.BUG_ON(ret < 0, `detach-vs-reader: the merging call failed (${ret})`);
    }
  },

  *epilogue(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + DVR.mm);
    yield* call(mmap_read_lock(k, mm));
    const e = yield* call(mt_find(k, mm, P));
    yield k.store(g + DVR.start, e?.start ?? 0);
    yield k.store(g + DVR.end, e?.end ?? 0);
    yield* call(mmap_read_unlock(k, mm));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }, cfg: RunConfig): void {
    const w = (field: number): number => m.words[g + field]!;
    if (w(DVR.seen) !== 0)
      throw new KernelBug(
        'outcome',
        `detach-vs-reader: a read of a mapped, never-written page returned ${w(DVR.seen)}, not 0`,
      );
    const end = MERGED_END[cfg.params.mode!]!;
    if (w(DVR.start) !== P || w(DVR.end) !== end)
      throw new KernelBug(
        'outcome',
        `detach-vs-reader: the VMA at ${P} spans ${w(DVR.start)}-${w(DVR.end)} after the merge, not ${P}-${end}`,
      );
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
