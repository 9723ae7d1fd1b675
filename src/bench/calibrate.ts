/*
 * Calibration of the timing executor's `js` profile: what mmlab's own
 * code costs running natively on this machine.
 *
 * Five constants are measured directly, by microbenchmarks on worker
 * threads over a SharedArrayBuffer, as the native executor runs:
 *
 *	line_transfer_ns	half a round trip of a word spun on by two workers
 *	wake_ns			half a round trip through Atomics.wait/notify,
 *				less the transfer
 *	rmw_ns			Atomics.compareExchange over Atomics.load, one line
 *	word_ns			Int32Array.fill over fresh pages of a 64 MiB buffer
 *	memory_ns		a write to a line no cache holds, one line after
 *				another (the hardware's prefetchers help, as they
 *				do a native run's clear_page and page walks)
 *
 * The other four, step_ns (a generator step of the modelled kernel
 * code), alloc_ns (a slab alloc or free), annotation_ns (a lockdep
 * annotation, which the native executor also takes a step for) and
 * waker_ns (Atomics.notify of a sleeping worker, V8's futex emulation
 * and the host's futex underneath), are fitted: every workload and policy runs natively on one CPU, and under
 * `timing` with the profile and with each fitted constant raised by a
 * known amount. On one CPU a run's ns per operation is nearly linear in
 * the constants, so the differences give how many of each an operation
 * makes (probed again from each fit, FIT_ROUNDS); the fit chooses the
 * values that bring the model's ns per operation closest to native's
 * (least squares on the ratio, so every workload weighs the same, and no
 * value below 0).
 */
import { Worker } from 'node:worker_threads';
import { POLICIES } from '../kernel/mm/policy.js';
import { type CostProfile, PROFILES } from '../runtime/executors/timing_costs.js';
import { run_bench } from './bench.js';
import { median } from './op_stats.js';
import type { Workload } from './workload.js';

export type MeasuredName = 'line_transfer_ns' | 'wake_ns' | 'rmw_ns' | 'word_ns' | 'memory_ns';

export interface FitPoint {
  readonly workload: string;
  readonly policy: string;
  readonly native_ns_per_op: number;
  /** The calibrated model's prediction. */
  readonly model_ns_per_op: number;
}

export interface Calibration {
  readonly measured: Readonly<Record<MeasuredName, number>>;
  readonly fitted: Readonly<Record<FittedName, number>>;
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
 * kernel memory in before a run (native.ts prefault()).
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
  };
}

/* ---- the fit ---- */

const ns_per_op = (ops_per_s: number): number => 1e9 / ops_per_s;

/** The constants fitted rather than measured: what mmlab's own code costs. */
export const FITTED = ['step_ns', 'alloc_ns', 'annotation_ns', 'waker_ns'] as const;
export type FittedName = (typeof FITTED)[number];

/* A raise of a fitted constant large enough to read its count off exactly. */
const PROBE_NS = 1000;

/** One workload and policy: native's ns per operation, and the model's in parts. */
export interface Row {
  readonly workload: string;
  readonly policy: string;
  readonly native_ns: number;
  /** Per operation: how many of each fitted constant's events. */
  readonly counts: readonly number[];
  /** Per operation: what the measured constants cost. */
  readonly rest_ns: number;
}

async function model_ns(w: Workload, policy: string, profile: CostProfile): Promise<number> {
  const r = await run_bench({ workload: w, policy, executor: 'timing', cpus: 1, profile });
  return ns_per_op(r.ops_per_s);
}

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
 * Non-negative least squares of Σ ((x·counts + rest) / native - 1)² over
 * the fitted constants x: every ratio weighs the same, whatever an
 * operation costs. With so few constants every subset of them is solved
 * unconstrained (the others held at 0) and the best non-negative solution
 * kept: exact, where an iterative NNLS would stop near it.
 */
