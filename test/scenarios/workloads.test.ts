/*
 * The benchmark workloads (src/scenarios/workloads/) through run_bench: every
 * workload runs under the timing executor on 1 and 2 CPUs under every
 * policy without a bug and measures operations; fault-vs-mprotect shows
 * what per-VMA locks were made for (faults wait for an mprotect's whole
 * walk under mmap_lock and not under a VMA lock), and the vm event
 * counters say which lock handled the faults; an unknown workload is a
 * usage error naming the known ones; one short native run measures; and
 * mmap-churn's native run outlives a grace-period kthread held back until
 * its retired memory has filled the arena.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NATIVE_RUNS, run_bench, run_native_points } from '../../src/bench/bench.js';
import type { BenchResult } from '../../src/bench/result.js';
import { make_config, run_native, run_timing } from '../../src/check/kernel.js';
import { POLICIES } from '../../src/kernel/mm/policy.js';
import { PROFILES } from '../../src/runtime/executors/timing_costs.js';
import { find_workload, WORKLOADS } from '../../src/scenarios/workloads/index.js';
import { scenario as held_back } from '../fixtures/rcu_held_back.js';

const timing = (name: string, policy: string, cpus: number): Promise<BenchResult> =>
  run_bench({ workload: find_workload(name), policy, executor: 'timing', cpus });

test('every workload runs under timing on 1 and 2 CPUs under every policy and measures operations', async () => {
  assert.ok(WORKLOADS.size >= 7, `${WORKLOADS.size} workloads`);
  assert.deepEqual([...POLICIES].sort(), ['mmap-lock', 'range', 'vma-refcnt', 'vma-rwsem']);
  for (const w of WORKLOADS.values()) {
    for (const cpus of [1, 2]) {
      for (const policy of POLICIES) {
        const what = `${w.name} (${policy}, ${cpus} CPUs)`;
        // run_bench throws a BenchError on a bug: the rejection names the run.
        const r = await run_bench({ workload: w, policy, executor: 'timing', cpus });
        assert.equal(r.workload, w.name, what);
        assert.equal(r.profile, 'hw', what);
        assert.ok(r.ops > 0, `${what}: no operations`);
        assert.ok(r.ops_per_s > 0, what);
        assert.ok(0 < r.p50_ns && r.p50_ns <= r.p99_ns && r.p99_ns <= r.max_ns, what);
      }
    }
  }
});

test('fault-vs-mprotect on 2 CPUs: mmap_lock faults wait for the writer, per-VMA locks do not', async () => {
  const mmap = await timing('fault-vs-mprotect', 'mmap-lock', 2);
  assert.ok(mmap.p99_alone_ns !== undefined && mmap.p99_alone_ns > 0);
  // A fault alone has a tail of its own: one in pcp->batch refills the per-CPU page list under zone->lock.
  assert.ok(
    mmap.p99_ns >= 2 * mmap.p99_alone_ns,
    `mmap-lock p99 ${mmap.p99_ns} vs alone ${mmap.p99_alone_ns}`,
  );
  // Every fault took mmap_lock; none went through a VMA lock.
  assert.ok(mmap.counters.mmap_lock_fault! >= mmap.ops, JSON.stringify(mmap.counters));
  assert.equal(mmap.counters.vma_lock_success, 0);

  for (const policy of ['vma-rwsem', 'vma-refcnt']) {
    const r = await timing('fault-vs-mprotect', policy, 2);
    assert.ok(r.p99_alone_ns !== undefined && r.p99_alone_ns > 0, policy);
    // Near its own p99 alone (the writer's cache traffic costs a little),
    // and far below mmap-lock's.
    assert.ok(
      r.p99_ns <= 1.25 * r.p99_alone_ns,
      `${policy} p99 ${r.p99_ns} vs alone ${r.p99_alone_ns}`,
    );
    // The typical fault: mmap-lock's waits out an mprotect, a per-VMA one does not.
    assert.ok(5 * r.p50_ns <= mmap.p50_ns, `${policy} p50 ${r.p50_ns} vs mmap-lock ${mmap.p50_ns}`);
    // The faults were handled under the VMA lock, not mmap_lock.
    assert.ok(r.counters.vma_lock_success! >= r.ops, `${policy}: ${JSON.stringify(r.counters)}`);
    assert.ok(r.counters.mmap_lock_fault! <= 2, `${policy}: ${JSON.stringify(r.counters)}`);
  }
});

test('an unknown workload is a usage error that lists the known ones', () => {
  assert.throws(
    () => find_workload('no-such-workload'),
    (e: Error) => {
      assert.match(e.message, /unknown workload 'no-such-workload'/);
      for (const name of WORKLOADS.keys()) assert.ok(e.message.includes(name), name);
      return true;
    },
  );
  assert.equal(find_workload('pft').name, 'pft');
});

test('a short native pft run on 1 CPU measures faults with ordered percentiles', async () => {
  const r = await run_bench({
    workload: find_workload('pft'),
    policy: 'vma-refcnt',
    executor: 'native',
    cpus: 1,
  });
  assert.equal(r.executor, 'native');
  assert.equal(r.profile, undefined);
  assert.ok(r.ops > 0, 'no operations');
  assert.ok(r.ops_per_s > 0);
  assert.ok(0 < r.p50_ns && r.p50_ns <= r.p99_ns, `p50 ${r.p50_ns}, p99 ${r.p99_ns}`);
  assert.ok(r.counters.vma_lock_success! > 0, JSON.stringify(r.counters));
  assert.equal(r.runs_ops_per_s?.length, NATIVE_RUNS);
  assert.ok(r.host_speed! > 0, `host speed ${r.host_speed}`);
});

test("a pool's native points measured together, in rounds, one pool at a time; the results in order", async () => {
  const w = find_workload('page-fault3');
  const points = (
    [
      ['vma-rwsem', 2],
      ['vma-refcnt', 1],
      ['vma-rwsem', 1],
    ] as const
  ).map(([policy, cpus]) => ({ workload: w, policy, executor: 'native' as const, cpus }));
  const ticks: string[] = [];
  const [two, other, one] = await run_native_points(points, (p, round) =>
    ticks.push(`${p.policy} ${p.cpus}:${round ?? 'warm'}`),
  );
  // vma-rwsem's points: warm-ups first, then the rounds, each giving every point a run; then vma-refcnt's.
  const rwsem = ['2:warm', '1:warm', '2:0', '1:0', '2:1', '1:1', '2:2', '1:2'];
  const refcnt = ['1:warm', '1:0', '1:1', '1:2'];
  assert.deepEqual(ticks, [
    ...rwsem.map((t) => `vma-rwsem ${t}`),
    ...refcnt.map((t) => `vma-refcnt ${t}`),
  ]);
  assert.deepEqual(
    [two, other, one].map((r) => `${r!.policy} ${r!.cpus}`),
    ['vma-rwsem 2', 'vma-refcnt 1', 'vma-rwsem 1'],
  );
  for (const r of [two!, other!, one!]) {
    const runs = [...r.runs_ops_per_s!].sort((a, b) => a - b);
    assert.equal(runs.length, NATIVE_RUNS);
    assert.equal(r.ops_per_s, runs[1], `${r.policy} ${r.cpus} CPUs: the median run`);
    assert.ok(r.host_speed! > 0);
  }
  assert.equal(one!.host_speed, two!.host_speed, "the probes of the workload's runs");
  assert.equal(other!.host_speed, two!.host_speed, 'through all its pools');
});

test("pft's native size fits its memory on 2 and 4 CPUs: every page of every slice faults in", () => {
  // Natively a run stops after 0.4 s, and a fast machine got through all
  // of pft's 32,768 pages a CPU in that time: its memory was 172 pages
  // short. Run to the end under timing.
  const w = find_workload('pft');
  for (const cpus of [2, 4]) {
    const cfg = make_config(w.scenario, { cpus, params: w.params('native', cpus) });
    const r = run_timing(w.scenario, cfg, { profile: PROFILES.hw });
    assert.equal(r.bug, null, `pft on ${cpus} CPUs: ${r.bug?.message}`);
    const { vma_lock_success = 0, mmap_lock_fault = 0 } = r.report;
    assert.equal(
      vma_lock_success + mmap_lock_fault,
      cpus * cfg.params.pages!,
      `pft on ${cpus} CPUs: a fault for every page`,
    );
  }
});

test('mmap-churn natively with its grace-period kthread held back until memory is full: no -ENOMEM, every pair done', async () => {
  // The kthread starts only once an allocation found memory full (it
  // would never start, and the run never end, otherwise): the CPU's
  // allocator must wait for the grace periods that free what mmap and
  // munmap retired, as Linux's waits in reclaim, not fail with -12.
  // 4096 pairs retire 8192 maple nodes, twice the arena.
  const loops = 4096;
  for (const policy of ['mmap-lock', 'vma-rwsem']) {
    const cfg = make_config(held_back, { cpus: 1, policy, params: { pages: 512, loops } });
    const r = await run_native(held_back, cfg);
    assert.equal(r.bug, null, `${policy}: ${r.bug?.message}`);
  }
});
