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
 *	memory_ns		first touch of a line of a fresh buffer (the OS's
 *				page fault shared by the page's 64 lines)
 *
 * The other two, step_ns (a generator step of the modelled kernel code)
 * and alloc_ns (a slab alloc or free), are fitted: every workload runs
 * natively on one CPU, and under `timing` three times, with the profile
 * and with step_ns, then alloc_ns, raised by a known amount. On one CPU
 * a run's ns per operation is linear in the constants, so the three give
 * how many steps and allocations an operation makes; the fit chooses the
 * step_ns and alloc_ns that bring the model's ns per operation closest to
 * native's, by least squares on the ratio (every workload weighs the same).
 */
import { Worker } from 'node:worker_threads';
import { POLICIES } from '../kernel/mm/policy.js';
import { type CostName, type CostProfile, PROFILES } from '../runtime/executors/timing_costs.js';
import { run_bench } from './bench.js';
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
  readonly step_ns: number;
  readonly alloc_ns: number;
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

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

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

/* A fresh buffer a run: its pages are not yet the process's. */
function measure_memory_ns(): number {
  return per_op(BUFFER_WORDS / WORDS_PER_LINE, 3, () => {
    const a = new Int32Array(new SharedArrayBuffer(BUFFER_WORDS * 4));
    for (let i = 0; i < a.length; i += WORDS_PER_LINE) a[i] = 1;
  });
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
  const wake_ns = Math.max(0, (await pingpong(true, 20_000, 5)) - line_transfer_ns);
  return {
    line_transfer_ns,
    wake_ns,
    rmw_ns: measure_rmw_ns(),
    word_ns: measure_word_ns(),
    memory_ns: measure_memory_ns(),
  };
}

/* ---- the fit ---- */

/** The js profile with `values` in place of its own. */
export function with_values(
  base: CostProfile,
  values: Partial<Readonly<Record<CostName, number>>>,
): CostProfile {
  return { ...base, ...values };
}

const ns_per_op = (ops_per_s: number): number => 1e9 / ops_per_s;

/* A raise of step_ns or alloc_ns large enough to read the counts off exactly. */
const PROBE_NS = 1000;

interface Row {
  readonly workload: string;
  readonly policy: string;
  readonly native: number;
  /** Per operation: steps, allocations, and what the other constants cost. */
  readonly steps: number;
  readonly allocs: number;
  readonly rest_ns: number;
}

async function model_ns(w: Workload, policy: string, profile: CostProfile): Promise<number> {
  const r = await run_bench({ workload: w, policy, executor: 'timing', cpus: 1, profile });
  return ns_per_op(r.ops_per_s);
}

/*
 * Least squares of Σ ((step·S + alloc·A + R) / N - 1)² over step, alloc
 * >= 0: the 2×2 normal equations, or one variable alone at zero for the
 * other where the joint solution has a negative.
 */
export function fit(rows: readonly Row[]): { step_ns: number; alloc_ns: number } {
  let ss = 0;
  let sa = 0;
  let aa = 0;
  let sr = 0;
  let ar = 0;
  for (const r of rows) {
    const s = r.steps / r.native;
    const a = r.allocs / r.native;
    const e = 1 - r.rest_ns / r.native;
    ss += s * s;
    sa += s * a;
    aa += a * a;
    sr += s * e;
    ar += a * e;
  }
  const det = ss * aa - sa * sa;
  if (det > 0) {
    const step_ns = (sr * aa - ar * sa) / det;
    const alloc_ns = (ss * ar - sa * sr) / det;
    if (step_ns >= 0 && alloc_ns >= 0) return { step_ns, alloc_ns };
  }
  return sr / ss >= 0 ? { step_ns: sr / ss, alloc_ns: 0 } : { step_ns: 0, alloc_ns: ar / aa };
}

/**
 * Measure the constants, run every workload × policy natively on one CPU
 * and under the model, and fit step_ns and alloc_ns. `tick` is told each
 * point as it starts.
 */
export async function calibrate(
  workloads: readonly Workload[],
  tick: (what: string) => void = () => {},
): Promise<Calibration> {
  tick('microbenchmarks');
  const measured = await measure_constants();
  // The probes start from the profile's own step_ns and alloc_ns: with
  // both at 0 a timed run's clock would hardly move and it would run all
  // of its operations.
  const base = with_values(PROFILES.js, measured);
  const rows: Row[] = [];
  for (const w of workloads) {
    for (const policy of POLICIES) {
      tick(`${w.name} ${policy}`);
      const native = ns_per_op(
        (await run_bench({ workload: w, policy, executor: 'native', cpus: 1 })).ops_per_s,
      );
      const at_base = await model_ns(w, policy, base);
      const probe = async (c: 'step_ns' | 'alloc_ns') =>
        ((await model_ns(w, policy, with_values(base, { [c]: base[c] + PROBE_NS }))) - at_base) /
        PROBE_NS;
      const steps = await probe('step_ns');
      const allocs = await probe('alloc_ns');
      const rest_ns = at_base - steps * base.step_ns - allocs * base.alloc_ns;
      rows.push({ workload: w.name, policy, native, steps, allocs, rest_ns });
    }
  }
  const { step_ns, alloc_ns } = fit(rows);
  return {
    measured,
    step_ns,
    alloc_ns,
    points: rows.map((r) => ({
      workload: r.workload,
      policy: r.policy,
      native_ns_per_op: r.native,
      model_ns_per_op: step_ns * r.steps + alloc_ns * r.allocs + r.rest_ns,
    })),
  };
}
