import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config, run_native, run_timing } from '../../../src/check/kernel.js';
import { Sequential } from '../../../src/check/strategy.js';
import { NativePool } from '../../../src/runtime/executors/native.js';
import { PROFILES } from '../../../src/runtime/executors/timing_costs.js';
import { find_scenario } from '../../../src/scenarios/index.js';
import { find_workload } from '../../../src/scenarios/workloads/index.js';
import {
  scenario as broken,
  CRASH,
  LOST_WAKEUP,
  RCU_UNBALANCED,
  UNKNOWN_OP,
} from '../../fixtures/broken.js';
import { scenario as spinner } from '../../fixtures/spinner.js';

test('an exception in a CPU is reported with its CPU and stack, and stops every worker', async () => {
  const r = await run_native(broken, make_config(broken, { params: { mode: CRASH } }));
  assert.equal(r.bug?.class, 'exception');
  assert.equal(r.bug?.task, 'cpu1');
  assert.match(r.bug!.message, /deliberate crash/);
  assert.match(r.bug!.stack, /broken\.ts/);
});

test('a kernel fault in a worker is the KernelBug the explorer and timing report, not an exception', async () => {
  for (const [mode, bug_class, message] of [
    [RCU_UNBALANCED, 'rcu', 'rcu_read_unlock() without rcu_read_lock() by cpu0'],
    [UNKNOWN_OP, 'BUG', 'unknown op 255 yielded by cpu0'],
  ] as const) {
    const cfg = make_config(broken, { params: { mode } });
    const native = await run_native(broken, cfg);
    const explored = new Explorer(broken, cfg).check(new Sequential());
    const timed = run_timing(broken, cfg, { profile: PROFILES.hw });
    for (const bug of [native.bug, explored.bug, timed.bug]) {
      assert.equal(bug?.class, bug_class, bug?.message);
      assert.equal(bug.task, 'cpu0');
      // The same words; a native report adds where the worker stood.
      assert.equal(bug.message.replace(/ \[cpu0 at [^\]]*\]$/, ''), message);
    }
  }
});

test('the watchdog reports no progress, with what each CPU waits on, instead of hanging', async () => {
  const r = await run_native(broken, make_config(broken, { params: { mode: LOST_WAKEUP } }), {
    watchdog_ms: 300,
  });
  assert.equal(r.bug?.class, 'no-progress');
  assert.match(r.bug!.message, /cpu0: blocked in futex_wait on broken\.flag/);
  assert.match(r.bug!.message, /cpu1: done/);
});

test('a CPU spinning on a load while another CPU works is a livelock, named by CPU and kernel function', async () => {
  // The stop word ends the run after 3 s: a spin the watchdog missed comes back clean.
  const r = await run_native(spinner, make_config(spinner, {}), { watchdog_ms: 300, seconds: 3 });
  assert.equal(r.bug?.class, 'livelock', r.bug?.message ?? 'clean: the spin went unreported');
  assert.equal(r.bug.task, 'cpu0');
  assert.match(r.bug.message, /^cpu0 spins in wait_for_flag, at read_once spinner\.(flag|stop)\b/);
  assert.match(r.bug.message, /changed no kernel memory/);
  assert.match(r.bug.message, /cpu1: running/);
});

test('runs that change memory as they go are not livelocks, however short the watchdog', async () => {
  // Their waits park (cond_load_ne, futex_wait); their loops fault, lock and count.
  for (const [name, params, seconds] of [
    ['mm-stress', { iters: 0 }, 1],
    ['lock-selftest', { iters: 500 }, undefined],
  ] as const) {
    const s = find_scenario(name);
    const r = await run_native(s, make_config(s, { cpus: 3, params }), {
      watchdog_ms: 250,
      ...(seconds === undefined ? {} : { seconds }),
    });
    assert.equal(r.bug, null, `${name}: ${r.bug?.message}`);
  }
});

/* `body` on a pool of its own, closed whatever happens. */
async function with_pool(body: (pool: NativePool) => Promise<void>): Promise<void> {
  const pool = new NativePool();
  try {
    await body(pool);
  } finally {
    await pool.close();
  }
}

