/*
 * Operation statistics over the executors' op meter (src/runtime/op_meter.ts):
 * every CPU's recorded samples merged into one histogram, and repeated runs
 * of one point as one.
 */
import * as hdr from 'hdr-histogram-js';
import { median } from '../check/stats.js';
import { new_histogram, type OpSample } from '../runtime/op_meter.js';

/** A run's operations, every CPU's merged. */
export interface OpStats {
  readonly ops: number;
  /** Operations over the window from the first one's start to the last one's end. */
  readonly ops_per_s: number;
  readonly window_ns: number;
  readonly p50_ns: number;
  readonly p90_ns: number;
  readonly p99_ns: number;
  readonly p999_ns: number;
  readonly max_ns: number;
}

export function merge_samples(samples: readonly OpSample[]): OpStats {
  const hist = new_histogram();
  let ops = 0;
  let first_ns = Number.POSITIVE_INFINITY;
  let last_ns = Number.NEGATIVE_INFINITY;
  for (const s of samples) {
    if (s.ops === 0) continue;
    hist.add(hdr.decodeFromCompressedBase64(s.histogram));
    ops += s.ops;
    first_ns = Math.min(first_ns, s.first_ns);
    last_ns = Math.max(last_ns, s.last_ns);
  }
  if (ops === 0) throw new Error('the workload measured no operation');
  const window_ns = Math.max(1, last_ns - first_ns);
  return {
    ops,
    ops_per_s: (ops * 1e9) / window_ns,
    window_ns,
    p50_ns: hist.getValueAtPercentile(50),
    p90_ns: hist.getValueAtPercentile(90),
    p99_ns: hist.getValueAtPercentile(99),
    p999_ns: hist.getValueAtPercentile(99.9),
    max_ns: hist.maxValue,
  };
}

/**
 * Repeated runs of one point as one: each rate and percentile the median
 * of the runs' (a run's p99 moves by half from one run to the next, so
 * the middle one), max the highest, ops every run's, the window the median.
 */
export function median_stats(runs: readonly OpStats[]): OpStats {
  const mid = (f: (s: OpStats) => number) => median(runs.map(f));
  return {
    ops: runs.reduce((n, s) => n + s.ops, 0),
    ops_per_s: mid((s) => s.ops_per_s),
    window_ns: mid((s) => s.window_ns),
    p50_ns: mid((s) => s.p50_ns),
    p90_ns: mid((s) => s.p90_ns),
    p99_ns: mid((s) => s.p99_ns),
    p999_ns: mid((s) => s.p999_ns),
    max_ns: Math.max(...runs.map((s) => s.max_ns)),
  };
}
