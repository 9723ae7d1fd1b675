/*
 * Operation statistics: each CPU's operations timed into an HDR histogram
 * (hdr-histogram-js, 3 significant digits, 1 ns to an hour), and the
 * window from the first operation's start to the last one's end. Natively
 * every worker keeps its own recorder and the main thread merges their
 * exported samples; under `timing` one recorder reads the simulated clocks.
 */
import * as hdr from 'hdr-histogram-js';
import { median } from '../check/stats.js';
import type { OpMeter } from '../runtime/ops.js';

/** Nanoseconds on one clock shared by every CPU of a run. */
export type Clock = (cpu: number) => number;

const HIGHEST_NS = 3_600e9;

function new_histogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_NS,
    numberOfSignificantValueDigits: 3,
  });
}

/** What a recorder hands over: plain data, so it crosses postMessage. */
export interface OpSample {
  readonly ops: number;
  /** Start of the first operation and end of the last, on the run's clock; NaN with no op. */
  readonly first_ns: number;
  readonly last_ns: number;
  /** The latencies, hdr-histogram-js's compressed base64 encoding. */
  readonly histogram: string;
}

export class OpRecorder implements OpMeter {
  private readonly hist = new_histogram();
  /** When each CPU's current operation began (NaN outside one). */
  private readonly begin_ns: Float64Array;
  private ops = 0;
  private first_ns = Number.POSITIVE_INFINITY;
  private last_ns = Number.NEGATIVE_INFINITY;

  /**
   * `from_ns`: operations that begin before it are run but not recorded,
   * the warm-up of a native run (its JIT compiling the fault path).
   */
  constructor(
    private readonly now_ns: Clock,
    nr_cpus: number,
    private readonly from_ns = Number.NEGATIVE_INFINITY,
  ) {
    this.begin_ns = new Float64Array(nr_cpus).fill(Number.NaN);
  }

  op_begin(cpu: number): void {
    if (!Number.isNaN(this.begin_ns[cpu]!))
      throw new Error(`cpu${cpu}: op_begin() inside an operation`);
    this.begin_ns[cpu] = this.now_ns(cpu);
  }

  op_end(cpu: number): void {
    const t0 = this.begin_ns[cpu]!;
    if (Number.isNaN(t0)) throw new Error(`cpu${cpu}: op_end() outside an operation`);
    const t = this.now_ns(cpu);
    this.begin_ns[cpu] = Number.NaN;
    if (t0 < this.from_ns) return;
    if (t0 < this.first_ns) this.first_ns = t0;
    this.hist.recordValue(Math.min(HIGHEST_NS, Math.max(1, Math.round(t - t0))));
    this.ops++;
    if (t > this.last_ns) this.last_ns = t;
  }

  sample(): OpSample {
    const none = this.ops === 0;
    return {
      ops: this.ops,
      first_ns: none ? Number.NaN : this.first_ns,
      last_ns: none ? Number.NaN : this.last_ns,
      histogram: hdr.encodeIntoCompressedBase64(this.hist),
    };
  }
}

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
