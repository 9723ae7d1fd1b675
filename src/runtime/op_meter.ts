/*
 * The operation meter the executors drive (OpMeter, k.op_begin()/op_end()):
 * each CPU's operations timed into an HDR histogram (hdr-histogram-js, 3
 * significant digits, 1 ns to an hour), and the window from the first
 * operation's start to the last one's end. Natively every worker keeps its
 * own recorder and the main thread merges their exported samples; under
 * `timing` one recorder reads the simulated clocks. The statistics over
 * the samples are bench's (src/bench/op_stats.ts).
 */
import * as hdr from 'hdr-histogram-js';
import type { OpMeter } from './ops.js';

/** Nanoseconds on one clock shared by every CPU of a run. */
export type Clock = (cpu: number) => number;

const HIGHEST_NS = 3_600e9;

/** An empty histogram of operation latencies in ns, as every recorder keeps one. */
export function new_histogram(): hdr.Histogram {
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
