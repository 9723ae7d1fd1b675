/*
 * stack-expand: cpu0 writes the page just below a growsdown stack, so its
 * fault finds no VMA there and expands the stack down to it; meanwhile
 * cpu1 writes an untouched page of another VMA, so its fault looks that
 * VMA up. Each then reads its word back. Expanding replaces the maple node
 * that indexes the VMAs, and the old node is freed after a grace period;
 * a fault that holds mmap_lock only for read walks the index outside RCU,
 * so the node must not be replaced under it: the stack grows only under
 * the write lock.
 *
 * StackRot (CVE-2023-3269, the variant) grows it under the read lock: cpu1's
 * find_vma() walks a node that the grace-period kthread frees meanwhile
 * (KASAN). Its kernels (6.1 to 6.4) found the VMA under mmap_lock alone: the
 * mmap-lock policy. Faults on the stack itself would race on its vm_start
 * first, which the seed variants' searches stop at.
 */
import { user_access, VARIANT_STACK_EXPAND_UNDER_READ_LOCK } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { MAP_GROWSDOWN, PROT_READ, PROT_WRITE } from '../../kernel/mm/mm_types.js';
import { do_mmap, mmput } from '../../kernel/mm/mmap.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, new_mm } from '../common.js';
import { HISTORICAL_VARIANT_DOCS } from '../historical.js';

/** The stack: two pages, the upper one written by the prologue. */
const S = BASE + 64;
/** The other VMA: two pages above the stack, the upper one written by the prologue. */
const H = S + 16;

const SE = defineStruct('stack_expand', {
  mm: 'set by the prologue: the mm both CPUs are threads of; put by the epilogue',
  wrote: [2, 'cpu i: what its write below the stack returned (0 or -signal)'],
  seen: [2, 'cpu i: what it read back'],
});

/* cpu i's word: cpu0's just below the stack, cpu1's on the other VMA's untouched page. */
const addr_of = (cpu: number): number => (cpu === 0 ? S - 1 : H) * PAGE_BYTES + 8;
const value_of = (cpu: number): number => 0x57ac0 + cpu;

export const scenario: Scenario<{ g: number }> = {
  name: 'stack-expand',
  description: 'a fault below a growsdown stack expands it while another fault looks its VMA up',
  module: import.meta.url,
  variants: [VARIANT_STACK_EXPAND_UNDER_READ_LOCK],
  default_cpus: 2,
  max_cpus: 2,
  variant_docs: HISTORICAL_VARIANT_DOCS,
  params: {},
  memory_words: 1 << 20,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m: KernelMemory) => ({ g: m.boot_alloc(SE.$, 'stack_expand') }),

  *prologue(k: KernelContext, { g }): KGen {
    const mm = yield* call(new_mm(k));
    yield* call(do_mmap(k, mm, anon_fixed(S, 2, PROT_READ | PROT_WRITE, MAP_GROWSDOWN)));
    yield* call(do_mmap(k, mm, anon_fixed(H, 2)));
    // Page tables and anon_vmas exist: the race is the expansion and the lookup alone.
    for (const page of [S + 1, H + 1])
      k.BUG_ON(
        (yield* call(user_access(k, mm, page * PAGE_BYTES, true, 1))) !== 0,
        'stack-expand: the prologue cannot write its own pages',
      );
    yield k.store(g + SE.mm, mm);
  },

  *cpu(k: KernelContext, { g }): KGen {
    const mm = yield k.load(g + SE.mm);
    const addr = addr_of(k.cpu);
    yield k.store(
      g + SE.wrote + k.cpu,
      yield* call(user_access(k, mm, addr, true, value_of(k.cpu))),
    );
    yield k.store(g + SE.seen + k.cpu, yield* call(user_access(k, mm, addr, false, 0)));
  },

  *epilogue(k: KernelContext, { g }): KGen {
    yield* call(mmput(k, yield k.load(g + SE.mm)));
  },

  // No VMA lies below the stack and its growth stays within RLIMIT_STACK: both writes land.
  check(m: KernelMemory, sys: KernelSymbols, { g }): void {
    for (let cpu = 0; cpu < 2; cpu++) {
      const wrote = m.words[g + SE.wrote + cpu]!;
      const seen = m.words[g + SE.seen + cpu]!;
      if (wrote !== 0 || seen !== value_of(cpu))
        throw new KernelBug(
          'outcome',
          `stack-expand: cpu${cpu}'s write returned ${wrote} and reads back ${seen}, not 0 and ${value_of(cpu)}`,
        );
    }
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
