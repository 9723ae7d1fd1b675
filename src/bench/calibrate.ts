/*
 * Calibration of the timing executor's `js` profile: what mmlab's own
 * code costs running natively on this machine.
 *
 * Six constants are measured directly, by microbenchmarks that do what
 * the native executor does (worker threads over a SharedArrayBuffer):
 *
 *	line_transfer_ns	half a round trip of a word spun on by two workers
 *	wake_ns			half a round trip through Atomics.wait/notify,
 *				less the transfer
 *	rmw_ns			Atomics.compareExchange over Atomics.load, one line
 *	word_ns			Int32Array.fill over fresh pages of a 64 MiB buffer
 *	memory_ns		a write to a line no cache holds, one line after
 *				another (the hardware's prefetchers help, as they
 *				do a native run's clear_page and page walks)
 *	op_ns			a native worker's meter, an operation begun
 *				and ended
 *
 * The other five are fitted: step_ns (a generator step of the modelled
 * kernel code), alloc_ns (a slab alloc or free), annotation_ns (a lockdep
 * annotation, which the native executor also takes a step for), waker_ns
 * (Atomics.notify of a sleeping worker, V8's futex emulation and the
 * host's futex underneath), and crowded_ns, what a step loses where every core runs a CPU: V8's
 * garbage-collector and compiler threads then run on the CPUs' cores
 * (page-fault3 under mmap-lock on 2 CPUs: a tenth of the machine's time
 * in /proc/self/task), where with a spare core they cost the CPUs nothing.
 *
 * Before the fit, every workload and policy runs natively on 1 and 2 CPUs
 * with its steps sampled by kernel function (step_weights()): a step of
 * a fork's PTE walk costs half of one of GUP's (walk_present_ptes 0.73
 * of the mean step, gup_fast 1.36), one of a refcount's cmpxchg loop a
 * third of one of a fault's handler (0.47 against 1.5). One step_ns for
 * all let the model's pinner through 12.5 pins a fork where native let 5
 * to 8. The weights are measured, not fitted; step_ns is fitted as the
 * mean step they are relative to.
 *
 * Every workload and policy runs natively on 1 and 2 CPUs, in
 * CALIBRATION_SWEEPS sweeps one after another, and each point's figure is
 * the median of the sweeps': this machine's speed drifts by a quarter
 * from one minute to the next, and a fit to one sweep would carry that
 * minute into the profile. Each point also runs under `timing` with the
 * profile and with each fitted constant raised by a known amount: the
 * differences give how many of each an operation makes, which hold while
 * the values stay near (probed again from each fit, FIT_ROUNDS); the fit
 * chooses the values that bring the model's ns per operation closest to
 * native's (least squares on the ratio, so every point weighs the same;
 * no value below 0, and step_ns not below a bare generator step, measured
 * too). Of the rounds' profiles the one the model put closest is kept.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { median } from '../check/stats.js';
import { type FrameSamples, worker_recorder } from '../runtime/executors/native_worker.js';
import { type CostProfile, PROFILES } from '../runtime/executors/timing_costs.js';
import { find_workload } from '../scenarios/workloads/index.js';
import { BenchError, release_native_pools, sample_frames } from './bench.js';
import type { Progress } from './progress.js';
import type { BenchResult } from './result.js';
import { point_label, type SweepPoint, sweep, sweep_points } from './sweep.js';
import { run_timing_points } from './timing_pool.js';

type MeasuredName = 'line_transfer_ns' | 'wake_ns' | 'rmw_ns' | 'word_ns' | 'memory_ns' | 'op_ns';

interface NativePoint extends SweepPoint {
  /** The median of the sweeps', each at the calibration's host speed. */
  readonly native_ns_per_op: number;
}

interface FitPoint extends NativePoint {
  /** The calibrated model's prediction. */
  readonly model_ns_per_op: number;
}

