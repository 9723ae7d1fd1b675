/*
 * `npm run bench`: the foundation's figures on this machine.
 *  - native cost of uncontended lock/unlock pairs (spinlock, rwsem read,
 *    rwsem write), run by a worker thread exactly as in a stress run;
 *  - the same rwsem read fast path written as plain JavaScript on the same
 *    memory: what the generator protocol costs;
 *  - explorer steps per second on lock-selftest, schedules per second on
 *    fault-vs-munmap, and the heap over a million schedules;
 *  - fault-vs-mprotect natively on 2 CPUs: faults off mmap_lock, and their
 *    p99 with the mprotect writer against alone;
 *  - the `js` cost profile's measured constants against the same
 *    microbenchmarks now (--calibrate: a whole new fit, from steps sampled
 *    by kernel function and three native sweeps at 1 and 2 CPUs, about 15
 *    minutes);
 *  - the timing model against native runs, every workload and policy at 1
 *    and 2 CPUs, beside the native sweep run again on fresh workers (how
 *    far this machine repeats itself: the closest a model of it can be
 *    checked), and the timing executor's own steps per second.
 * Each figure is the median of several runs; machines here are shared.
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { run_native_points } from '../bench/bench.js';
import { calibrate, measure_constants } from '../bench/calibrate.js';
import { host_speed_ratio, probe_host_speed } from '../bench/host_speed.js';
import {
  LOCKS,
  lock_pairs,
  scenario as lock_pairs_scenario,
  PAIR_READ,
  PAIR_SPIN,
  PAIR_WRITE,
} from '../bench/lock_pairs.js';
import { Progress } from '../bench/progress.js';
import type { BenchResult } from '../bench/result.js';
import { sweep } from '../bench/sweep.js';
import {
  alone_target_met,
  deviation,
  MMAP_LOCK_MIN_RATIO,
  PER_VMA_MAX_RATIO,
} from '../bench/targets.js';
import { WHOLE } from '../check/dfs.js';
import { Explorer } from '../check/explorer.js';
import { instantiate, make_config, run_native, run_timing } from '../check/kernel.js';
import { run_parallel } from '../check/parallel.js';
import { median } from '../check/stats.js';
import { RandomWalk } from '../check/strategy.js';
import {
  RW_SEMAPHORE,
  RWSEM_FLAG_WAITERS,
  RWSEM_LOCK_MASK,
  RWSEM_READ_FAILED_MASK,
  RWSEM_READER_BIAS,
  RWSEM_READER_OWNED,
} from '../kernel/locking/rwsem.js';
import { DEFAULT_POLICY, POLICIES, POLICY_MMAP_LOCK } from '../kernel/mm/policy.js';
import { random_script } from '../oracle/gen.js';
import { ctrl_words } from '../runtime/executors/native_ctrl.js';
import { NativeCpu } from '../runtime/executors/native_worker.js';
import { PROFILES } from '../runtime/executors/timing_costs.js';
import { scenario as fault_vs_munmap } from '../scenarios/races/fault_vs_munmap.js';
import { scenario as lock_selftest } from '../scenarios/races/lock_selftest.js';
import { Rng } from '../scenarios/random.js';
import { find_workload } from '../scenarios/workloads/index.js';
import { parse_script } from '../script/parse.js';
import { run_model } from '../script/run_model.js';
import { format_ns, off_mmap_lock_share } from './bench.js';

const RUNS = 5;

async function native_pair_ns(op: number, iters: number): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await run_native(
      lock_pairs_scenario,
      make_config(lock_pairs_scenario, { params: { op, iters } }),
    );
    if (r.bug) throw new Error(`lock-pairs: ${r.bug.message}`);
    runs.push((r.cpu_ms[0]! * 1e6) / iters);
  }
  return median(runs);
}

/* The same pair driven on this thread by NativeCpu, and as plain JavaScript. */
function generator_overhead(iters: number): { generator_ns: number; plain_ns: number } {
  // The lock-pairs scenario's machine: one CPU, its locks initialised as for a stress run.
  const { m, sys, globals } = instantiate(
    lock_pairs_scenario,
    make_config(lock_pairs_scenario, {}),
  );
  const { locks } = globals as { locks: number };
  const sem = locks + LOCKS.sem;
  const cpu = new NativeCpu(
    m,
    sys,
    0,
    DEFAULT_POLICY,
    '',
    new Int32Array(new SharedArrayBuffer(ctrl_words(1) * 4)),
  );
  const w = m.words;
  const count = sem + RW_SEMAPHORE.count;
  const owner = sem + RW_SEMAPHORE.owner;
  const current = sys.tasks[0]!;
  const plain = (n: number) => {
    for (let i = 0; i < n; i++) {
      // down_read(): the fast path
      if ((Atomics.add(w, count, RWSEM_READER_BIAS) + RWSEM_READER_BIAS) & RWSEM_READ_FAILED_MASK)
        throw new Error('slow path');
      Atomics.store(w, owner, current | RWSEM_READER_OWNED);
      // up_read(): the fast path
      const tmp = Atomics.add(w, count, -RWSEM_READER_BIAS) - RWSEM_READER_BIAS;
      if ((tmp & (RWSEM_LOCK_MASK | RWSEM_FLAG_WAITERS)) === RWSEM_FLAG_WAITERS)
        throw new Error('slow path');
    }
  };
  const gen_runs: number[] = [];
  const plain_runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t0 = performance.now();
    cpu.drive(lock_pairs(cpu.k, locks, PAIR_READ, iters));
    gen_runs.push(((performance.now() - t0) * 1e6) / iters);
    t0 = performance.now();
    plain(iters);
    plain_runs.push(((performance.now() - t0) * 1e6) / iters);
  }
  return { generator_ns: median(gen_runs), plain_ns: median(plain_runs) };
}

