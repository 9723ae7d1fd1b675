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
 * it keeps seeing that value (fork's TLB flush orders that read after a
 * parent's store through the PTE fork write-protected: see the test).
 *
 * The outcome rule, from what each CPU saw of the other (a READ_ONCE of
 * the other's done flag before its own operation):
 *   - the parent's write succeeds, and the parent then reads NEW;
 *   - the child reads OLD or NEW, whole, and the same value every time;
 *   - OLD if the fork had returned before the write began (the write
 *     COWs away from the page the child shares);
 *   - NEW if the write had returned before the fork began.
 */
import { user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { dup_mmap } from '../../kernel/fork.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { mmput } from '../../kernel/mm/mmap.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import {
  anon_fixed,
  assert_outcome,
  BASE,
  hex,
  mm_with_written_word,
  race_basics,
  selector,
} from '../common.js';

/** The page: one page of its own VMA. */
const A = BASE + 16;
const ADDR = A * PAGE_BYTES + 8;
/** Every byte differs, so that a torn read shows. */
export const OLD = 0x11223344;
export const NEW = 0x55667788;
const NAME = 'fault-vs-fork';

const FVF = defineStruct('fault_vs_fork', {
  mm: 'set by the prologue: the parent mm, of which both CPUs are threads; put by the epilogue',
  wrote: "cpu0: its write's result, 0 or -SIGSEGV",
  child: 'cpu1: the mm its fork made; put by the epilogue',
  child_first: "cpu1 (early=1): the child's word right after the fork",
  joined: 'store_release by cpu1 as it ends; load_acquire by the epilogue (the join)',
  child_last: "the epilogue: the child's word",
  parent: "the epilogue: the parent's word",
  wrote_done: 'WRITE_ONCE by cpu0 once its write returned; READ_ONCE by cpu1 before its fork',
  forked: 'WRITE_ONCE by cpu1 once its fork returned; READ_ONCE by cpu0 before its write',
  forked_first: 'cpu0: forked, as it saw it before its write',
  wrote_first: 'cpu1: wrote_done, as it saw it before its fork',
});

/** What the tasks recorded. */
export interface Observed {
  readonly wrote: number;
  readonly parent: number;
  readonly child_first: number;
  readonly child_last: number;
  readonly forked_first: boolean;
  readonly wrote_first: boolean;
}

/** The outcome rule of the header: the first thing `o` breaks, if any. */
export function judge(o: Observed): string | undefined {
  if (o.wrote !== 0) return `the parent's write failed (${o.wrote})`;
  if (o.parent !== NEW) return `the parent reads ${hex(o.parent)}, not ${hex(NEW)}`;
  const first = o.child_first;
  if (first !== OLD && first !== NEW)
    return `the child reads ${hex(first)}, neither ${hex(OLD)} nor ${hex(NEW)}`;
  if (o.child_last !== first)
    return `the child's page changed after the fork: ${hex(first)}, then ${hex(o.child_last)}`;
  if (o.forked_first && first !== OLD)
    return `the child reads ${hex(first)}, a write that began after the fork returned`;
  if (o.wrote_first && first !== NEW)
    return `the child reads ${hex(first)}, not ${hex(NEW)}, written before the fork began`;
  return undefined;
}

export const scenario: Scenario<{ g: number }> = {
  name: NAME,
  description: 'a thread writes a page while another thread forks',
  module: import.meta.url,
  variants: [],
  ...selector(
    'early',
    0,
    1,
    '1: the child also reads the page at once after the fork, and must keep seeing that value',
  ),
  ...race_basics(FVF, 'fault_vs_fork'),

  *prologue(k: KernelContext, { g }): KGen {
    yield k.store(
      g + FVF.mm,
      yield* call(mm_with_written_word(k, [anon_fixed(A, 1)], ADDR, OLD, NAME)),
    );
  },

  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    const mm = yield k.load(g + FVF.mm);
    if (k.cpu === 0) {
      const forked = yield k.READ_ONCE(g + FVF.forked);
      yield k.store(g + FVF.wrote, yield* call(user_access(k, mm, ADDR, true, NEW)));
      yield k.WRITE_ONCE(g + FVF.wrote_done, 1);
      yield k.store(g + FVF.forked_first, forked);
      return;
    }
    const wrote = yield k.READ_ONCE(g + FVF.wrote_done);
    const child = yield* call(dup_mmap(k, mm));
    k.BUG_ON(child === 0, 'fault-vs-fork: fork failed');
    yield k.WRITE_ONCE(g + FVF.forked, 1);
    yield k.store(g + FVF.wrote_first, wrote);
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
    const w = (field: number): number => m.words[g + field]!;
    const u = (field: number): number => w(field) >>> 0;
    assert_outcome(
      NAME,
      judge({
        wrote: w(FVF.wrote),
        parent: u(FVF.parent),
        child_first: u(FVF.child_first),
        child_last: u(FVF.child_last),
        forked_first: w(FVF.forked_first) !== 0,
        wrote_first: w(FVF.wrote_first) !== 0,
      }),
    );
    check_mm_caches_empty(m, sys, 'after both mms died');
  },
};