interface Calibration {
  readonly measured: Readonly<Record<MeasuredName, number>>;
  /** A step's cost by kernel function, over the mean step (step_weights()). */
  readonly step_weights: Readonly<Record<string, number>>;
  /** The least a step can cost: step_ns's floor in the fit. */
  readonly step_floor_ns: number;
  /** The host's speed through the native sweeps (host_speed.ts): the profile's host_speed. */
  readonly host_speed: number;
  readonly fitted: Readonly<Record<FittedName, number>>;
  /** Every round's profile, in order; `fitted` is the one of least error. */
  readonly rounds: readonly FitRound[];
  readonly points: readonly FitPoint[];
}

/* ---- microbenchmarks ---- */

/*
 * Plain JavaScript, so that no module loading delays the workers: each
 * does `n` handoffs of word 16 (its own line) with the other worker, by
 * spinning or by Atomics.wait, after a barrier on word 0.
 */
const PINGPONG = `
const { workerData: d, parentPort } = require('node:worker_threads');
const a = new Int32Array(d.sab);
Atomics.add(a, 0, 1);
while (Atomics.load(a, 0) < 2);
const t0 = performance.now();
for (let i = 0; i < d.n; i++) {
  const mine = 2 * i + d.id;
  for (let v = Atomics.load(a, 16); v !== mine; v = Atomics.load(a, 16))
    if (d.wait) Atomics.wait(a, 16, v, 100);
  Atomics.store(a, 16, mine + 1);
  if (d.wait) Atomics.notify(a, 16);
}
parentPort.postMessage(performance.now() - t0);
`;

/* ns per one-way handoff between two workers, the median of `reps` runs. */
async function pingpong(wait: boolean, n: number, reps: number): Promise<number> {
  const runs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const sab = new SharedArrayBuffer(128);
    const ms = await Promise.all(
      [0, 1].map(
        (id) =>
          new Promise<number>((resolve, reject) => {
            const w = new Worker(PINGPONG, { eval: true, workerData: { sab, id, n, wait } });
            w.once('message', (t: number) => {
              resolve(t);
              void w.terminate();
            });
            w.once('error', reject);
          }),
      ),
    );
    runs.push((Math.max(...ms) * 1e6) / (2 * n));
  }
  return median(runs);
}

/* ns per operation of `f`, which does `n` of them; the median of `reps` timings. */
function per_op(n: number, reps: number, f: () => void): number {
  const runs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    runs.push(((performance.now() - t0) * 1e6) / n);
  }
  return median(runs);
}

const WORDS_PER_LINE = 16;
const PAGE_WORDS = 1024;
const BUFFER_WORDS = 16 << 20;

function measure_rmw_ns(): number {
  const a = new Int32Array(new SharedArrayBuffer(64));
  const n = 1 << 22;
  let sink = 0;
  const load = per_op(n, 5, () => {
    for (let i = 0; i < n; i++) sink += Atomics.load(a, 0);
  });
  const cas = per_op(n, 5, () => {
    for (let i = 0; i < n; i++) sink += Atomics.compareExchange(a, 0, i, i + 1);
  });
  if (sink === 0.5) throw new Error('unreachable');
  return Math.max(0, cas - load);
}

/*
 * A line no cache holds: one word of each line of a 64 MiB buffer, after
 * another 64 MiB has been written to push it out of the caches. The
 * buffer's pages are faulted in first, as the native executor faults
 * kernel memory in before a run (native.ts run_native()).
 */
function measure_memory_ns(): number {
  const a = new Int32Array(new SharedArrayBuffer(BUFFER_WORDS * 4));
  const evict = new Int32Array(new SharedArrayBuffer(BUFFER_WORDS * 4));
  a.fill(1);
  const lines = BUFFER_WORDS / WORDS_PER_LINE;
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    evict.fill(r);
    const t0 = performance.now();
    for (let i = 0; i < a.length; i += WORDS_PER_LINE) a[i] = r;
    runs.push(((performance.now() - t0) * 1e6) / lines);
  }
  return median(runs);
}

/* clear_page() as the native executor does it: fill a page's words, page after page. */
function measure_word_ns(): number {
  const a = new Int32Array(new SharedArrayBuffer(BUFFER_WORDS * 4));
  a.fill(1);
  return per_op(BUFFER_WORDS, 5, () => {
    for (let p = 0; p < a.length; p += PAGE_WORDS) a.fill(0, p, p + PAGE_WORDS);
  });
}

