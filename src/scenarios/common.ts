/*
 * What the mm scenarios share: the address-space window they map in and
 * the private anonymous MAP_FIXED mappings they make. Not a scenario:
 * index.ts lists scenarios by import, never by file.
 *
 * Only plain functions here, never generators: a traced replay names each
 * access by the innermost function on the stack, and a helper generator
 * would show up there in place of the scenario's own code. The one
 * exception serves prologues, which are never traced.
 */

import { SIGSEGV, user_access } from '../kernel/arch/fault.js';
import { VARIANT_GUP_FAST_WITHOUT_WP_SEQ } from '../kernel/fork.js';
import { VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK } from '../kernel/mm/maple_tree.js';
import { VARIANT_FAULT_WITHOUT_MAP_PAGES_AUDIT } from '../kernel/mm/memory.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from '../kernel/mm/mm_types.js';
import { do_mmap, type MmapArgs, mm_alloc } from '../kernel/mm/mmap.js';
import { VARIANT_PUT_READS_MM_LATE, VARIANT_UP_READ_WITHOUT_RCU } from '../kernel/mm/mmap_lock.js';
import { PAGE_BYTES } from '../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../kernel/rcu/tree.js';
import type { StructInfo } from '../runtime/layout.js';
import type { KernelMemory } from '../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../runtime/ops.js';

/** First page of the 2 GiB the scenarios' mms have page tables for. */
export const BASE = 1 << 29;
/** mmap_base of their mms: top-down mmaps start 1 GiB above BASE. */
export const TOP = BASE + (1 << 18);

/** mm_alloc() with the scenarios' window; returns mm_alloc's own generator. */
export const new_mm = (k: KernelContext): KGen<number> => mm_alloc(k, TOP, 1 << 30, BASE);

/** do_mmap() arguments: private anonymous memory at a fixed page, plus `flags`. */
export const anon_fixed = (
  addr: number,
  len: number,
  prot: number = PROT_READ | PROT_WRITE,
  flags = 0,
): MmapArgs => ({
  addr,
  len,
  prot,
  flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | flags,
  file: 0,
  pgoff: 0,
});

/**
 * Every seed variant, each at the place of its fix, with the mistake it
 * re-introduces: a scenario's variant_docs (the variants it lists look
 * themselves up here).
 */
export const SEED_VARIANT_DOCS: Readonly<Record<string, string>> = {
  [VARIANT_UP_READ_WITHOUT_RCU]:
    'seed 000: vma_end_read() releases the VMA lock outside the RCU read section',
  [VARIANT_PUT_READS_MM_LATE]: 'seed 001: vma_refcount_put() reads vma->vm_mm after its decrement',
  [VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK]:
    'seed 002: range-locked writers update the VMA index without its own lock',
  [VARIANT_FAULT_WITHOUT_MAP_PAGES_AUDIT]:
    'seed 003: a ->fault that relies on mmap_lock is called under the VMA lock (no ->map_pages audit)',
  [VARIANT_GUP_FAST_WITHOUT_WP_SEQ]:
    'seed 004: fork write-protects pages outside write_protect_seq, which GUP-fast checks',
};

/** Every seed variant: scenarios that exercise them all list these. */
export const SEED_VARIANTS: readonly string[] = Object.keys(SEED_VARIANT_DOCS);

/**
 * A prologue's address space: the VMAs `vmas`, mapped in order, then the
 * word at byte address `addr` written with `value` (so that its page table
 * exists). Returns the mm.
 */
export function* mm_with_written_word(
  k: KernelContext,
  vmas: readonly MmapArgs[],
  addr: number,
  value: number,
  who: string,
): KGen<number> {
  const mm = yield* call(new_mm(k));
  for (const a of vmas) yield* call(do_mmap(k, mm, a));
  k.BUG_ON(
    (yield* call(user_access(k, mm, addr, true, value))) !== 0,
    `${who}: the prologue cannot write its own page`,
  );
  return mm;
}

/**
 * A prologue's address space: one private anonymous VMA of two pages at
 * `page`, the second written (so its page table exists), the first never
 * touched, so that a CPU's access to it faults. Returns the mm.
 */
export function mm_with_untouched_page(k: KernelContext, page: number, who: string): KGen<number> {
  return mm_with_written_word(k, [anon_fixed(page, 2)], (page + 1) * PAGE_BYTES, 1, who);
}

/**
 * What the race scenarios declare alike: their CPUs (two by default), 4
 * MiB of kernel memory, the RCU grace-period kthread, and their globals
 * one struct `layout` allocated at boot under `name`.
 */
