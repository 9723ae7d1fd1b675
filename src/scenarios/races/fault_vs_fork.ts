/*
 * fault-vs-fork: cpu0, a thread of the parent, writes a page the parent
 * already wrote while cpu1 forks. fork write-locks every VMA and
 * write-protects the page in both mms (copy-on-write), so the write either
 * comes before that, through the writable PTE, or faults after it and
 * gets a private copy. The COW fault may come while fork still holds the
 * VMA write-locked: under the VMA lock it must fail and retry under
 * mmap_lock, never write through a PTE fork already shares. The child
 * (read by the epilogue, the process once its threads are joined) sees
 * the old value or the new one, whole; the parent sees the new one.
 *
 * `early` = 1 also has the child read at once after the fork, and demands
 * it keeps seeing that value. Nothing in the model orders that read after
 * the parent's store, which went through a present PTE without a lock: on
 * Linux fork's TLB flush does, the model has none (see the test).
 */
import { user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { dup_mmap } from '../../kernel/fork.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, new_mm } from '../common.js';

/** The page: one page of its own VMA. */
const A = BASE + 16;
const ADDR = A * PAGE_BYTES + 8;
/** Every byte differs, so that a torn read shows. */
const OLD = 0x11223344;
const NEW = 0x55667788;

const FVF = defineStruct('fault_vs_fork', {
  mm: 'set by the prologue: the parent mm, of which both CPUs are threads; put by the epilogue',
  wrote: "cpu0: its write's result, 0 or -SIGSEGV",
  child: 'cpu1: the mm its fork made; put by the epilogue',
  child_first: "cpu1 (early=1): the child's word right after the fork",
  joined: 'store_release by cpu1 as it ends; load_acquire by the epilogue (the join)',
  child_last: "the epilogue: the child's word",
  parent: "the epilogue: the parent's word",
});

export const scenario: Scenario<{ g: number }> = {
  name: 'fault-vs-fork',
  description: 'a thread writes a page while another thread forks',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 2,
  params: { early: 0 },
  param_max: { early: 1 },
  param_docs: {
    early: {
      doc: '1: the child also reads the page at once after the fork, and must keep seeing that value',
    },
  },
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(FVF.$, 'fault_vs_fork') }),

  *prologue(k: KernelContext, { g }): KGen {
    const mm = yield* call(new_mm(k));
    yield* call(do_mmap(k, mm, anon_fixed(A, 1)));
    k.BUG_ON(
      (yield* call(user_access(k, mm, ADDR, true, OLD))) !== 0,
      'fault-vs-fork: the prologue cannot write its own page',
    );
    yield k.store(g + FVF.mm, mm);
  },

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + FVF.mm);
    if (k.cpu === 0) {
      yield k.store(g + FVF.wrote, yield* call(user_access(k, mm, ADDR, true, NEW)));
      return;
    }
    const child = yield* call(dup_mmap(k, mm));
    k.BUG_ON(child === 0, 'fault-vs-fork: fork failed');
    yield k.store(g + FVF.child, child);
    if (cfg.params.early === 1)
      yield k.store(g + FVF.child_first, yield* call(user_access(k, child, ADDR, false, 0)));
    yield k.store_release(g + FVF.joined, 1);
  },

  *epilogue(k: KernelContext, { g }, cfg: RunConfig): KGen {
    // The explorer's KCSAN sees no join of cpu1's end: this acquire is it.
    k.BUG_ON((yield k.load_acquire(g + FVF.joined)) !== 1, 'fault-vs-fork: cpu1 did not end');
    const mm = yield k.load(g + FVF.mm);
    const child = yield k.load(g + FVF.child);
    const last = yield* call(user_access(k, child, ADDR, false, 0));
    yield k.store(g + FVF.child_last, last);
    if (cfg.params.early !== 1) yield k.store(g + FVF.child_first, last);
    yield k.store(g + FVF.parent, yield* call(user_access(k, mm, ADDR, false, 0)));
    yield* call(mmput(k, child));
    yield* call(mmput(k, mm));
  },

  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    const w = (field: number): number => m.words[g + field]! >>> 0;
    const fail = (what: string): never => {
      throw new KernelBug('outcome', `fault-vs-fork: ${what}`);
    };
    const hex = (v: number): string => `0x${v.toString(16)}`;
    if (w(FVF.wrote) !== 0) fail(`the parent's write failed (${m.words[g + FVF.wrote]})`);
    if (w(FVF.parent) !== NEW) fail(`the parent reads ${hex(w(FVF.parent))}, not ${hex(NEW)}`);
    const first = w(FVF.child_first);
    if (first !== OLD && first !== NEW)
      fail(`the child reads ${hex(first)}, neither ${hex(OLD)} nor ${hex(NEW)}`);
    if (w(FVF.child_last) !== first)
      fail(
        `the child's page changed after the fork: ${hex(first)}, then ${hex(w(FVF.child_last))}`,
      );
    check_mm_caches_empty(m, sys, 'after both mms died');
  },
};