/*
 * What a native run's operation costs beyond its kernel code: the meter a
 * native worker installs (native_worker.ts worker_recorder()), begun and
 * ended. A short operation (fork-gup's pin and unpin, 16 steps) spends a
 * tenth of its time here.
 */
function measure_op_ns(): number {
  const recorder = worker_recorder(performance.timeOrigin, 0, 0);
  const n = 1 << 20;
  return per_op(n, 5, () => {
    for (let i = 0; i < n; i++) {
      recorder.op_begin(0);
      recorder.op_end(0);
    }
  });
}

/*
 * A generator resumed for one access descriptor, as an executor steps a
 * task: the least a step of the modelled kernel can cost. A fit that put
 * step_ns below it would let a spinner's steps cost next to nothing.
 */
function measure_step_floor_ns(): number {
  function* task(n: number): Generator<{ addr: number }, void, number> {
    const access = { addr: 0 };
    for (let i = 0; i < n; i++) {
      access.addr = i;
      yield access;
    }
  }
  const n = 1 << 22;
  let sink = 0;
  const ns = per_op(n, 5, () => {
    const it = task(n);
    for (let r = it.next(0); !r.done; r = it.next(sink)) sink += r.value.addr;
  });
  if (sink === 0.5) throw new Error('unreachable');
  return ns;
}

export async function measure_constants(): Promise<Record<MeasuredName, number>> {
  const line_transfer_ns = await pingpong(false, 200_000, 5);
  // A wake-up's latency depends on how deep the woken core went idle (on a
  // virtual machine, whether the hypervisor descheduled it): bimodal from
  // one run to the next, so more runs for its median.
  const wake_ns = Math.max(0, (await pingpong(true, 20_000, 11)) - line_transfer_ns);
  return {
    line_transfer_ns,
    wake_ns,
    rmw_ns: measure_rmw_ns(),
    word_ns: measure_word_ns(),
    memory_ns: measure_memory_ns(),
    op_ns: measure_op_ns(),
  };
}

/* ---- the fit ---- */

const ns_per_op = (ops_per_s: number): number => 1e9 / ops_per_s;

/** The constants fitted rather than measured: what mmlab's own code costs. */
export const FITTED = ['step_ns', 'alloc_ns', 'annotation_ns', 'waker_ns', 'crowded_ns'] as const;
type FittedName = (typeof FITTED)[number];

/* A raise of a fitted constant large enough to read its count off exactly. */
const PROBE_NS = 1000;

/** One point: native's ns per operation, and the model's in parts. */
export interface Row {
  readonly native_ns: number;
  /** Per operation: how many of each fitted constant's events. */
  readonly counts: readonly number[];
  /** Per operation: what the measured constants cost. */
  readonly rest_ns: number;
}

const dot = (a: readonly number[], b: readonly number[]): number =>
  a.reduce((v, x, j) => v + x * b[j]!, 0);

/* Solve A x = b (k×k, Gaussian elimination with partial pivoting); null if singular. */
function solve(a: number[][], b: number[]): number[] | null {
  const k = b.length;
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    if (Math.abs(a[p]![c]!) < 1e-300) return null;
    [a[c], a[p]] = [a[p]!, a[c]!];
    [b[c], b[p]] = [b[p]!, b[c]!];
    for (let r = c + 1; r < k; r++) {
      const f = a[r]![c]! / a[c]![c]!;
      for (let j = c; j < k; j++) a[r]![j]! -= f * a[c]![j]!;
      b[r]! -= f * b[c]!;
    }
  }
  const x = new Array<number>(k).fill(0);
  for (let r = k - 1; r >= 0; r--) {
    let v = b[r]!;
    for (let j = r + 1; j < k; j++) v -= a[r]![j]! * x[j]!;
    x[r] = v / a[r]![r]!;
  }
  return x;
}

