/*
 * mmlab bench WORKLOAD: measure a workload under each policy, natively on
 * this machine's cores or on the simulated multicore, as a table (a row as
 * each point finishes) or as one JSON document.
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from 'commander';
import {
  BenchError,
  check_points,
  default_cpus,
  run_bench,
  run_native_points,
} from '../bench/bench.js';
import { type BenchResult, per_interferer_op } from '../bench/result.js';
import { POLICIES } from '../kernel/mm/policy.js';
import { find_profile } from '../runtime/executors/timing_costs.js';
import { type ExecutorName, per_interferer_op_unit, type Workload } from '../scenarios/workload.js';
import { find_workload } from '../scenarios/workloads/index.js';
import { bold, dim } from './style.js';
import { as_usage, EXIT_BUG, EXIT_OK, UsageError } from './usage.js';

/** The most CPUs a point may have: the simulated multicore's. */
export const MAX_BENCH_CPUS = 256;

/** --policy P,..: each a known policy, none twice. */
export function policy_list(v: string): string[] {
  const list = v.split(',');
  for (const p of list)
    if (!POLICIES.includes(p))
      throw new InvalidArgumentError(`unknown policy '${p}' (known: ${POLICIES.join(', ')})`);
  if (new Set(list).size !== list.length)
    throw new InvalidArgumentError(`--policy names a policy twice: '${v}'`);
  return list;
}

/** --cpus 1,2,..: each an integer from 1 to MAX_BENCH_CPUS, none twice. */
export function cpus_list(v: string): number[] {
  const list = v.split(',').map((c) => {
    if (!/^\d+$/.test(c) || Number(c) < 1 || Number(c) > MAX_BENCH_CPUS)
      throw new InvalidArgumentError(
        `--cpus takes integers from 1 to ${MAX_BENCH_CPUS} separated by commas, not '${v}'`,
      );
    return Number(c);
  });
  if (new Set(list).size !== list.length)
    throw new InvalidArgumentError(`--cpus names a CPU count twice: '${v}'`);
  return list;
}

export interface BenchOpts {
  readonly policy?: string[];
  readonly executor: ExecutorName;
  readonly cpus?: number[];
  readonly profile?: string;
  readonly lines?: boolean;
  readonly json?: boolean;
}

/** Nanoseconds as a person reads them: 850 ns, 12.3 µs, 4.1 ms, 1.20 s. */
export function format_ns(ns: number): string {
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/** Faults handled off the whole mmap_lock (per-VMA or range lock), of all faults; NaN with none. */
export function off_mmap_lock_share(c: Readonly<Record<string, number>>): number {
  const off = (c.vma_lock_success ?? 0) + (c.range_lock_fault ?? 0);
  return off / (off + (c.mmap_lock_fault ?? 0));
}

const COLUMNS = ['policy', 'executor', 'cpus', 'ops/s', 'p50', 'p99', 'p99 alone', 'off mmap_lock'];
const WIDTHS = [11, 10, 5, 12, 10, 10, 10, 13, 16];

/* The table's columns: a workload whose cpu0 interferes adds its ratio ("pins/fork"). */
function columns(w: Workload): string[] {
  const unit = per_interferer_op_unit(w);
  return unit === null ? COLUMNS : [...COLUMNS, unit];
}

function row(cells: readonly string[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(WIDTHS[i]!) : c.padStart(WIDTHS[i]!))).join(' ');
}

function result_row(w: Workload, r: BenchResult): string {
  const share = off_mmap_lock_share(r.counters);
  const per = per_interferer_op(r);
  const ratio =
    per_interferer_op_unit(w) === null ? [] : [Number.isNaN(per) ? '-' : per.toFixed(1)];
  return row([
    r.policy,
    r.profile ? `${r.executor}/${r.profile}` : r.executor,
    String(r.cpus),
    Math.round(r.ops_per_s).toLocaleString('en-US'),
    format_ns(r.p50_ns),
    format_ns(r.p99_ns),
    r.p99_alone_ns === undefined ? '-' : format_ns(r.p99_alone_ns),
    Number.isNaN(share) ? '-' : `${(share * 100).toFixed(1)}%`,
    ...ratio,
  ]);
}

/* Under a timing row: its most contended lines, a line each, wait and transfers per operation. */
function line_rows(r: BenchResult): string[] {
  return (r.lines ?? []).map(
    (l) =>
      `    ${format_ns(l.stall_ns_per_op).padStart(9)} waited ${l.transfers_per_op.toFixed(1).padStart(6)} transfers /op  ${l.name}`,
  );
}

export async function cmd_bench(name: string, opts: BenchOpts): Promise<number> {
  const workload = as_usage(() => find_workload(name));
  if (opts.profile !== undefined && opts.executor !== 'timing')
    throw new UsageError('--profile goes with --executor timing');
  if (opts.lines && opts.executor !== 'timing')
    throw new UsageError('--lines goes with --executor timing');
  const profile = as_usage(() => find_profile(opts.profile ?? 'hw'));
  const policies = opts.policy ?? [...POLICIES];
  const cpus = opts.cpus ?? default_cpus(opts.executor);
  const points = policies.flatMap((policy) =>
    cpus.map((n) => ({ workload, policy, executor: opts.executor, cpus: n, profile })),
  );
  as_usage(() => check_points(points));
  const cores = availableParallelism();
  if (opts.executor === 'native' && cpus.some((c) => c > cores))
    console.error(
      dim(
        `mmlab: note: ${Math.max(...cpus)} CPUs on ${cores} cores: the workers share cores, so those figures measure the host's scheduler too`,
      ),
    );
  if (!opts.json) {
    console.log(bold(`${workload.name}: ${workload.description} (an operation: ${workload.op})`));
    console.log(dim(row(columns(workload))));
  }
  const results: BenchResult[] = [];
  try {
    if (opts.executor === 'native') {
      // A policy's points measured together, in rounds (bench.ts): the rows once all are done.
      results.push(...(await run_native_points(points)));
      if (!opts.json) for (const r of results) console.log(result_row(workload, r));
    } else
      for (const p of points) {
        const r = await run_bench(p);
        results.push(r);
        if (!opts.json) console.log(result_row(workload, r));
        if (!opts.json && opts.lines) for (const l of line_rows(r)) console.log(dim(l));
      }
  } catch (e) {
    if (!(e instanceof BenchError)) throw e;
    console.error(`mmlab: ${e.message}`);
    return EXIT_BUG;
  }
  if (opts.json) console.log(JSON.stringify({ results }));
  return EXIT_OK;
}
