/*
 * One benchmark point: run a workload under one policy on one executor
 * and CPU count, and reduce its operations to throughput and latency
 * percentiles. Natively every worker times its own operations into an
 * HDR histogram; under `timing` one recorder reads the simulated clocks.
 * Either way the same scenario code runs, so the two are comparable.
 */

import { availableParallelism } from 'node:os';
import { make_config, run_native, run_timing } from '../check/kernel.js';
import { median } from '../check/stats.js';
import {
  check_native_memory,
  type NativeBug,
  NativePool,
  type NativeResult,
} from '../runtime/executors/native.js';
import { type FrameSamples, merge_frames } from '../runtime/executors/native_worker.js';
import type { TimingBug } from '../runtime/executors/timing.js';
import { type CostProfile, PROFILES } from '../runtime/executors/timing_costs.js';
import { OpRecorder } from '../runtime/op_meter.js';
import type { RunConfig } from '../runtime/scenario.js';
import type { ExecutorName, Workload } from '../scenarios/workload.js';
import { probe_host_speed } from './host_speed.js';
import { median_stats, merge_samples, type OpStats } from './op_stats.js';
import type { BenchResult, LineShare } from './result.js';

interface BenchPoint {
  readonly workload: Workload;
  readonly policy: string;
  readonly executor: ExecutorName;
  readonly cpus: number;
  /** The timing executor's cost profile (ignored natively). */
  readonly profile?: CostProfile;
}

/** A workload's run that failed: the model hit a bug or measured nothing. */
export class BenchError extends Error {
  constructor(
    message: string,
    /** The bug's class ('livelock', 'deadlock', ...), or null where the run measured nothing. */
    readonly bug_class: string | null = null,
  ) {
    super(message);
  }
}

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
  /** Natively, each measured run's throughput; the stats are their medians (median_stats()). */
  readonly runs_ops_per_s?: readonly number[];
  /** Under timing, the most contended lines. */
  readonly lines?: readonly LineShare[];
}

/*
 * Native points are measured together, a pool's points (a workload and
 * policy's CPU counts) at a time: each point warmed, then NATIVE_RUNS
 * rounds, each giving every point one run, each figure the median of its runs' (median_stats()),
 * with a host-speed probe before every run (host_speed.ts). Each run
 * leaves its first WARMUP_MS unrecorded and stops NATIVE_SECONDS after
 * its start (or when the workload's operations run out).
 *
 * The warm-up: at least NATIVE_WARM_RUNS runs, and more until every worker
 * of the point has been given WORKER_WARM_RUNS runs. A fresh worker
 * interprets the kernel's code, then V8's compiler threads compile it, for
 * several runs, as the functions that run once per mmap or munmap get hot;
 * on a machine with no spare core those compilations take the cores from
 * the CPUs being measured.
 *
 * The rounds: a host may take its speed away for seconds at a time, and a
 * point's runs one after the other fall into one such spell together. In
 * rounds, a point's runs have the pool's other points' between them, and
 * its median falls in such a spell only where two of its three runs do.
 * What moves over minutes the rounds cannot spread; the probes measure it.
 * The measurements behind both: docs/calibration-log.md, "From the
 * comments of src/bench/bench.ts".
 */
const NATIVE_WARM_RUNS = 1;
const WORKER_WARM_RUNS = 4;
export const NATIVE_RUNS = 3;
const NATIVE_SECONDS = 0.4;
const WARMUP_MS = 60;
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

/*
 * The warm workers native points run on: one pool for each workload and
 * policy, as a kernel is built with one locking design. A worker that ran
 * other workloads or policies keeps code compiled for them: its inline
 * caches go polymorphic and it stays slower (docs/calibration-log.md). A
 * pool stays open until release_native_pools().
 */
const native_pools = new Map<string, NativePool>();

/* The pool a point's runs take: its workload and policy's. */
const pool_key = (p: BenchPoint): string => `${p.workload.name} ${p.policy}`;

function native_pool_for(p: BenchPoint): NativePool {
  const key = pool_key(p);
  let pool = native_pools.get(key);
  if (!pool) {
    pool = new NativePool();
    native_pools.set(key, pool);
  }
  return pool;
}

/** End the native pools' workers and free their memory (the points measured together are done). */
export async function release_native_pools(): Promise<void> {
  const pools = [...native_pools.values()];
  native_pools.clear();
  await Promise.all(pools.map((pool) => pool.close()));
}