/**
 * Least squares of Σ ((x·counts + rest) / native - 1)² over the fitted
 * constants x, each x[j] ≥ floor_ns[j] (default 0): every ratio weighs the
 * same, whatever an operation costs. Over y = x - floor the bounds are
 * y ≥ 0, and with so few constants every subset of them is solved
 * unconstrained (the others held at their floor) and the best feasible
 * solution kept: exact, where an iterative NNLS would stop near it.
 */
export function fit(rows: readonly Row[], floor_ns: readonly number[] = []): number[] {
  const k = FITTED.length;
  const lo = FITTED.map((_, j) => floor_ns[j] ?? 0);
  const u = rows.map((r) => r.counts.map((c) => c / r.native_ns));
  const e = rows.map((r, i) => 1 - r.rest_ns / r.native_ns - dot(u[i]!, lo));
  const residual = (y: readonly number[]) =>
    u.reduce((sum, ui, i) => sum + (dot(ui, y) - e[i]!) ** 2, 0);
  let best = new Array<number>(k).fill(0);
  let best_r = residual(best);
  for (let mask = 1; mask < 1 << k; mask++) {
    const vars = [...Array(k).keys()].filter((j) => mask & (1 << j));
    const a = vars.map((p) => vars.map((q) => u.reduce((s, ui) => s + ui[p]! * ui[q]!, 0)));
    const b = vars.map((p) => u.reduce((s, ui, i) => s + ui[p]! * e[i]!, 0));
    const sol = solve(a, b);
    if (!sol || sol.some((v) => v < 0)) continue;
    const y = new Array<number>(k).fill(0);
    vars.forEach((j, i) => {
      y[j] = sol[i]!;
    });
    const r = residual(y);
    if (r < best_r) {
      best = y;
      best_r = r;
    }
  }
  return best.map((y, j) => y + lo[j]!);
}

/**
 * The model's ns per operation of every point under each of `profiles`,
 * [profile][point]; `title` names the run for progress. A profile under
 * which the model livelocks rejects with a BenchError of class 'livelock'.
 */
export type ModelRuns = (profiles: readonly CostProfile[], title: string) => Promise<number[][]>;

async function model_ns(
  points: readonly SweepPoint[],
  profiles: readonly CostProfile[],
  progress: Progress,
  title: string,
): Promise<number[][]> {
  const all = profiles.flatMap((profile) => points.map((p) => ({ ...p, profile })));
  const bar = progress.step(title, all.length);
  const r = await run_timing_points(all, (p) => bar.tick(point_label(p)));
  bar.done();
  return profiles.map((_, i) =>
    r.slice(i * points.length, (i + 1) * points.length).map((x) => ns_per_op(x.ops_per_s)),
  );
}

/* `base` with each fitted constant raised by PROBE_NS in turn. */
const probes_of = (base: CostProfile): CostProfile[] =>
  FITTED.map((c) => ({ ...base, [c]: base[c] + PROBE_NS }));

/*
 * Each point's ns per operation at a profile, in parts: each fitted
 * constant's count (the difference a raise of PROBE_NS makes, from
 * `probed`, the model at probes_of(base)), and the rest.
 */
function linearize(
  base: CostProfile,
  at_base: readonly number[],
  probed: readonly (readonly number[])[],
): { counts: number[]; rest_ns: number }[] {
  return at_base.map((ns, i) => {
    const counts = probed.map((p) => (p[i]! - ns) / PROBE_NS);
    return { counts, rest_ns: FITTED.reduce((v, c, j) => v - counts[j]! * base[c], ns) };
  });
}

/*
 * Fits after the first start from the previous fit. The model is linear in
 * the constants only while no CPU waits on another task: mmap-churn's
 * munmap waits for the grace-period kthread, whose wake-up costs waker_ns,
 * and on 2 CPUs the CPUs wait on each other's locks, so the counts change
 * with the values, and a fit from far away lands where its own
 * linearisation no longer holds.
 */
export const FIT_ROUNDS = 3;
const CALIBRATION_SWEEPS = 3;
const CALIBRATION_CPUS = [1, 2];

/**
 * Every workload × policy natively on 1 and 2 CPUs, CALIBRATION_SWEEPS
 * times; the host's speed through them all (the probes' median, which the
 * profile then stands for), and each point's median at that speed: each
 * sweep's figure scaled by the host speed at the calibration over the
 * host speed while its workload ran (host_speed.ts).
 */