function explorer_rate(): { steps_per_s: number; schedules_per_s: number } {
  const ex = new Explorer(lock_selftest, make_config(lock_selftest, {}));
  ex.check(new RandomWalk(99, 3000));
  const steps: number[] = [];
  const schedules: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = ex.check(new RandomWalk(1 + i, Number.MAX_SAFE_INTEGER), { time_ms: 1000 });
    if (r.bug) throw new Error(`lock-selftest: ${r.bug.message}`);
    steps.push((r.steps / r.elapsed_ms) * 1000);
    schedules.push((r.schedules / r.elapsed_ms) * 1000);
  }
  return { steps_per_s: median(steps), schedules_per_s: median(schedules) };
}

/*
 * Random schedules per second of fault-vs-munmap (vma-refcnt, 2 CPUs): the
 * issue's yardstick. Beside it, the same runs over the host-speed probe
 * taken on this thread around each (src/bench/host_speed.ts): schedules per
 * million probe steps, which moves with the explorer's code and not with
 * the speed the host lends this machine minute to minute.
 */
function fault_vs_munmap_rate(): { schedules_per_s: number; per_mprobe: number } {
  const ex = new Explorer(fault_vs_munmap, make_config(fault_vs_munmap, { policy: 'vma-refcnt' }));
  ex.check(new RandomWalk(99, 500));
  const runs: number[] = [];
  const per_probe: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const before = probe_host_speed();
    const r = ex.check(new RandomWalk(1 + i, Number.MAX_SAFE_INTEGER), { time_ms: 1000 });
    const after = probe_host_speed();
    if (r.bug) throw new Error(`fault-vs-munmap: ${r.bug.message}`);
    const rate = (r.schedules / r.elapsed_ms) * 1000;
    runs.push(rate);
    per_probe.push(rate / ((before + after) / 2));
  }
  return { schedules_per_s: median(runs), per_mprobe: median(per_probe) };
}

/** The searches --jobs 2 is timed on, three rounds each: a short one and a long one. */
const SHORT_SEARCH = 20_000;
const LONG_SEARCH = 120_000;

