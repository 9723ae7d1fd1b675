/*
 * One benchmark point: run a workload under one policy on one executor
 * and CPU count, and reduce its operations to throughput and latency
 * percentiles. Natively every worker times its own operations into an
 * HDR histogram; under `timing` one recorder reads the simulated clocks.
 * Either way the same scenario code runs, so the two are comparable.
 */
import { availableParallelism } from 'node:os';
import { run_native } from '../runtime/executors/native.js';
import { run_timing } from '../runtime/executors/timing.js';
import { type CostProfile, PROFILES } from '../runtime/executors/timing_costs.js';
import { make_config, type RunConfig } from '../runtime/scenario.js';
import { merge_samples, OpRecorder, type OpStats } from './op_stats.js';
import type { BenchResult } from './result.js';
import type { ExecutorName, Workload } from './workload.js';

export interface BenchPoint {
  readonly workload: Workload;
  readonly policy: string;
  readonly executor: ExecutorName;
  readonly cpus: number;
  /** The timing executor's cost profile (ignored natively). */
  readonly profile?: CostProfile;
}

/** A workload's run that failed: the model hit a bug or measured nothing. */
export class BenchError extends Error {}

/* The CPU counts a default run measures: powers of two up to `max`. */
export function powers_of_two(max: number): number[] {
  const out: number[] = [];
  for (let n = 1; n <= max; n *= 2) out.push(n);
  return out;
}

/** Natively: this machine's CPUs; under timing: 1 to 256. */
export function default_cpus(executor: ExecutorName): number[] {
  return powers_of_two(executor === 'native' ? availableParallelism() : 256);
}

interface Measured {
  readonly stats: OpStats;
  readonly counters: Readonly<Record<string, number>>;
}

/*
 * A native run: its first WARMUP_MS unrecorded, then operations until
 * NATIVE_SECONDS after the start or until the workload's operations run
 * out. Each run's workers are fresh isolates whose JIT compiles the
 * kernel's code anew: V8's compiler threads are busy for most of the
 * first second (per-thread CPU time from /proc/self/task), and on a
 * machine with no spare core they take it from the CPUs. A quarter of a
 * second of warm-up left 2-CPU runs at 1.0 to 1.3 times one CPU's
 * throughput on page-fault1/3; after a second they reach 1.5x to 2x.
 */
const NATIVE_SECONDS = 1.3;
const WARMUP_MS = 1000;
/*
 * A `js` timing run models a native run: the native workload's size, for
 * this much simulated time (enough operations for its percentiles, at a
 * fraction of a native run's cost per simulated second).
 */
const JS_SIMULATED_NS = 100e6;

/* The timing executor's profile for point `p`: its own, or hw. */
const profile_of = (p: BenchPoint): CostProfile => p.profile ?? PROFILES.hw;

/*
 * Whose workload size a point runs: native runs and `js` timing runs the
 * native size (the two are compared), `hw` timing runs the model's.
 */
const size_of = (p: BenchPoint): ExecutorName =>
  p.executor === 'native' || profile_of(p).name === 'js' ? 'native' : 'timing';

async function measure(p: BenchPoint, cfg: RunConfig): Promise<Measured> {
  const what = `${p.workload.name} (${cfg.policy}, ${p.executor}, ${cfg.cpus} CPUs)`;
  if (p.executor === 'native') {
    const r = await run_native(p.workload.scenario, cfg, {
      measure: true,
      seconds: NATIVE_SECONDS,
      warmup_ms: WARMUP_MS,
    });
    if (r.bug) throw new BenchError(`${what}: ${r.bug.class}: ${r.bug.message}`);
    return { stats: merge_samples(r.ops), counters: r.report };
  }
  let recorder: OpRecorder | null = null;
  const profile = profile_of(p);
  const r = run_timing(p.workload.scenario, cfg, {
    profile,
    ...(profile.name === 'js' ? { stop_ns: JS_SIMULATED_NS } : {}),
    make_meter: (clock) => {
      recorder = new OpRecorder(clock, cfg.cpus);
      return recorder;
    },
  });
  if (r.bug) throw new BenchError(`${what}: ${r.bug.class}: ${r.bug.message}`);
  if (!recorder) throw new BenchError(`${what}: the timing executor installed no meter`);
  return { stats: merge_samples([(recorder as OpRecorder).sample()]), counters: r.report };
}

function config(p: BenchPoint, overrides: Readonly<Record<string, number>> = {}): RunConfig {
  const s = p.workload.scenario;
  return make_config(s, {
    cpus: p.cpus,
    policy: p.policy,
    params: { ...p.workload.params(size_of(p), p.cpus), ...overrides },
  });
}

/*
 * Runs with the interfering CPU and alone, alternately, NATIVE_PAIRS times
 * natively: a native p99 moves by a third from one run's workers to the
 * next (their JIT's choices), and the ratio of two single runs moved with
 * it. The result is the run with the median p99 and the median p99 alone
 * (of two, the higher of each). A timing run is deterministic: one of each.
 */
const NATIVE_PAIRS = 2;

async function against_alone(
  p: BenchPoint,
  cfg: RunConfig,
  alone_cfg: RunConfig,
): Promise<{ measured: Measured; p99_alone_ns: number }> {
  const runs: Measured[] = [];
  const alone_p99_ns: number[] = [];
  for (let i = 0; i < (p.executor === 'native' ? NATIVE_PAIRS : 1); i++) {
    runs.push(await measure(p, cfg));
    alone_p99_ns.push((await measure(p, alone_cfg)).stats.p99_ns);
  }
  runs.sort((a, b) => a.stats.p99_ns - b.stats.p99_ns);
  alone_p99_ns.sort((a, b) => a - b);
  return {
    measured: runs[runs.length >> 1]!,
    p99_alone_ns: alone_p99_ns[alone_p99_ns.length >> 1]!,
  };
}

/**
 * Measure one point. A workload with an `alone` configuration is also run
 * without its interfering CPU, for p99_alone_ns (against_alone()).
 */
export async function run_bench(p: BenchPoint): Promise<BenchResult> {
  const cfg = config(p);
  const alone = p.workload.alone;
  let measured: Measured;
  let p99_alone_ns: number | undefined;
  if (!alone) {
    measured = await measure(p, cfg);
  } else if (p.cpus === 1) {
    // On one CPU there is no interfering CPU: the faults are alone already.
    measured = await measure(p, cfg);
    p99_alone_ns = measured.stats.p99_ns;
  } else {
    ({ measured, p99_alone_ns } = await against_alone(p, cfg, config(p, alone)));
  }
  const { stats, counters } = measured;
  return {
    workload: p.workload.name,
    policy: p.policy,
    executor: p.executor,
    ...(p.executor === 'timing' ? { profile: profile_of(p).name } : {}),
    cpus: p.cpus,
    ops: stats.ops,
    ops_per_s: stats.ops_per_s,
    p50_ns: stats.p50_ns,
    p90_ns: stats.p90_ns,
    p99_ns: stats.p99_ns,
    p999_ns: stats.p999_ns,
    max_ns: stats.max_ns,
    ...(p99_alone_ns === undefined ? {} : { p99_alone_ns }),
    counters,
  };
}