/* A point's run, as errors name it. */
const what = (p: BenchPoint, cfg: RunConfig): string =>
  `${p.workload.name} (${cfg.policy}, ${p.executor}, ${cfg.cpus} CPUs)`;

const bench_bug = (p: BenchPoint, cfg: RunConfig, bug: TimingBug | NativeBug): BenchError =>
  new BenchError(`${what(p, cfg)}: ${bug.class}: ${bug.message}`, bug.class);

/* A native point to measure, with the configurations it runs (run_configs()). */
interface NativeJob {
  readonly p: BenchPoint;
  readonly cfgs: readonly RunConfig[];
}

/*
 * Native points measured together: each configuration warmed, then the
 * rounds, every configuration of every point run once in each. A point's
 * configurations (fault-vs-mprotect's with the writer and alone) run
 * back to back within a round: p99_alone_ns is read against the p99 with
 * the writer, and runs a second apart see the host in one state.
 * `on_run` is told of each point's warm-up and of each of its rounds.
 * With the measurements, the host-speed probes taken before each run.
 */
async function measure_native(
  jobs: readonly NativeJob[],
  on_run: (p: BenchPoint, round: number | null) => void,
): Promise<{ measured: Measured[][]; probes: number[] }> {
  for (const { p, cfgs } of jobs) {
    on_run(p, null);
    for (const cfg of cfgs) await warm(p, cfg);
  }
  const runs = jobs.map(({ cfgs }) => cfgs.map((): Measured[] => []));
  const probes: number[] = [];
  for (let round = 0; round < NATIVE_RUNS; round++)
    for (const [j, { p, cfgs }] of jobs.entries()) {
      on_run(p, round);
      for (const [c, cfg] of cfgs.entries()) {
        probes.push(probe_host_speed());
        const r = await native_run(p, cfg, false);
        runs[j]![c]!.push({ stats: merge_samples(r.ops), counters: r.report });
      }
    }
  const measured = runs.map((of_job) =>
    of_job.map((of_cfg) => {
      // The counters of the run of median throughput: counts of one run, like the window's.
      const by_rate = [...of_cfg].sort((a, b) => a.stats.ops_per_s - b.stats.ops_per_s);
      return {
        stats: median_stats(of_cfg.map((r) => r.stats)),
        counters: by_rate[by_rate.length >> 1]!.counters,
        runs_ops_per_s: of_cfg.map((r) => r.stats.ops_per_s),
      };
    }),
  );
  return { measured, probes };
}

/* One measured native run of point p's `cfg` on its pool; a bug is thrown. */
async function native_run(
  p: BenchPoint,
  cfg: RunConfig,
  frame_samples: boolean,
): Promise<NativeResult> {
  const r = await run_native(p.workload.scenario, cfg, {
    measure: true,
    seconds: NATIVE_SECONDS,
    warmup_ms: WARMUP_MS,
    pool: native_pool_for(p),
    frame_samples,
  });
  if (r.bug) throw bench_bug(p, cfg, r.bug);
  return r;
}

/* Point p's pool warmed for `cfg`: NATIVE_WARM_RUNS runs, and more until each worker had WORKER_WARM_RUNS. */
async function warm(p: BenchPoint, cfg: RunConfig): Promise<void> {
  const pool = native_pool_for(p);
  for (
    let i = 0;
    i < NATIVE_WARM_RUNS || !pool.warmed(p.workload.scenario, cfg, WORKER_WARM_RUNS);
    i++
  )
    await native_run(p, cfg, false);
}

/**
 * What a native point's steps cost, by kernel function (calibration's
 * step_weights): NATIVE_RUNS runs on its warm workers, each sampling.
 */
export async function sample_frames(p: BenchPoint): Promise<FrameSamples> {
  const cfg = config(p);
  await warm(p, cfg);
  const frames: FrameSamples = {};
  for (let i = 0; i < NATIVE_RUNS; i++) {
    merge_frames(frames, (await native_run(p, cfg, true)).frames);
  }
  return frames;
}