/*
 * How much faster `mmlab check --jobs 2` runs the yardstick's random walk
 * than one job: wall time of `schedules` on one worker over that on two
 * (each part its half), worker start-up included in both, as a user sees
 * it; the median of `rounds`. Each worker's JIT warm-up is in it: about
 * half a second alone, about twice that when two warm up at once on this
 * machine's two cores (docs/calibration-log.md, "What bounds the
 * explorer's speed"), so a short search gains less than a long one.
 */
async function jobs_speedup(schedules: number, rounds: number): Promise<number> {
  const job = {
    scenario: fault_vs_munmap.name,
    cfg: make_config(fault_vs_munmap, { policy: 'vma-refcnt' }),
    strategy: 'random' as const,
    options: { seed: 1, schedules, depth: 3, bound: 3, shard: WHOLE },
  };
  const wall_ms = async (jobs: number) => {
    const t0 = performance.now();
    await run_parallel(job, jobs);
    return performance.now() - t0;
  };
  // Which runs first alternates from round to round: the host's speed drifts within one.
  const round = async (i: number): Promise<number> => {
    if (i % 2 === 0) {
      const one = await wall_ms(1);
      return one / (await wall_ms(2));
    }
    const two = await wall_ms(2);
    return (await wall_ms(1)) / two;
  };
  const ratios: number[] = [];
  for (let i = 0; i < rounds; i++) ratios.push(await round(i));
  return median(ratios);
}

/*
 * V8's full collection, for a heap figure of live objects alone: heapUsed
 * without it is mostly garbage, whose amount at any moment depends on when
 * the collector last ran (with --single-threaded-gc, 27 to 74 MiB from one
 * sample to the next of a run that keeps nothing).
 */
setFlagsFromString('--expose-gc');
const full_gc = runInNewContext('gc') as () => void;

/*
 * The live heap after each tenth of a million schedules of the spinlock
 * self-test: a run that keeps anything per schedule grows here.
 */
function heap_over_schedules(total: number): number[] {
  const ex = new Explorer(
    lock_selftest,
    make_config(lock_selftest, { params: { cases: 1, iters: 1 } }),
  );
  const step = total / 10;
  const heap_mb: number[] = [];
  for (let done = 0; done < total; done += step) {
    const r = ex.check(new RandomWalk(done + 1, step));
    if (r.bug) throw new Error(`lock-selftest: ${r.bug.message}`);
    full_gc();
    heap_mb.push(process.memoryUsage().heapUsed / 2 ** 20);
  }
  return heap_mb;
}

/* mmlab run of a 10,000-command random script: parse and run on the model, median of RUNS. */
function script_run_ms(): { ms: number; commands: number; steps: number } {
  const text = random_script(new Rng(42), { commands: 10_000 });
  const runs: number[] = [];
  let steps = 0;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    steps = run_model(parse_script(text)).steps;
    runs.push(performance.now() - t0);
  }
  return { ms: median(runs), commands: 10_000, steps };
}

/* fault-vs-mprotect natively on 2 CPUs under each policy: where the faults went, and their p99 against alone. */
async function fault_vs_mprotect_native(): Promise<Record<string, BenchResult>> {
  const workload = find_workload('fault-vs-mprotect');
  const results = await run_native_points(
    POLICIES.map((policy) => ({ workload, policy, executor: 'native', cpus: 2 })),
  );
  return Object.fromEntries(results.map((r) => [r.policy, r]));
}

interface Deviation {
  readonly workload: string;
  readonly policy: string;
  readonly cpus: number;
  readonly native_ops_per_s: number;
  /** The model's figure, at the speed the profile was calibrated at. */
  readonly timing_ops_per_s: number;
  /** How fast the host ran the native point, over the profile's calibration (host_speed_ratio()). */
  readonly host_speed: number;
  /** The model's figure at that speed: what native is compared with. */
  readonly predicted_ops_per_s: number;
  /**
   * The same point natively again, in a second sweep on fresh workers
   * minutes later: how far this machine repeats its own figures, the
   * closest any model of it can be checked to.
   */
  readonly native_again_ops_per_s: number;
}

/*
 * Every workload and policy natively and under the `js` profile, at 1 and
 * 2 CPUs: the report's two sweeps, then the native one again on fresh
 * workers, its progress on stderr.
 */
