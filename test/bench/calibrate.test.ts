/*
 * The js profile's fit: least squares on the ratio of the model's ns per
 * operation to native's, no constant below its floor (0 by default). Rows
 * made from known constants must give those constants back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FITTED, fit, type Row } from '../../src/bench/calibrate.js';

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
