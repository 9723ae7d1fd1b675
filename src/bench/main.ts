/*
 * `npm run bench`: the foundation's figures on this machine.
 *  - native cost of uncontended lock/unlock pairs (spinlock, rwsem read,
 *    rwsem write), run by a worker thread exactly as in a stress run;
 *  - the same rwsem read fast path written as plain JavaScript on the same
 *    memory: what the generator protocol costs;
 *  - explorer steps per second on lock-selftest, schedules per second on
 *    fault-vs-munmap, and the heap over a million schedules.
 * Each figure is the median of several runs; machines here are shared.
 */
import { Explorer } from '../check/explorer.js';
import { Rng } from '../check/random.js';
import { scenario as fault_vs_mprotect } from '../check/scenarios/fault_vs_mprotect.js';
import { scenario as fault_vs_munmap } from '../check/scenarios/fault_vs_munmap.js';
import { scenario as lock_selftest } from '../check/scenarios/lock_selftest.js';
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
import { run_native } from '../runtime/executors/native.js';
import { ctrl_words } from '../runtime/executors/native_ctrl.js';
import { NativeCpu } from '../runtime/executors/native_worker.js';
import { instantiate, make_config } from '../runtime/scenario.js';
import { parse_script } from '../script/parse.js';
import { run_model } from '../script/run_model.js';
import {
  LOCKS,
  lock_pairs,
  scenario as lock_pairs_scenario,
  PAIR_READ,
  PAIR_SPIN,
  PAIR_WRITE,
} from './lock_pairs.js';

const RUNS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

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

/* Random schedules per second of fault-vs-munmap (vma-refcnt, 2 CPUs): the yardstick. */
function fault_vs_munmap_rate(): number {
  const ex = new Explorer(fault_vs_munmap, make_config(fault_vs_munmap, { policy: 'vma-refcnt' }));
  ex.check(new RandomWalk(99, 500));
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = ex.check(new RandomWalk(1 + i, Number.MAX_SAFE_INTEGER), { time_ms: 1000 });
    if (r.bug) throw new Error(`fault-vs-munmap: ${r.bug.message}`);
    runs.push((r.schedules / r.elapsed_ms) * 1000);
  }
  return median(runs);
}

/*
 * The heap after each tenth of a million schedules of the spinlock
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

/* fault-vs-mprotect natively: the share of CPU 1's faults handled under the VMA lock, per policy. */
async function vma_lock_share(policy: string): Promise<{ share: number; ms: number }> {
  const r = await run_native(fault_vs_mprotect, make_config(fault_vs_mprotect, { policy }));
  if (r.bug) throw new Error(`fault-vs-mprotect: ${r.bug.message}`);
  // Faults that did not need the whole mmap_lock: under a VMA lock, or a page's range.
  const ok = (r.report.vma_lock_success ?? 0) + (r.report.range_lock_fault ?? 0);
  const total = ok + (r.report.mmap_lock_fault ?? 0);
  return { share: total === 0 ? 0 : ok / total, ms: r.elapsed_ms };
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const iters = 2_000_000;
  const spin = await native_pair_ns(PAIR_SPIN, iters);
  const read = await native_pair_ns(PAIR_READ, iters);
  const write = await native_pair_ns(PAIR_WRITE, iters);
  const over = generator_overhead(iters);
  const ex = explorer_rate();
  const munmap_schedules_per_s = fault_vs_munmap_rate();
  const heap_mb = heap_over_schedules(1_000_000);
  const script = script_run_ms();
  const shares: Record<string, { share: number; ms: number }> = {};
  for (const policy of POLICIES) shares[policy] = await vma_lock_share(policy);
  const results = {
    native_spin_lock_unlock_ns: spin,
    native_down_read_up_read_ns: read,
    native_down_write_up_write_ns: write,
    main_thread_down_read_up_read_generator_ns: over.generator_ns,
    main_thread_down_read_up_read_plain_js_ns: over.plain_ns,
    generator_overhead_ratio: over.generator_ns / over.plain_ns,
    explorer_steps_per_s: ex.steps_per_s,
    explorer_schedules_per_s: ex.schedules_per_s,
    fault_vs_munmap_schedules_per_s: munmap_schedules_per_s,
    heap_mb_per_100k_schedules: heap_mb,
    run_10000_commands_ms: script.ms,
    run_10000_commands_steps: script.steps,
    fault_vs_mprotect_vma_lock_share: Object.fromEntries(
      Object.entries(shares).map(([p, v]) => [p, v.share]),
    ),
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
    `  schedules per second    ${Math.round(munmap_schedules_per_s).toLocaleString('en').padStart(10)}   target >= 20,000: ${verdict(munmap_schedules_per_s >= 20_000)}`,
  );
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
    'fault-vs-mprotect natively, 2 CPUs (128 MiB populated VMA mprotected in a loop): faults off the whole mmap_lock',
  );
  for (const [policy, v] of Object.entries(shares)) {
    const met = policy === POLICY_MMAP_LOCK ? v.share === 0 : v.share >= 0.95;
    const target = policy === POLICY_MMAP_LOCK ? '0 %' : '>= 95 %';
    console.log(
      `  ${policy.padEnd(22)}${(v.share * 100).toFixed(2).padStart(7)} %   ${(v.ms / 1000).toFixed(1)} s   target ${target}: ${verdict(met)}`,
    );
  }
}

await main();