async function measure_native(
  progress: Progress,
): Promise<{ host_speed: number; points: NativePoint[] }> {
  const sweeps: BenchResult[][] = [];
  for (let i = 0; i < CALIBRATION_SWEEPS; i++)
    sweeps.push(
      await sweep(
        progress,
        `native, sweep ${i + 1} of ${CALIBRATION_SWEEPS}`,
        'native',
        CALIBRATION_CPUS,
      ),
    );
  const host_speed = median(sweeps.flat().map((r) => r.host_speed!));
  const at_host_speed = (r: BenchResult) => ns_per_op(r.ops_per_s) * (r.host_speed! / host_speed);
  return {
    host_speed,
    points: sweeps[0]!.map(({ workload, policy, cpus }, i) => ({
      workload,
      policy,
      cpus,
      native_ns_per_op: median(sweeps.map((s) => at_host_speed(s[i]!))),
    })),
  };
}

/*
 * A sampled step longer than this is not the kernel function's code: the
 * host took the core (a preemption, a V8 collection). Natively the
 * longest steps of code are a page-table walk's or an unmapped-area
 * search's, a few microseconds.
 */
const STEP_SAMPLE_CAP_NS = 20_000;
/*
 * A function's weight is drawn toward 1 as if it had this many more
 * samples at the mean: one seen a few times (a slow path, an allocation
 * of an anon_vma) would otherwise carry the noise of those few.
 */
const STEP_WEIGHT_PRIOR = 50;

/**
 * Each kernel function's step cost over the mean step, from frame samples
 * (native_worker.ts, FrameSampler): the mean of its samples under
 * STEP_SAMPLE_CAP_NS over the mean of all, drawn toward 1 by
 * STEP_WEIGHT_PRIOR. The profile's step_ns then stands for the mean step
 * and the weights for how far a function's steps are from it: a fork's
 * PTE copy loop against a fault's walk through a dozen functions.
 */
export function step_weights(samples: readonly Readonly<FrameSamples>[]): Record<string, number> {
  const by_fn = new Map<string, { n: number; sum_ns: number }>();
  for (const of_point of samples)
    for (const [fn, ns] of Object.entries(of_point)) {
      const f = by_fn.get(fn) ?? { n: 0, sum_ns: 0 };
      for (const x of ns)
        if (x < STEP_SAMPLE_CAP_NS) {
          f.n++;
          f.sum_ns += x;
        }
      by_fn.set(fn, f);
    }
  let n = 0;
  let sum_ns = 0;
  for (const f of by_fn.values()) {
    n += f.n;
    sum_ns += f.sum_ns;
  }
  if (n === 0) throw new Error('step weights: no step was sampled');
  const mean_ns = sum_ns / n;
  const out: Record<string, number> = {};
  for (const [fn, f] of [...by_fn].sort(([a], [b]) => (a < b ? -1 : 1)))
    out[fn] = (f.sum_ns / mean_ns + STEP_WEIGHT_PRIOR) / (f.n + STEP_WEIGHT_PRIOR);
  return out;
}

/** Every workload × policy at CALIBRATION_CPUS natively, each sampling its steps by kernel function. */
async function sample_steps(progress: Progress): Promise<FrameSamples[]> {
  const points = sweep_points(CALIBRATION_CPUS);
  const bar = progress.step('native, steps sampled by kernel function', points.length);
  const out: FrameSamples[] = [];
  for (const [i, p] of points.entries()) {
    // One pool at a time, as run_native_points() keeps them.
    const q = points[i - 1];
    if (q && (q.workload !== p.workload || q.policy !== p.policy)) await release_native_pools();
    bar.tick(point_label(p));
    out.push(
      await sample_frames({ ...p, workload: find_workload(p.workload), executor: 'native' }),
    );
  }
  await release_native_pools();
  bar.done();
  return out;
}

/** One round of the fit: the profile it probed and how far the model was from native there. */
interface FitRound {
  readonly fitted: Readonly<Record<FittedName, number>>;
  /** Σ (model / native - 1)² over the points; null where the model livelocked. */
  readonly error: number | null;
}

