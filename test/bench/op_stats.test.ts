import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median_stats, merge_samples, type OpStats } from '../../src/bench/op_stats.js';
import { OpRecorder } from '../../src/runtime/op_meter.js';

/* A recorder over a clock the test moves by hand. */
function recorder(cpus: number): { rec: OpRecorder; now: Float64Array } {
  const now = new Float64Array(cpus);
  return { rec: new OpRecorder((cpu) => now[cpu]!, cpus), now };
}

test('latency percentiles and throughput over the window of the operations', () => {
  const { rec, now } = recorder(1);
  // 99 operations of 1 µs, then one of 1 ms: p50 1 µs, p99 1 µs, max 1 ms.
  for (let i = 0; i < 100; i++) {
    rec.op_begin(0);
    now[0]! += i === 99 ? 1e6 : 1e3;
    rec.op_end(0);
  }
  const s = merge_samples([rec.sample()]);
  assert.equal(s.ops, 100);
  assert.ok(Math.abs(s.p50_ns - 1000) <= 1, `p50 ${s.p50_ns}`);
  assert.ok(Math.abs(s.p99_ns - 1000) <= 1, `p99 ${s.p99_ns}`);
  assert.ok(Math.abs(s.max_ns - 1e6) <= 1e3, `max ${s.max_ns}`);
  assert.equal(s.window_ns, 99 * 1e3 + 1e6);
  assert.ok(Math.abs(s.ops_per_s - 100 / 1.099e-3) < 1);
});

test("two CPUs' samples merge: their operations add up, the window spans both", () => {
  const a = recorder(2);
  const b = recorder(2);
  // cpu0 works from 0 to 10 µs, cpu1 from 5 to 25 µs: 30 ops in 25 µs.
  a.now[0] = 0;
  for (let i = 0; i < 10; i++) {
    a.rec.op_begin(0);
    a.now[0]! += 1e3;
    a.rec.op_end(0);
  }
  b.now[1] = 5e3;
  for (let i = 0; i < 20; i++) {
    b.rec.op_begin(1);
    b.now[1]! += 1e3;
    b.rec.op_end(1);
  }
  const s = merge_samples([a.rec.sample(), b.rec.sample()]);
  assert.equal(s.ops, 30);
  assert.equal(s.window_ns, 25e3);
  assert.ok(Math.abs(s.ops_per_s - 30 / 25e-6) < 1);
});

test('an operation ended twice or begun twice is a bug in the workload', () => {
  const { rec } = recorder(1);
  assert.throws(() => rec.op_end(0), /outside an operation/);
  rec.op_begin(0);
  assert.throws(() => rec.op_begin(0), /inside an operation/);
});

test('a run that measured nothing says so instead of dividing by zero', () => {
  const { rec } = recorder(1);
  assert.throws(() => merge_samples([rec.sample()]), /no operation/);
});

test('repeated runs of a point: each figure the median of the runs, max the highest, ops all', () => {
  const run = (ops_per_s: number, p99_ns: number, max_ns: number): OpStats => ({
    ops: 100,
    ops_per_s,
    window_ns: 1e9,
    p50_ns: p99_ns / 2,
    p90_ns: p99_ns,
    p99_ns,
    p999_ns: max_ns,
    max_ns,
  });
  // A stalled run (5 ops/s) and a slow-tailed one (p99 900 µs) do not set the figures.
  const s = median_stats([run(30e3, 40e3, 1e6), run(5, 900e3, 9e6), run(28e3, 50e3, 2e6)]);
  assert.equal(s.ops_per_s, 28e3);
  assert.equal(s.p99_ns, 50e3);
  assert.equal(s.p50_ns, 25e3);
  assert.equal(s.max_ns, 9e6);
  assert.equal(s.ops, 300);
});