test('a pool keeps its workers from run to run, and replaces those of a run that failed', () =>
  with_pool(async (pool) => {
    const pft = find_workload('pft');
    const cfg = make_config(pft.scenario, { cpus: 2, params: pft.params('timing', 2) });
    const first = pool.worker('cpu0');
    for (let run = 0; run < 2; run++) {
      const r = await run_native(pft.scenario, cfg, { pool });
      assert.equal(r.bug, null, r.bug?.message);
      assert.equal(pool.worker('cpu0'), first, `run ${run} kept cpu0's worker`);
    }
    const crashed = await run_native(broken, make_config(broken, { params: { mode: CRASH } }), {
      pool,
    });
    assert.equal(crashed.bug?.task, 'cpu1');
    assert.match(crashed.bug!.stack, /broken\.ts/);
    assert.notEqual(pool.worker('cpu0'), first, 'a failed run leaves no worker behind');
    const after = await run_native(pft.scenario, cfg, { pool });
    assert.equal(after.bug, null, after.bug?.message);
  }));

test('a pooled task keeps its worker, and its count of runs, when the CPU count changes', () =>
  with_pool(async (pool) => {
    const pft = find_workload('pft');
    const cfg = (cpus: number) =>
      make_config(pft.scenario, { cpus, params: pft.params('timing', cpus) });
    const run = async (cpus: number) => {
      const r = await run_native(pft.scenario, cfg(cpus), { pool });
      assert.equal(r.bug, null, r.bug?.message);
    };
    await run(1);
    assert.ok(pool.warmed(pft.scenario, cfg(1), 1));
    assert.ok(!pool.warmed(pft.scenario, cfg(1), 2));
    assert.ok(!pool.warmed(pft.scenario, cfg(2), 1), 'cpu1 has not run yet');
    const cpu0 = pool.worker('cpu0');
    const kthread = pool.worker('rcu_gp_kthread');
    await run(2);
    assert.ok(pool.warmed(pft.scenario, cfg(2), 1));
    assert.ok(!pool.warmed(pft.scenario, cfg(2), 2), 'cpu1 has run once');
    assert.ok(pool.warmed(pft.scenario, cfg(1), 2));
    assert.equal(pool.worker('cpu0'), cpu0);
    assert.equal(
      pool.worker('rcu_gp_kthread'),
      kthread,
      "the kthread ran on its own worker, not on cpu1's",
    );
    assert.notEqual(pool.worker('cpu1'), kthread);
  }));

test("a pooled run boots in the last run's memory, zeroed: it measures what a fresh run does", () =>
  with_pool(async (pool) => {
    const w = find_workload('page-fault1');
    const cfg = make_config(w.scenario, { cpus: 1, params: w.params('timing', 1) });
    const fresh = await run_native(w.scenario, cfg, {});
    for (let run = 0; run < 2; run++) {
      const r = await run_native(w.scenario, cfg, { pool });
      assert.equal(r.bug, null, r.bug?.message);
      // The CPU's accesses; a kthread's depend on when it was woken.
      assert.deepEqual(
        r.steps.slice(0, cfg.cpus),
        fresh.steps.slice(0, cfg.cpus),
        `run ${run}: the same accesses as a fresh run`,
      );
      assert.deepEqual(r.report, fresh.report);
    }
  }));

test("frame samples time a run's plain steps by the kernel function that made them; without, none are taken", async () => {
  const w = find_workload('pft');
  const cfg = make_config(w.scenario, { cpus: 1, params: w.params('timing', 1) });
  const plain = await run_native(w.scenario, cfg, {});
  assert.deepEqual(plain.frames, {});
  const r = await run_native(w.scenario, cfg, { frame_samples: true });
  assert.equal(r.bug, null, r.bug?.message);
  // A fault's walk: each function on it makes plain accesses.
  for (const fn of ['do_user_addr_fault', 'handle_mm_fault', 'do_anonymous_page'])
    assert.ok((r.frames[fn]?.length ?? 0) > 0, `${fn} sampled: ${Object.keys(r.frames)}`);
  const all = Object.values(r.frames).flat();
  // About one step in SAMPLE_GAP_MEAN (16), of the plain accesses among all steps.
  const steps = r.steps.reduce((a, b) => a + b, 0);
  assert.ok(all.length > steps / 64 && all.length < steps / 8, `${all.length} of ${steps} steps`);
  assert.ok(
    all.every((ns) => Number.isFinite(ns)),
    'every sample a time',
  );
});

test("a pool keeps a run's memory for each size, so that points of 1 and 2 CPUs can take turns", () =>
  with_pool(async (pool) => {
    const small = pool.buffer(1 << 20);
    const large = pool.buffer(3 << 20);
    assert.notEqual(small, large);
    assert.equal(pool.buffer(1 << 20), small, "the 1 MiB run's memory, kept");
    assert.equal(pool.buffer(3 << 20), large, "the 3 MiB run's memory, kept");
    assert.equal(pool.buffer((1 << 20) - 100), small, 'a size within the same 64 KiB pages');
  }));
