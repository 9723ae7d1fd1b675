/*
 * The js profile's fit: least squares on the ratio of the model's ns per
 * operation to native's, no constant below its floor (0 by default). Rows
 * made from known constants must give those constants back. Its rounds, on
 * models made up here: a linear model's constants are found, the round
 * nearest native is kept whatever follows, and a round that livelocks ends
 * the fit without losing the rounds before it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BenchError } from '../../src/bench/bench.js';
import {
  FIT_ROUNDS,
  FITTED,
  fit,
  fit_profile,
  type ModelRuns,
  type Row,
  step_weights,
} from '../../src/bench/calibrate.js';
import { type CostProfile, PROFILES } from '../../src/runtime/executors/timing_costs.js';

/* Rows whose native figure is exactly what `x` predicts, from varied counts. */
function rows_of(x: readonly number[], n: number): Row[] {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  return Array.from({ length: n }, () => {
    const counts = FITTED.map(() => rnd() * 100);
    const rest_ns = 3000 + rnd() * 5000;
    return { counts, rest_ns, native_ns: rest_ns + counts.reduce((v, c, j) => v + c * x[j]!, 0) };
  });
}

test('the fit gives back the constants the rows were made from', () => {
  const x = [403, 3416, 0, 34744, 46339].slice(0, FITTED.length);
  const got = fit(rows_of(x, 30));
  for (const [j, c] of FITTED.entries())
    assert.ok(Math.abs(got[j]! - x[j]!) < 1e-6 * (1 + x[j]!), `${c}: ${got[j]} for ${x[j]}`);
});

test('a constant the data would make negative is held at 0, the others fitted without it', () => {
  // Every row cheaper than the rest alone by 20 ns a count of the first constant.
  const x = FITTED.map((_, j) => (j === 0 ? -20 : 100));
  const got = fit(rows_of(x, 30));
  assert.ok(
    got.every((v) => v >= 0),
    `no value below 0: ${got}`,
  );
  assert.equal(got[0], 0);
  assert.ok(
    got.slice(1).some((v) => v > 0),
    `the others still fitted: ${got}`,
  );
});

test('a constant the data would put below its floor is held at the floor', () => {
  // The rows made with step_ns at 5 ns; its floor is 40 ns.
  const x = FITTED.map((_, j) => (j === 0 ? 5 : 100));
  const floor = FITTED.map((_, j) => (j === 0 ? 40 : 0));
  const got = fit(rows_of(x, 30), floor);
  assert.equal(got[0], 40);
  assert.ok(
    got.every((v, j) => v >= floor[j]!),
    `none below its floor: ${got}`,
  );
  // Where the floor does not bind, the fit is the unbounded one.
  const free = fit(
    rows_of(x, 30),
    FITTED.map(() => 1),
  );
  for (const [j, c] of FITTED.entries())
    assert.ok(Math.abs(free[j]! - x[j]!) < 1e-6 * (1 + x[j]!), `${c}: ${free[j]} for ${x[j]}`);
});

/* ---- the rounds, on made-up models (no timing runs) ---- */

const BASE: CostProfile = PROFILES.js;
const rows = rows_of(
  FITTED.map((c) => BASE[c] * 1.5),
  12,
);
const native_ns = rows.map((r) => r.native_ns);
const NO_FLOOR = FITTED.map(() => 0);

/* The model the rows describe: linear in the fitted constants. */
const linear: ModelRuns = async (profiles) =>
  profiles.map((p) =>
    rows.map((r) => r.counts.reduce((v, c, j) => v + c * p[FITTED[j]!], r.rest_ns)),
  );

const is_base = (p: CostProfile) => FITTED.every((c) => p[c] === BASE[c]);

