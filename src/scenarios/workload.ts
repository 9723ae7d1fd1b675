/*
 * A benchmark workload: a scenario whose CPUs bracket each measured
 * operation with k.op_begin() and k.op_end(), named after the benchmark a
 * kernel developer runs for the same thing (mmtests' pft, will-it-scale's
 * page_fault1). Being a scenario, it runs under every executor: natively
 * for real latencies, under `timing` for predictions, and under the
 * explorer in tests, which checks that it is a correct program.
 */
import type { Scenario } from '../runtime/scenario.js';

export type ExecutorName = 'native' | 'timing';
export const EXECUTORS: readonly ExecutorName[] = ['native', 'timing'];

export interface Workload {
  /** The name `mmlab bench` takes: 'pft', 'page-fault1', ... */
  readonly name: string;
  /** One line: what it does and which benchmark it is modelled on. */
  readonly description: string;
  /** What one operation is, for tables and charts: 'fault', 'mmap+munmap', 'pin'. */
  readonly op: string;
  /**
   * What one operation of the interfering cpu0 is ('fork'), where it has
   * one: its result's counters then hold `run_ops` and `interferer_ops`.
   */
  readonly interferer_op?: string;
  /** Its CPUs call k.op_begin()/k.op_end() around each operation; max_cpus >= 256. */
  readonly scenario: Scenario;
  /**
   * Parameters for a run on `cpus` CPUs: natively sized for a fraction of
   * a second of operations, under `timing` for a few hundred thousand
   * simulated accesses whatever the CPU count.
   */
  params(executor: ExecutorName, cpus: number): Record<string, number>;
  /**
   * Parameter overrides that leave the interfering CPU out (fault-vs-mprotect
   * without its writer): the same operations alone, for `p99_alone_ns`.
   */
  readonly alone?: Readonly<Record<string, number>>;
}

/** What a workload's operations for each of its cpu0's are called ("pins/fork"); null without one. */
export function per_interferer_op_unit(w: Pick<Workload, 'op' | 'interferer_op'>): string | null {
  return w.interferer_op ? `${w.op}s/${w.interferer_op}` : null;
}
