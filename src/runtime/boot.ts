/*
 * What the executors need of a booted kernel, and the kernel a run boots,
 * handed to them from above (the check layer wires in src/kernel/boot.ts's).
 * The kernel builds the boot record and declares its own symbols and
 * command line options on these interfaces by declaration merging
 * (src/kernel/boot.ts), so that kernel code reads them from k.sys with
 * their types while the runtime names none of them.
 */
import type { KernelMemory } from './memory.js';

/** Where boot put things: constant afterwards, and passed to every worker. */
export interface BootRecord {
  /** task_struct of each task: the CPUs first, then the kthreads (a context's `current`). */
  readonly tasks: readonly number[];
  /** rcu_data of each task, where its RCU read-side sections nest (rcu_reader.ts). */
  readonly rcu_data: readonly number[];
  /** The word set while the grace-period kthread waits for readers (rcu_state.gp_waiting). */
  readonly rcu_gp_waiting: number;
}

/** The kernel command line a scenario boots with; its options are the kernel's. */
// biome-ignore lint/suspicious/noEmptyInterface: an interface, so that the kernel can declare its options on it
export interface BootParams {}

/** A kernel the executors can run: how it boots, and the designs it offers (--policy). */
export interface Kernel {
  /** Lay out the kernel's global objects for `nr_tasks` tasks in a fresh kernel memory. */
  boot(m: KernelMemory, nr_tasks: number, params?: BootParams): BootRecord;
  /** The address-space locking designs a run can choose. */
  readonly policies: readonly string[];
  /** The design of a run that names none. */
  readonly default_policy: string;
}