function measure_timing(p: BenchPoint, cfg: RunConfig): Measured {
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
  if (r.bug) throw bench_bug(p, cfg, r.bug);
  if (!recorder) throw new BenchError(`${what(p, cfg)}: the timing executor installed no meter`);
  const stats = merge_samples([(recorder as OpRecorder).sample()]);
  const per_op = (x: number): number => x / Math.max(1, stats.ops);
  const lines = r.cache.lines.map((l) => ({
    name: l.name,
    stall_ns_per_op: per_op(l.stall_ns),
    transfers_per_op: per_op(l.transfers),
  }));
  return { stats, counters: r.report, lines };
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
 * A point's configurations: its own, then, where the workload has an
 * `alone`, the same without its interfering CPU, for p99_alone_ns.
 */
function run_configs(p: BenchPoint): RunConfig[] {
  // On one CPU there is no interfering CPU: the faults are alone already.
  const alone = p.workload.alone && p.cpus > 1 ? config(p, p.workload.alone) : null;
  return alone ? [config(p), alone] : [config(p)];
}

/*
 * Point p's result from its configurations' measurements, in
 * run_configs()' order; natively, with the host's speed while it ran.
 */
function bench_result(
  p: BenchPoint,
  [m, without]: readonly Measured[],
  host_speed?: number,
): BenchResult {
  const { stats, counters, runs_ops_per_s, lines } = m!;
  const p99_alone_ns = !p.workload.alone
    ? undefined
    : without
      ? without.stats.p99_ns
      : stats.p99_ns;
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
    ...(runs_ops_per_s === undefined ? {} : { runs_ops_per_s }),
    ...(host_speed === undefined ? {} : { host_speed }),
    counters,
    ...(lines === undefined ? {} : { lines }),
  };
}

/**
 * Every configuration `points` will run, checked before any runs: an Error
 * naming the first that cannot (a layout that does not fit, a native kernel
 * memory over 4 GiB), so that a sweep does not die at its last point.
 */
export function check_points(points: readonly BenchPoint[]): void {
  for (const p of points)
    for (const cfg of run_configs(p)) {
      p.workload.scenario.check_config?.(cfg);
      if (p.executor === 'native') check_native_memory(p.workload.scenario, cfg);
    }
}

/**
 * Native points, the points of each pool (workload and policy) measured
 * together, its most CPUs first, their runs in rounds (measure_native()),
 * one pool at a time, each closed when its points are done; the results
 * in `points`' order.
 * Rounds across pools would have given each point's runs more time
 * between them, but a run right after another pool's has a colder tail,
 * enough to move fault-vs-mprotect's p99 ratio (docs/calibration-log.md).
 * A point's host_speed is the median of its workload's probes, through
 * all of that workload's pools: a pool's own six to twelve are too few.
 * `on_run` is told of each point's warm-up (round null) and of each of
 * its rounds.
 */
export async function run_native_points(
  points: readonly BenchPoint[],
  on_run: (p: BenchPoint, round: number | null) => void = () => {},
): Promise<BenchResult[]> {
  const by_pool = new Map<string, number[]>();
  for (const [i, p] of points.entries()) {
    const key = pool_key(p);
    if (!by_pool.has(key)) by_pool.set(key, []);
    by_pool.get(key)!.push(i);
  }
  const measured = new Array<Measured[]>(points.length);
  const probes = new Map<string, number[]>();
  for (const of_key of by_pool.values()) {
    // Most CPUs first: that point's warm-up warms every worker the others reuse.
    const indices = of_key.sort((a, b) => points[b]!.cpus - points[a]!.cpus);
    const jobs = indices.map((i) => ({ p: points[i]!, cfgs: run_configs(points[i]!) }));
    const of_pool = await measure_native(jobs, on_run);
    await release_native_pools();
    for (const [j, i] of indices.entries()) measured[i] = of_pool.measured[j]!;
    const workload = points[indices[0]!]!.workload.name;
    if (!probes.has(workload)) probes.set(workload, []);
    probes.get(workload)!.push(...of_pool.probes);
  }
  return points.map((p, i) => bench_result(p, measured[i]!, median(probes.get(p.workload.name)!)));
}

/**
 * Measure one point: natively, as run_native_points() of it alone; under
 * timing, each configuration once.
 */
export async function run_bench(p: BenchPoint): Promise<BenchResult> {
  if (p.executor === 'native') return (await run_native_points([p]))[0]!;
  return bench_result(
    p,
    run_configs(p).map((cfg) => measure_timing(p, cfg)),
  );
}