const fitted_of = (p: CostProfile): Record<FittedName, number> =>
  Object.fromEntries(FITTED.map((c) => [c, p[c]])) as Record<FittedName, number>;

/**
 * The fitted constants that bring `model` closest to `native_ns` (ns per
 * operation, point by point), from `base` (the measured constants in
 * place), none below its `floor_ns`; with the model's figures there.
 *
 * Each round runs the model at its profile, which gives how far that
 * profile is from native, and at its probes, which give the next fit. The
 * profile kept is the closest the model measured, not the last: a fit is
 * only as good as its linearisation, and one from too far lands where the
 * model waits or spins differently. A profile under which the model
 * livelocks (a spinner whose steps cost next to nothing never lets the
 * holder run) ends the rounds; the one before it stands.
 */
export async function fit_profile(
  native_ns: readonly number[],
  base: CostProfile,
  floor_ns: readonly number[],
  model: ModelRuns,
): Promise<{
  fitted: Record<FittedName, number>;
  rounds: FitRound[];
  model_ns: readonly number[];
}> {
  const error = (ns: readonly number[]) =>
    ns.reduce((sum, m, i) => sum + (m / native_ns[i]! - 1) ** 2, 0);
  const rounds: FitRound[] = [];
  let best: { profile: CostProfile; model_ns: readonly number[]; error: number } | null = null;
  for (let round = 0, profile = base; round <= FIT_ROUNDS; round++) {
    const last = round === FIT_ROUNDS;
    let at_base: number[];
    let probed: number[][];
    try {
      [at_base, ...probed] = (await model(
        last ? [profile] : [profile, ...probes_of(profile)],
        last ? 'model, the fit' : `model, fit ${round + 1} of ${FIT_ROUNDS}`,
      )) as [number[], ...number[][]];
    } catch (e) {
      if (!(e instanceof BenchError && e.bug_class === 'livelock' && best)) throw e;
      rounds.push({ fitted: fitted_of(profile), error: null });
      break;
    }
    const err = error(at_base);
    rounds.push({ fitted: fitted_of(profile), error: err });
    if (!best || err < best.error) best = { profile, model_ns: at_base, error: err };
    if (last) break;
    const x = fit(
      linearize(profile, at_base, probed).map((p, i) => ({ native_ns: native_ns[i]!, ...p })),
      floor_ns,
    );
    profile = { ...profile, ...Object.fromEntries(FITTED.map((c, j) => [c, x[j]!])) };
  }
  const kept = best!;
  return { fitted: fitted_of(kept.profile), rounds, model_ns: kept.model_ns };
}

/**
 * Measure the constants, run every workload × policy natively on 1 and 2
 * CPUs and under the model, and fit the rest; each step a bar of `progress`.
 */
export async function calibrate(progress: Progress): Promise<Calibration> {
  const micro = progress.step('microbenchmarks', 1);
  micro.tick('line transfer, wake-up, RMW, word, memory, an operation, a bare step');
  const measured = await measure_constants();
  const step_floor_ns = measure_step_floor_ns();
  micro.done();
  const weights = step_weights(await sample_steps(progress));
  const { host_speed, points: native } = await measure_native(progress);
  // The first probes start from the profile's own fitted values: with them
  // at 0 a timed run's clock would hardly move and it would run all of its
  // operations.
  const base: CostProfile = {
    ...PROFILES.js,
    ...measured,
    cores: availableParallelism(),
    step_weights: weights,
  };
  const floor_ns = FITTED.map((c) => (c === 'step_ns' ? step_floor_ns : 0));
  const {
    fitted,
    rounds,
    model_ns: kept,
  } = await fit_profile(
    native.map((p) => p.native_ns_per_op),
    base,
    floor_ns,
    (profiles, title) => model_ns(native, profiles, progress, title),
  );
  return {
    measured,
    step_weights: weights,
    step_floor_ns,
    host_speed,
    fitted,
    rounds,
    points: native.map((p, i) => ({ ...p, model_ns_per_op: kept[i]! })),
  };
}
