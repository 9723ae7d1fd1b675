/*
 * One benchmark point: a workload under one policy, executor and CPU
 * count. `mmlab bench --json` prints these as {"results": [...]}, and the
 * report draws them.
 */

/** The timing executor's cost profiles (see runtime/executors/timing_costs.ts). */
import type { ProfileName } from '../runtime/executors/timing_costs.js';
import type { ExecutorName } from '../scenarios/workload.js';

export interface BenchResult {
  readonly workload: string;
  readonly policy: string;
  readonly executor: ExecutorName;
  /** The timing executor's cost profile; absent for native runs. */
  readonly profile?: ProfileName;
  readonly cpus: number;
  /** Operations measured, every CPU's. */
  readonly ops: number;
  readonly ops_per_s: number;
  readonly p50_ns: number;
  readonly p90_ns: number;
  readonly p99_ns: number;
  readonly p999_ns: number;
  readonly max_ns: number;
  /** fault-vs-mprotect: the p99 of the same faults without the writer. */
  readonly p99_alone_ns?: number;
  /** Natively: the throughput of each measured run, of which ops_per_s is the median. */
  readonly runs_ops_per_s?: readonly number[];
  /**
   * Natively: how fast this machine ran while the point was measured, the
   * median of the host-speed probes taken before the runs measured with it
   * (host_speed.ts), in the probe's steps per microsecond.
   */
  readonly host_speed?: number;
  /**
   * vmstat's per-VMA lock events of the measuring CPUs (vma_lock_success,
   * ...); where cpu0 interferes, also both sides' operations over the whole
   * run (run_ops, interferer_ops: report_interference()).
   */
  readonly counters: Readonly<Record<string, number>>;
  /**
   * Under timing: the lines CPUs waited for longest, longest first, each
   * with its wait and its transfers per operation measured.
   */
  readonly lines?: readonly LineShare[];
}

/** A contended line's share of a timing point (BenchResult.lines). */
export interface LineShare {
  /** What lies on the line (timing.ts describe_line()). */
  readonly name: string;
  readonly stall_ns_per_op: number;
  readonly transfers_per_op: number;
}

/**
 * The measuring CPUs' operations for each of the interfering cpu0's, over
 * the whole run (pins a fork, faults an mprotect); NaN where cpu0 did none.
 */
export function per_interferer_op(r: BenchResult): number {
  const n = r.counters.interferer_ops ?? 0;
  return n > 0 ? (r.counters.run_ops ?? 0) / n : Number.NaN;
}