export function race_basics(
  layout: { readonly $: StructInfo },
  name: string,
  default_cpus = 2,
  max_cpus = default_cpus,
) {
  return {
    default_cpus,
    max_cpus,
    memory_words: 1 << 20,
    kthreads: [RCU_GP_KTHREAD],
    setup: (m: KernelMemory) => ({ g: m.boot_alloc(layout.$, name) }),
  } as const;
}

/** A scenario's one selector parameter: its default, its largest value, and what it picks. */
export function selector(key: string, dflt: number, max: number, doc: string) {
  return { params: { [key]: dflt }, param_max: { [key]: max }, param_docs: { [key]: { doc } } };
}

/**
 * check()'s verdict on what a scenario's tasks recorded: `wrong`, the first
 * outcome its rule forbids (undefined: none), becomes the outcome bug.
 */
export function assert_outcome(name: string, wrong: string | undefined): void {
  if (wrong !== undefined) throw new KernelBug('outcome', `${name}: ${wrong}`);
}

/**
 * What a CPU that read a never-written page saw while another unmapped its
 * VMA: the read's result, and each CPU's view of the other (a READ_ONCE
 * of the other's done flag before its own operation).
 */
export interface ReadVsUnmap {
  readonly seen: number;
  /** The munmap had returned before the read began. */
  readonly unmapped_first: boolean;
  /** The read had returned before the munmap began. */
  readonly read_first: boolean;
}

/**
 * The rule of a read racing a munmap: 0 (the page mapped, never written)
 * or SIGSEGV (the VMA gone), nothing else; SIGSEGV if the munmap came
 * first, 0 if the read did. The first thing `o` breaks, if any.
 */
export function judge_read_vs_unmap(o: ReadVsUnmap): string | undefined {
  if (o.seen !== 0 && o.seen !== -SIGSEGV)
    return `a read of a never-written page returned ${o.seen}, not 0 or SIGSEGV`;
  if (o.unmapped_first && o.seen !== -SIGSEGV)
    return `a read that began after the munmap returned read ${o.seen}, not SIGSEGV`;
  if (o.read_first && o.seen !== 0)
    return `a read that returned before the munmap began got ${o.seen}, not 0`;
  return undefined;
}

/** A word as the outcome messages print it. */
export const hex = (v: number): string => (v < 0 ? `${v}` : `0x${(v >>> 0).toString(16)}`);

/** What maps_walk_error() needs of a line of /proc/PID/maps. */
export interface MapsLineOps<L> {
  /** The end of the line's VMA: the position the reader goes on from. */
  end(l: L): number;
  same(a: L, b: L): boolean;
  show(l: L): string;
  /** A position, as the message names it. */
  at(pos: number): string;
}

/**
 * The rule of /proc/PID/maps read while the address space went through
 * `states` in turn (fs/proc/task_mmu.c; proc-maps-race.c checks it at its
 * page boundary): each line is the first VMA ending past the previous
 * line's end (0 for the first) in one of the states, never in an earlier
 * state than the line before it, and the file ends where such a state has
 * nothing more. So no VMA is torn or missing, and a VMA shows twice only
 * as a merged one met again after a piece of it shown before the merge.
 * The first thing `lines` breaks, if any. The earliest state a line fits
 * is kept, which leaves the most to the lines after it.
 */
export function maps_walk_error<L>(
  lines: readonly L[],
  states: readonly (readonly L[])[],
  ops: MapsLineOps<L>,
): string | undefined {
  const next = (state: readonly L[], pos: number): L | null =>
    state.find((l) => ops.end(l) > pos) ?? null;
  let s = 0;
  let pos = 0;
  for (const [i, line] of lines.entries()) {
    let t = s;
    while (t < states.length) {
      const n = next(states[t]!, pos);
      if (n !== null && ops.same(n, line)) break;
      t++;
    }
    if (t === states.length) {
      const expected = states
        .slice(s)
        .map((st) => next(st, pos))
        .map((l) => (l === null ? 'the end of the file' : ops.show(l)));
      return `line ${i + 1} is ${ops.show(line)}, where the VMA after ${ops.at(pos)} was ${[...new Set(expected)].join(' or ')}`;
    }
    s = t;
    pos = ops.end(line);
  }
  for (let t = s; t < states.length; t++) if (next(states[t]!, pos) === null) return undefined;
  return `the file ended after ${lines.length} lines, at ${ops.at(pos)}, before ${ops.show(next(states[s]!, pos)!)}`;
}