test('a linear model: the first fit lands on the constants, and the last round keeps them', async () => {
  const r = await fit_profile(native_ns, BASE, NO_FLOOR, linear);
  assert.equal(r.rounds.length, FIT_ROUNDS + 1);
  assert.ok(r.rounds[0]!.error! > 0.01, `the base is off: ${r.rounds[0]!.error}`);
  assert.ok(r.rounds[1]!.error! < 1e-12, `the first fit is exact: ${r.rounds[1]!.error}`);
  for (const c of FITTED)
    assert.ok(Math.abs(r.fitted[c] - BASE[c] * 1.5) < 1e-6 * (1 + BASE[c]), `${c}: ${r.fitted[c]}`);
  for (const [i, ns] of r.model_ns.entries()) assert.ok(Math.abs(ns / native_ns[i]! - 1) < 1e-9);
});

test('the round the model put closest to native is kept, not the last', async () => {
  // Off by 1% at the base, by half everywhere else: every fit moves away.
  const base_best: ModelRuns = async (profiles) =>
    profiles.map((p) => native_ns.map((ns, i) => ns * (is_base(p) ? 1.01 : 1.5 + i / 100)));
  const r = await fit_profile(native_ns, BASE, NO_FLOOR, base_best);
  assert.equal(r.rounds.length, FIT_ROUNDS + 1);
  assert.ok(r.rounds.slice(1).every((x) => x.error! > r.rounds[0]!.error!));
  for (const c of FITTED) assert.equal(r.fitted[c], BASE[c]);
  for (const [i, ns] of r.model_ns.entries()) assert.equal(ns, native_ns[i]! * 1.01);
});

test('a round whose profile livelocks the model ends the fit; the best before it stands', async () => {
  const livelock = () =>
    new BenchError('fork-gup (vma-rwsem, timing, 2 CPUs): livelock', 'livelock');
  const only_base: ModelRuns = async (profiles) => {
    if (!profiles.every(is_base) && !is_base(profiles[0]!)) throw livelock();
    return linear(profiles, '');
  };
  const r = await fit_profile(native_ns, BASE, NO_FLOOR, only_base);
  assert.equal(r.rounds.length, 2);
  assert.ok(r.rounds[0]!.error! > 0);
  assert.equal(r.rounds[1]!.error, null);
  for (const c of FITTED) assert.equal(r.fitted[c], BASE[c]);
  // With no round to fall back on, and for any other failure, the error stands.
  await assert.rejects(
    fit_profile(native_ns, BASE, NO_FLOOR, async () => {
      throw livelock();
    }),
    /livelock/,
  );
  await assert.rejects(
    fit_profile(native_ns, BASE, NO_FLOOR, async () => {
      throw new BenchError('pft (range, timing, 2 CPUs): deadlock', 'deadlock');
    }),
    /deadlock/,
  );
});

test("step weights: a function's mean sampled step over the mean of all, drawn toward 1 by its few samples; host stalls left out", () => {
  const many = (ns: number, n: number) => new Array<number>(n).fill(ns);
  // Two points; a preemption's 5 ms step in each is not code.
  const w = step_weights([
    { walk: [...many(100, 5000), 5e6], fault: many(300, 2500) },
    { walk: many(100, 5000), fault: [...many(300, 2500), 5e6], slow_path: many(300, 2) },
  ]);
  const mean_ns = (100 * 10000 + 300 * 5002) / 15002;
  const drawn = (ns: number, n: number) => ((n * ns) / mean_ns + 50) / (n + 50);
  assert.deepEqual(Object.keys(w), ['fault', 'slow_path', 'walk']);
  assert.ok(Math.abs(w.walk! - drawn(100, 10000)) < 1e-12, `walk ${w.walk}`);
  assert.ok(Math.abs(w.fault! - drawn(300, 5000)) < 1e-12, `fault ${w.fault}`);
  // As costly a step as fault's, but seen twice: near 1.
  assert.ok(Math.abs(w.slow_path! - drawn(300, 2)) < 1e-12 && w.slow_path! < 1.1);
  assert.ok(w.fault! > 2.5 * w.walk!);
  assert.throws(() => step_weights([{}]), /no step was sampled/);
});
