/*
 * Timing points on worker threads: simulated time does not depend on
 * where or beside what a run ran, so the pool's figures are exactly the
 * ones run_bench gives on this thread, in the points' order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BenchError, run_bench } from '../../src/bench/bench.js';
import { run_timing_points, type TimingPoint } from '../../src/bench/timing_pool.js';
import { PROFILES } from '../../src/runtime/executors/timing_costs.js';
import { find_workload } from '../../src/scenarios/workloads/index.js';

test('timing points on two workers give the figures of a run on this thread, in order', async () => {
  const points: TimingPoint[] = [
    { workload: 'pft', policy: 'mmap-lock', cpus: 4, profile: PROFILES.hw },
    { workload: 'fault-vs-mprotect', policy: 'vma-refcnt', cpus: 2, profile: PROFILES.hw },
    { workload: 'page-fault3', policy: 'range', cpus: 8, profile: PROFILES.hw },
  ];
  const ticked: string[] = [];
  const pooled = await run_timing_points(points, (p) => ticked.push(p.workload), 2);
  assert.deepEqual([...ticked].sort(), points.map((p) => p.workload).sort());
  for (const [i, p] of points.entries()) {
    const here = await run_bench({
      workload: find_workload(p.workload),
      policy: p.policy,
      executor: 'timing',
      cpus: p.cpus,
      profile: p.profile,
    });
    assert.deepEqual(pooled[i], here, `${p.workload} ${p.policy} ${p.cpus}`);
  }
});

test('a point that fails rejects the whole pool with its message, a BenchError', async () => {
  await assert.rejects(
    run_timing_points(
      [{ workload: 'nosuch', policy: 'mmap-lock', cpus: 1, profile: PROFILES.hw }],
      () => {},
      1,
    ),
    // No model bug: the workload was never run, so no bug class to tell a calibration.
    (e) => e instanceof BenchError && e.bug_class === null && /nosuch/.test(e.message),
  );
});
