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
 * Every read returns 0: the pages read stay readable throughout.
 */
import { user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { PROT_READ } from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, new_mm } from '../common.js';

const MAX_CPUS = 8;
/** The VMA: a page for each reader, then one the prologue writes (its page table exists). */
const A = BASE + 16;
const OFFSET = 8;
/** seen[i] before reader i stored its result. */
const UNSET = -1;

const RVW = defineStruct('readers_vs_writer', {
  mm: 'set by the prologue: the mm every CPU is a thread of; put by the epilogue',
  mprotect: 'the writer: what mprotect returned',
  seen: [MAX_CPUS, 'reader i: what its read returned (or -SIGSEGV)'],
});

export const scenario: Scenario<{ g: number }> = {
  name: 'readers-vs-writer',
  description: 'several CPUs fault in one VMA under its lock while another mprotects it',
  module: import.meta.url,
  variants: [],
  default_cpus: 3,
  max_cpus: MAX_CPUS,
  params: { whole: 0 },
  param_max: { whole: 1 },
  param_docs: {
    whole: {
      doc: '1: the writer makes the whole VMA read-only (no split) rather than its last page',
    },
  },
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(RVW.$, 'readers_vs_writer') }),

  *prologue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const readers = cfg.cpus - 1;
    const mm = yield* call(new_mm(k));
    yield* call(do_mmap(k, mm, anon_fixed(A, readers + 1)));
    k.BUG_ON(
      (yield* call(user_access(k, mm, (A + readers) * PAGE_BYTES, true, 1))) !== 0,
      'readers-vs-writer: the prologue cannot write its own page',
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
      const addr = (A + k.cpu) * PAGE_BYTES + OFFSET;
      yield k.store(g + RVW.seen + k.cpu, yield* call(user_access(k, mm, addr, false, 0)));
    }
  },

  *epilogue(k: KernelContext, { g }): KGen {
    yield* call(mmput(k, yield k.load(g + RVW.mm)));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }, cfg: RunConfig): void {
    const w = m.words;
    if (w[g + RVW.mprotect] !== 0)
      throw new KernelBug('outcome', `readers-vs-writer: mprotect returned ${w[g + RVW.mprotect]}`);
    for (let i = 0; i < cfg.cpus - 1; i++) {
      const seen = w[g + RVW.seen + i]!;
      if (seen !== 0)
        throw new KernelBug(
          'outcome',
          `readers-vs-writer: reader ${i} read ${seen} from a never-written, always readable page, not 0`,
        );
    }
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
