/*
 * Boot: lay out the kernel's global objects in a fresh kernel memory, the
 * way start_kernel() would: one task_struct per CPU (and per kthread), RCU's
 * state, the kmalloc caches. Every executor boots the same way, so the same
 * scenario sees the same addresses natively, under the explorer and in a
 * replay.
 */
import type { BootParams, BootRecord, Kernel } from '../runtime/boot.js';
import { defineStruct } from '../runtime/layout.js';
import type { KernelMemory } from '../runtime/memory.js';
import { type MmCaches, mm_core_init } from './mm/mm_init.js';
import { DEFAULT_POLICY, POLICIES } from './mm/policy.js';
import { RCU_STATE, rcu_init, rcu_synchronize_init } from './rcu/tree.js';
import { TASK_STRUCT } from './sched.js';
import { KMALLOC_CLASSES, KMALLOC_MIN_WORDS, kmem_cache_create } from './slab.js';

declare module '../runtime/boot.js' {
  /** The kernel's symbols, on top of what the executors read (tasks, rcu_data, rcu_gp_waiting). */
  interface BootRecord {
    readonly rcu_state: number;
    /** kmalloc caches by size class (4 << i words). */
    readonly kmalloc_caches: readonly number[];
    /** The memory manager's caches. */
    readonly mm: MmCaches;
    /** The command line it booted with. */
    readonly params: BootParams;
  }

  /**
   * The kernel command line, as far as the model reads one. Empty: a
   * mainline x86-64 kernel.
   */
  interface BootParams {
    /**
     * mm_forbids_zeropage(): a read fault of private anonymous memory gets a
     * zeroed page of its own, and with it an anon_vma, instead of the shared
     * zero page, so the VMA merges as a written one does. Mainline x86-64
     * never forbids it; s390 does for KVM hosts, and some virtual machines'
     * kernels do by a boot parameter of their own (`pvm_no_zero_page=1` on
     * the guests this project's CI ran on in December 2026). The Linux oracle
     * tells which its kernel does (src/oracle/linux.ts linux_boot_params()).
     */
    readonly forbid_zeropage?: boolean;
  }
}

/** Where boot put things: constant afterwards, and passed to every worker. */
export type KernelSymbols = BootRecord;
export type { BootParams };

/** Tasks a kernel boots at most: 256 CPUs (the scaling curves' last point) and their kthreads. */
export const MAX_TASKS = 256 + 8;

export function boot(m: KernelMemory, nr_tasks: number, params: BootParams = {}): KernelSymbols {
  if (!Number.isInteger(nr_tasks) || nr_tasks < 1 || nr_tasks > MAX_TASKS)
    throw new Error(`boot: ${nr_tasks} tasks`);
  const t0 = m.boot_alloc(TASK_STRUCT.$, 'task_struct', nr_tasks);
  const tasks: number[] = [];
  for (let i = 0; i < nr_tasks; i++) {
    const t = t0 + i * TASK_STRUCT.$.size;
    m.words[t + TASK_STRUCT.cpu] = i;
    rcu_synchronize_init(m, t);
    tasks.push(t);
  }
  const { rcu_state, rcu_data } = rcu_init(m, nr_tasks);
  const kmalloc_caches: number[] = [];
  for (let i = 0; i < KMALLOC_CLASSES; i++) {
    const words = KMALLOC_MIN_WORDS << i;
    const info = defineStruct(`kmalloc-${words * 4}`, { data: [words, 'its user'] }).$;
    kmalloc_caches.push(kmem_cache_create(m, info.name, info, 0, rcu_state + RCU_STATE.gp_seq));
  }
  const mm = mm_core_init(m, rcu_state + RCU_STATE.gp_seq);
  const rcu_gp_waiting = rcu_state + RCU_STATE.gp_waiting;
  return { tasks, rcu_state, rcu_data, rcu_gp_waiting, kmalloc_caches, mm, params };
}

/** The kernel every executor runs: this model's. */
export const KERNEL: Kernel = { boot, policies: POLICIES, default_policy: DEFAULT_POLICY };