async function timing_against_native(progress: Progress): Promise<Deviation[]> {
  const cpus = [1, 2];
  const native = await sweep(progress, 'native runs on this machine', 'native', cpus);
  const timing = await sweep(progress, 'timing model, js profile', 'timing', cpus, PROFILES.js);
  const again = await sweep(progress, 'native runs again, fresh workers', 'native', cpus);
  const key = (r: BenchResult) => `${r.workload} ${r.policy} ${r.cpus}`;
  const model = new Map(timing.map((r) => [key(r), r.ops_per_s]));
  const repeated = new Map(again.map((r) => [key(r), r.ops_per_s]));
  return native.map((r) => {
    const timing_ops_per_s = model.get(key(r))!;
    const host_speed = host_speed_ratio(r, PROFILES.js);
    return {
      workload: r.workload,
      policy: r.policy,
      cpus: r.cpus,
      native_ops_per_s: r.ops_per_s,
      timing_ops_per_s,
      host_speed,
      predicted_ops_per_s: timing_ops_per_s * host_speed,
      native_again_ops_per_s: repeated.get(key(r))!,
    };
  });
}

/* The timing executor's own speed: simulated steps per second of real time, pft on 256 CPUs. */
function timing_steps_per_s(): number {
  const w = find_workload('pft');
  const cfg = make_config(w.scenario, { cpus: 256, params: w.params('timing', 256) });
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const r = run_timing(w.scenario, cfg, { profile: PROFILES.hw });
    if (r.bug) throw new Error(`pft: ${r.bug.message}`);
    runs.push(r.steps.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000));
  }
  return median(runs);
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const iters = 2_000_000;
  const spin = await native_pair_ns(PAIR_SPIN, iters);
  const read = await native_pair_ns(PAIR_READ, iters);
  const write = await native_pair_ns(PAIR_WRITE, iters);
  // The workloads natively before the explorer's figures, on a quiet
  // process: those leave this thread tens of MiB of heap, which V8 collects
  // on helper threads that would compete with the native CPUs for the cores.
  const fvm = await fault_vs_mprotect_native();
  const constants = await measure_constants();
  const progress = new Progress();
  const calibration = process.argv.includes('--calibrate') ? await calibrate(progress) : null;
  const deviations = await timing_against_native(progress);
  const over = generator_overhead(iters);
  const ex = explorer_rate();
  const munmap = fault_vs_munmap_rate();
  const jobs2_speedup = await jobs_speedup(SHORT_SEARCH, 3);
  const jobs2_speedup_long = await jobs_speedup(LONG_SEARCH, 3);
  const heap_mb = heap_over_schedules(1_000_000);
  const script = script_run_ms();
  const sim_steps_per_s = timing_steps_per_s();
  const results = {
    native_spin_lock_unlock_ns: spin,
    native_down_read_up_read_ns: read,
    native_down_write_up_write_ns: write,
    main_thread_down_read_up_read_generator_ns: over.generator_ns,
    main_thread_down_read_up_read_plain_js_ns: over.plain_ns,
    generator_overhead_ratio: over.generator_ns / over.plain_ns,
    explorer_steps_per_s: ex.steps_per_s,
    explorer_schedules_per_s: ex.schedules_per_s,
    fault_vs_munmap_schedules_per_s: munmap.schedules_per_s,
    fault_vs_munmap_schedules_per_mprobe: munmap.per_mprobe,
    fault_vs_munmap_jobs2_over_jobs1: jobs2_speedup,
    fault_vs_munmap_jobs2_over_jobs1_long: jobs2_speedup_long,
    heap_mb_per_100k_schedules: heap_mb,
    run_10000_commands_ms: script.ms,
    run_10000_commands_steps: script.steps,
    fault_vs_mprotect_native_2cpus: Object.fromEntries(
      Object.entries(fvm).map(([p, r]) => [
        p,
        {
          off_mmap_lock: off_mmap_lock_share(r.counters),
          p99_ns: r.p99_ns,
          p99_alone_ns: r.p99_alone_ns,
        },
      ]),
    ),
    js_constants_measured_now: constants,
    ...(calibration ? { js_calibration: calibration } : {}),
    timing_js_against_native: deviations,
    timing_steps_per_s: sim_steps_per_s,
  };
  if (json) {
    console.log(JSON.stringify(results));
    return;
  }
  const ns = (x: number) => `${x.toFixed(0).padStart(6)} ns`;
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(
    `mmlab bench: the foundation (median of ${RUNS} runs, ${iters.toLocaleString('en')} pairs each)`,
  );
  console.log('native, one worker thread, uncontended');
  console.log(`  spin_lock + spin_unlock     ${ns(spin)}`);
  console.log(
    `  down_read + up_read         ${ns(read)}   target <= 400 ns: ${verdict(read <= 400)}`,
  );
  console.log(`  down_write + up_write       ${ns(write)}`);
  console.log(
    'the generator protocol against plain JavaScript (rwsem read fast path, main thread)',
  );
  console.log(`  generators                  ${ns(over.generator_ns)}`);
  console.log(`  plain JavaScript            ${ns(over.plain_ns)}`);
  console.log(
    `  overhead                    ${results.generator_overhead_ratio.toFixed(1).padStart(6)} x`,
  );
  console.log(
    `explorer, lock-selftest on 2 CPUs + rcu_gp_kthread, random walk (median of ${RUNS} one-second runs)`,
  );
  console.log(
    `  steps per second        ${Math.round(ex.steps_per_s).toLocaleString('en').padStart(10)}   target >= 3,000,000: ${verdict(ex.steps_per_s >= 3e6)}`,
  );
  console.log(
    `  schedules per second    ${Math.round(ex.schedules_per_s).toLocaleString('en').padStart(10)}`,
  );
  console.log(
    `explorer, fault-vs-munmap (vma-refcnt) on 2 CPUs + rcu_gp_kthread, random walk (median of ${RUNS} one-second runs)`,
  );
  console.log(
    `  schedules per second    ${Math.round(munmap.schedules_per_s).toLocaleString('en').padStart(10)}   target >= 20,000: ${verdict(munmap.schedules_per_s >= 20_000)}`,
  );
  console.log(
    `  per million probe steps ${Math.round(munmap.per_mprobe).toLocaleString('en').padStart(10)}   (schedules over the host-speed probe around each run)`,
  );
  for (const [schedules, ratio] of [
    [SHORT_SEARCH, jobs2_speedup],
    [LONG_SEARCH, jobs2_speedup_long],
  ] as const) {
    console.log(
      `  --jobs 2 over one job   ${ratio.toFixed(2).padStart(10)} x   target >= 1.8: ${verdict(ratio >= 1.8)}  (${schedules.toLocaleString('en')} schedules, wall time, workers' start-up and JIT warm-up in it)`,
    );
  }
  const growth_mb = heap_mb[heap_mb.length - 1]! - heap_mb[0]!;
  console.log(
    'explorer heap over 1,000,000 schedules (spinlock self-test), MiB after each 100,000',
  );
  console.log(
    `  ${heap_mb.map((m) => m.toFixed(1)).join(' ')}   growth ${growth_mb.toFixed(1)} MiB: ${verdict(growth_mb < 16)} (flat: < 16 MiB)`,
  );
  console.log('mmlab run: a 10,000-command random script on the model (parse + run)');
  console.log(
    `  time                    ${script.ms.toFixed(0).padStart(7)} ms   target <= 2,000 ms: ${verdict(script.ms <= 2000)}  (${script.steps.toLocaleString('en')} steps)`,
  );
  console.log(
    'fault-vs-mprotect natively, 2 CPUs (32 MiB populated VMA mprotected in a loop): faults off the whole mmap_lock, and their p99 against the same faults alone',
  );
  for (const [policy, r] of Object.entries(fvm)) {
    const share = off_mmap_lock_share(r.counters);
    const ratio = r.p99_ns / r.p99_alone_ns!;
    // Targets for mmap-lock and the per-VMA policies; range is shown as measured.
    const met = alone_target_met(policy, ratio);
    const target =
      policy === POLICY_MMAP_LOCK ? `>= ${MMAP_LOCK_MIN_RATIO}` : `<= ${PER_VMA_MAX_RATIO}`;
    console.log(
      `  ${policy.padEnd(12)}${(share * 100).toFixed(2).padStart(7)} % off   p99 ${format_ns(r.p99_ns).padStart(8)}  alone ${format_ns(r.p99_alone_ns!).padStart(8)}  ${ratio.toFixed(2).padStart(6)} x${met === null ? '' : `   target ${target}: ${verdict(met)}`}`,
    );
  }
  console.log('the js profile: its constants against the same microbenchmarks now');
  for (const [name, now] of Object.entries(constants)) {
    const kept = PROFILES.js[name as keyof typeof constants];
    console.log(
      `  ${name.padEnd(18)} profile ${kept.toFixed(2).padStart(9)} ns   now ${now.toFixed(2).padStart(9)} ns`,
    );
  }
  if (calibration) {
    const constants_of = (fitted: Readonly<Record<string, number>>) =>
      Object.entries(fitted)
        .map(([c, v]) => `${c} ${v.toFixed(1)}`)
        .join(', ');
    const weights = Object.entries(calibration.step_weights).sort(([, a], [, b]) => b - a);
    console.log(
      `a new fit (--calibrate). Step weights of ${weights.length} kernel functions, sampled natively (src/runtime/executors/timing_weights.ts):`,
    );
    for (const [fn, w] of weights) console.log(`  ${fn}: ${w.toFixed(3)},`);
    console.log(
      `step_ns not below a bare generator step, ${calibration.step_floor_ns.toFixed(1)} ns; each round's error (Σ (model / native - 1)²):`,
    );
    for (const r of calibration.rounds)
      console.log(
        `  ${r.error === null ? 'livelock' : r.error.toFixed(3).padStart(8)}  ${constants_of(r.fitted)}`,
      );
    console.log(
      `host speed (src/runtime/executors/timing_costs.ts, JS host_speed): ${calibration.host_speed.toFixed(3)} probe steps/µs`,
    );
    console.log(
      `kept: ${constants_of(calibration.fitted)}; the model's ns per operation over native's (the sweeps' median, at that speed):`,
    );
    for (const p of calibration.points)
      console.log(
        `  ${p.workload.padEnd(18)} ${p.policy.padEnd(11)} ${p.cpus} CPU  ${(p.model_ns_per_op / p.native_ns_per_op).toFixed(2)}`,
      );
  }
  console.log(
    'the timing model (js profile) against native: throughput at 1 and 2 CPUs, the model at the host speed native ran at; native again, minutes later on fresh workers',
  );
  // The js profile is frozen: its figures are set beside native's, judged by no limit.
  const pct = (x: number) => `${(x * 100).toFixed(0).padStart(4)} %`;
  const model_devs: number[] = [];
  const again_devs: number[] = [];
  for (const d of deviations) {
    const dev = deviation(d.predicted_ops_per_s, d.native_ops_per_s);
    const again = deviation(d.native_again_ops_per_s, d.native_ops_per_s);
    model_devs.push(Math.abs(dev));
    again_devs.push(Math.abs(again));
    console.log(
      `  ${d.workload.padEnd(18)} ${d.policy.padEnd(11)} ${d.cpus} CPU  native ${Math.round(d.native_ops_per_s).toLocaleString('en').padStart(9)}  host ×${d.host_speed.toFixed(2)}  timing ${Math.round(d.predicted_ops_per_s).toLocaleString('en').padStart(9)} ${pct(dev)}  again ${Math.round(d.native_again_ops_per_s).toLocaleString('en').padStart(9)} ${pct(again)}`,
    );
  }
  console.log(
    `  timing from native: median ${pct(median(model_devs))}; native again from native: median ${pct(median(again_devs))} (how far this machine repeats itself; the js profile is frozen, no target)`,
  );
  console.log(
    `timing executor, pft on 256 simulated CPUs (hw profile): ${Math.round(sim_steps_per_s).toLocaleString('en')} steps per second`,
  );
}

await main();