export function fit(rows: readonly Row[]): number[] {
  const k = FITTED.length;
  const u = rows.map((r) => r.counts.map((c) => c / r.native_ns));
  const e = rows.map((r) => 1 - r.rest_ns / r.native_ns);
  const residual = (x: readonly number[]) =>
    u.reduce((sum, ui, i) => sum + (ui.reduce((v, c, j) => v + c * x[j]!, 0) - e[i]!) ** 2, 0);
  let best = new Array<number>(k).fill(0);
  let best_r = residual(best);
  for (let mask = 1; mask < 1 << k; mask++) {
    const vars = [...Array(k).keys()].filter((j) => mask & (1 << j));
    const a = vars.map((p) => vars.map((q) => u.reduce((s, ui) => s + ui[p]! * ui[q]!, 0)));
    const b = vars.map((p) => u.reduce((s, ui, i) => s + ui[p]! * e[i]!, 0));
    const sol = solve(a, b);
    if (!sol || sol.some((v) => v < 0)) continue;
    const x = new Array<number>(k).fill(0);
    vars.forEach((j, i) => {
      x[j] = sol[i]!;
    });
    const r = residual(x);
    if (r < best_r) {
      best = x;
      best_r = r;
    }
  }
  return best;
}

/* The model's ns per operation at `base`, in parts: each fitted constant's count, and the rest. */
async function linearize(
  w: Workload,
  policy: string,
  base: CostProfile,
): Promise<{ counts: number[]; rest_ns: number }> {
  const at_base = await model_ns(w, policy, base);
  const counts: number[] = [];
  for (const c of FITTED)
    counts.push(
      ((await model_ns(w, policy, { ...base, [c]: base[c] + PROBE_NS })) - at_base) / PROBE_NS,
    );
  return { counts, rest_ns: FITTED.reduce((v, c, j) => v - counts[j]! * base[c], at_base) };
}

/*
 * Fits after the first start from the previous fit. The model is linear in
 * the constants only while no CPU waits on another task: mmap-churn's
 * munmap waits for the grace-period kthread, whose wake-up costs waker_ns,
 * so its counts change with the values, and a fit from far away lands
 * where its own linearisation no longer holds.
 */
const FIT_ROUNDS = 3;

/**
 * Measure the constants, run every workload × policy natively on one CPU
 * and under the model, and fit the rest. `tick` is told each point as it
 * starts.
 */
export async function calibrate(
  workloads: readonly Workload[],
  tick: (what: string) => void = () => {},
): Promise<Calibration> {
  tick('microbenchmarks');
  const measured = await measure_constants();
  const native: { w: Workload; policy: string; native_ns: number }[] = [];
  for (const w of workloads)
    for (const policy of POLICIES) {
      tick(`${w.name} ${policy} natively`);
      const r = await run_bench({ workload: w, policy, executor: 'native', cpus: 1 });
      native.push({ w, policy, native_ns: ns_per_op(r.ops_per_s) });
    }
  // The first probes start from the profile's own fitted values: with them
  // at 0 a timed run's clock would hardly move and it would run all of its
  // operations.
  let base: CostProfile = { ...PROFILES.js, ...measured };
  let x: number[] = [];
  for (let round = 0; round < FIT_ROUNDS; round++) {
    const rows: Row[] = [];
    for (const { w, policy, native_ns } of native) {
      tick(`${w.name} ${policy} in the model, fit ${round + 1} of ${FIT_ROUNDS}`);
      rows.push({ workload: w.name, policy, native_ns, ...(await linearize(w, policy, base)) });
    }
    x = fit(rows);
    base = { ...base, ...Object.fromEntries(FITTED.map((c, j) => [c, x[j]!])) };
  }
  const fitted = Object.fromEntries(FITTED.map((c, j) => [c, x[j]!])) as Record<FittedName, number>;
  const points: FitPoint[] = [];
  for (const { w, policy, native_ns } of native)
    points.push({
      workload: w.name,
      policy,
      native_ns_per_op: native_ns,
      model_ns_per_op: await model_ns(w, policy, base),
    });
  return { measured, fitted, points };
}
