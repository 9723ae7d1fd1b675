/*
 * The native executor: one worker thread per task (the scenario's CPUs and
 * its kthreads) over one SharedArrayBuffer, truly in parallel. The main
 * thread boots the kernel memory and sets up the scenario exactly as the
 * explorer does, starts the workers, stops the kthreads once every CPU is
 * done, and runs the scenario's check.
 *
 * A failure in any worker (a KernelBug or any exception) is reported with
 * its CPU and stack and stops every worker. A watchdog (Progress) reports
 * "no progress", with what each CPU was doing, where no task takes a
 * step, and a livelock, with the CPU and the kernel function it spins in,
 * where a task takes steps and changes no kernel memory, instead of hanging.
 *
 * Measured runs want node's --single-threaded-gc, which the mmlab command
 * and `npm start`/`npm run bench` pass (V8 takes it only at start-up):
 * each isolate then collects its garbage on its own thread, so a CPU's
 * worker pays for its own garbage, as a kernel CPU does for its own work.
 * With V8's helper threads, on a machine with no core to spare, they
 * preempt the CPUs' workers in the middle of timed operations:
 * fault-vs-mprotect's p99 over p99 alone under the per-VMA locks, three
 * runs each on this 2-core machine, was 0.92-2.26 with them and 0.58-1.15
 * without.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Kernel } from '../boot.js';
import { describe_addr } from '../heap.js';
import type { KernelMemory } from '../memory.js';
import type { OpSample } from '../op_meter.js';
import { KernelBug, OP_NAMES } from '../ops.js';
import {
  type Instance,
  instantiate,
  memory_words,
  type RunConfig,
  type Scenario,
  task_name,
} from '../scenario.js';
import { sibling_url, worker_source } from '../worker_source.js';
import { CTRL, CTRL_ABORT, ctrl_base, ctrl_words, TASK_BLOCKED, TASK_DONE } from './native_ctrl.js';
import {
  type FrameSamples,
  merge_frames,
  NativeCpu,
  type PoolRun,
  SPIN_LIMIT_DEDICATED,
  SPIN_LIMIT_SHARED,
  type WorkerInit,
} from './native_worker.js';

export interface NativeBug {
  readonly class: string;
  readonly message: string;
  /** 'cpu0', 'rcu_gp_kthread', or '' for the scenario's final check and the watchdog. */
  readonly task: string;
  readonly stack: string;
}

export interface NativeResult {
  readonly bug: NativeBug | null;
  readonly elapsed_ms: number;
  /** Steps (accesses) each task performed. */
  readonly steps: readonly number[];
  /** Milliseconds each task ran its code, start to end, inside its worker. */
  readonly cpu_ms: readonly number[];
  /** The scenario's report (counters), when it has one. */
  readonly report: Readonly<Record<string, number>>;
  /** With `measure`: each task's operations (k.op_begin()/op_end()); empty otherwise. */
  readonly ops: readonly OpSample[];
  /** With `frame_samples`: every task's, by kernel function; empty otherwise. */
  readonly frames: FrameSamples;
}

export interface NativeOptions {
  /**
   * Report "no progress" when no task took a step for this long, and a
   * livelock when a task took steps and changed no kernel memory for this
   * long; counted from when every task has started. Default 10 s.
   */
  readonly watchdog_ms?: number;
  /** Ask the CPUs to stop after this long (the scenario's stop word). */
  readonly seconds?: number;
  /** Time the workload's operations (OpMeter) in every worker. */
  readonly measure?: boolean;
  /**
   * With `measure`: what each worker runs before it records operations, its
   * JIT's warm-up (the first faults run interpreted, then get compiled).
   */
  readonly warmup_ms?: number;
  /** Run the tasks on this pool's warm workers instead of fresh ones. */
  readonly pool?: NativePool;
  /** Sample steps' costs by kernel function in every worker (calibration's step weights). */
  readonly frame_samples?: boolean;
}

/**
 * Workers kept from run to run, one per task name ('cpu1',
 * 'rcu_gp_kthread'). A fresh worker is a fresh isolate: V8 interprets the
 * kernel's code, then its compiler threads spend about a core-second
 * compiling it, taking that time from the CPUs on a machine with no spare
 * core. A pooled worker pays that once and starts each later run compiled,
 * as a kernel's CPUs run compiled code. Keyed by name, not task index,
 * because a kthread's index moves with the CPU count: at 2 CPUs, task 1 is
 * cpu1, and a worker that had run the kthread as task 1 on one CPU would
 * compile the whole fault path cold, on the cores the run measures.
 * Idle workers do not keep the process alive; a failed run's workers are
 * terminated, since they may be anywhere in their task.
 */
export class NativePool {
  private readonly workers = new Map<string, Worker>();
  /* Runs each worker has been given; a replaced worker starts again from 0. */
  private readonly runs = new Map<Worker, number>();
  /* Kernel memory by size in bytes, for the next run of that size. */
  private readonly sabs = new Map<number, SharedArrayBuffer>();
  private readonly code = worker_source(
    [sibling_url(import.meta.url, 'native_worker')],
    'pool_main',
    () => 'imp',
  );

  /**
   * Whether every task of a run of `scenario` under `cfg` has a worker
   * that has been given at least `runs` runs.
   */
  warmed(scenario: Scenario, cfg: RunConfig, runs: number): boolean {
    for (let t = 0; t < cfg.cpus + scenario.kthreads.length; t++) {
      const w = this.workers.get(task_name(scenario, cfg, t));
      if (!w || (this.runs.get(w) ?? 0) < runs) return false;
    }
    return true;
  }

  /** The worker of the task named `name`, given one more run. */
  take(name: string): Worker {
    const w = this.worker(name);
    this.runs.set(w, (this.runs.get(w) ?? 0) + 1);
    return w;
  }

  /** The worker of the task named `name`, started on first use. */
  worker(name: string): Worker {
    const had = this.workers.get(name);
    if (had) return had;
    const w = new Worker(this.code, { eval: true });
    w.unref();
    w.once('exit', () => {
      if (this.workers.get(name) === w) this.workers.delete(name);
      this.runs.delete(w);
    });
    this.workers.set(name, w);
    return w;
  }

  /**
   * A buffer of `bytes` for a run's kernel memory: an earlier run's of that
   * size, so that its pages are resident already (zeroing them costs a
   * fraction of what faulting fresh ones in costs the host), else a new
   * one (line_aligned_buffer()). One is kept for each size, since a
   * pool's points of 1 and 2 CPUs take turns (bench.ts, the rounds):
   * faulting in fault-vs-mprotect's 339 MiB afresh at each turn took a
   * run from 0.5 s to 2 s.
   */
  buffer(bytes: number): SharedArrayBuffer {
    const size = wasm_pages(bytes) * WASM_PAGE_BYTES;
    let sab = this.sabs.get(size);
    if (!sab) {
      sab = line_aligned_buffer(bytes);
      this.sabs.set(size, sab);
    }
    return sab;
  }

  /** Terminate the worker of the task named `name`; the next run starts a fresh one. */
  async discard(name: string): Promise<void> {
    const w = this.workers.get(name);
    this.workers.delete(name);
    await w?.terminate();
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.keys()].map((name) => this.discard(name)));
  }
}

type WorkerMessage =
  | { type: 'go' }
  | { type: 'done'; cpu_ms: number; ops: OpSample | null; frames: FrameSamples | null }
  | { type: 'bug'; bug_class: string; message: string; stack: string }
  /* The task the watchdog asked (CTRL.spinning) spins in kernel function `frame`. */
  | { type: 'spinning'; frame: string };

/*
 * The watchdog's view of a run, sampled at each tick from the tasks'
 * control lines (published every 1024 steps). A task that took no step
 * since the last tick is blocked, done or descheduled; one that took steps
 * and changed no kernel memory spins. Progress is a change to kernel
 * memory, not a step, since a task spinning on a load takes steps without
 * end: once one has spun for the whole window it is asked to name the
 * function it spins in (CTRL.spinning), and the request is withdrawn if
 * it changes memory or stops stepping before it answers.
 */
class Progress {
  private readonly steps: number[];
  private readonly changes: number[];
  /* Since when each task has spun (the last tick it did not), and its steps then. */
  private readonly spin_since_ms: number[];
  private readonly spin_from: number[];
  private last_step_ms: number;

  constructor(
    private readonly ctrl: Int32Array,
    nr_tasks: number,
    now_ms: number,
  ) {
    this.steps = new Array<number>(nr_tasks).fill(0);
    this.changes = new Array<number>(nr_tasks).fill(0);
    this.spin_since_ms = new Array<number>(nr_tasks).fill(now_ms);
    this.spin_from = new Array<number>(nr_tasks).fill(0);
    this.last_step_ms = now_ms;
  }

  /**
   * Sample every task at `now_ms`, asking each that has spun for
   * `window_ms` to name its function; true when none took a step for that long.
   */
  tick(now_ms: number, window_ms: number): boolean {
    for (let t = 0; t < this.steps.length; t++) {
      const b = ctrl_base(t);
      const steps = Atomics.load(this.ctrl, b + CTRL.steps);
      const changes = Atomics.load(this.ctrl, b + CTRL.changes);
      const stepped = steps !== this.steps[t];
      if (stepped) this.last_step_ms = now_ms;
      if (!stepped || changes !== this.changes[t]) {
        this.spin_since_ms[t] = now_ms;
        this.spin_from[t] = steps;
      }
      const spun = now_ms - this.spin_since_ms[t]! >= window_ms ? 1 : 0;
      if (Atomics.load(this.ctrl, b + CTRL.spinning) !== spun)
        Atomics.store(this.ctrl, b + CTRL.spinning, spun);
      this.steps[t] = steps;
      this.changes[t] = changes;
    }
    return now_ms - this.last_step_ms >= window_ms;
  }

  /** How long task `t` has spun by `now_ms`, and the steps it took meanwhile. */
  spin(t: number, now_ms: number): { ms: number; steps: number } {
    const steps = Atomics.load(this.ctrl, ctrl_base(t) + CTRL.steps);
    return { ms: now_ms - this.spin_since_ms[t]!, steps: steps - this.spin_from[t]! };
  }
}

/* Shared WebAssembly memory comes in whole pages of 64 KiB, at most 65536 of them. */
const WASM_PAGE_BYTES = 65536;
const WASM_MAX_PAGES = 65536;
const wasm_pages = (bytes: number): number => Math.ceil(bytes / WASM_PAGE_BYTES);

/**
 * Whether `scenario` with `cfg` fits the one shared memory a native run
 * has: an Error naming the CPUs and the size if not, before any work.
 */
export function check_native_memory(scenario: Scenario, cfg: RunConfig): void {
  const bytes = memory_words(scenario, cfg) * 4;
  if (wasm_pages(bytes) > WASM_MAX_PAGES)
    throw new Error(
      `--cpus ${cfg.cpus}: ${scenario.name} needs ${(bytes / 2 ** 30).toFixed(1)} GiB of kernel memory natively, more than the 4 GiB of a shared WebAssembly memory`,
    );
}

/**
 * At least `bytes` of kernel memory for a native run, starting on a page
 * boundary, so that the 64-byte lines the timing executor's cache model
 * tracks are this machine's cache lines. A SharedArrayBuffer as large as
 * kernel memory is an mmap'd malloc chunk whose data starts 16 bytes into
 * its page (glibc's chunk header): each modelled line would straddle two
 * hardware lines, its last 4 words sharing one with the next line's first
 * 12. Two workers each adding to words 28 and 32, two lines to the model,
 * took 28-43 ns an add, as on one line, against 18 ns on lines apart. A
 * shared WebAssembly.Memory is page-aligned.
 */
function line_aligned_buffer(bytes: number): SharedArrayBuffer {
  const pages = wasm_pages(bytes);
  if (pages > WASM_MAX_PAGES)
    throw new Error(`kernel memory: ${bytes} bytes is more than a 4 GiB WebAssembly memory`);
  const buffer: unknown = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true })
    .buffer;
  if (!(buffer instanceof SharedArrayBuffer))
    throw new Error('kernel memory: a shared WebAssembly memory gave no SharedArrayBuffer');
  return buffer;
}

/* A run's tasks on workers of their own, started with their WorkerInit and ended after. */
function own_worker(scenario: Scenario): (init: WorkerInit) => Worker {
  const code = worker_source(
    [sibling_url(import.meta.url, 'native_worker'), scenario.module],
    'worker_main',
    ([s]) => `${s}.scenario`,
  );
  return (init) => new Worker(code, { eval: true, workerData: init });
}

/* A run's tasks on `pool`'s workers, each on its name's, told the run by a message. */
function pooled_worker(pool: NativePool, scenario: Scenario): (init: WorkerInit) => Worker {
  return (init) => {
    const w = pool.take(task_name(scenario, init.cfg, init.task));
    const run: PoolRun = { module: scenario.module, init };
    w.postMessage(run);
    return w;
  };
}

export async function run_native(
  kernel: Kernel,
  scenario: Scenario,
  cfg: RunConfig,
  opts: NativeOptions = {},
): Promise<NativeResult> {
  const pool = opts.pool;
  const bytes = memory_words(scenario, cfg) * 4;
  // The buffer is zeroed word by word, which faults every page of it in
  // before any CPU starts: the CPUs pay the model's costs, not the host's
  // page faults (40 to 250 ns a line measured here, more when two CPUs
  // fault at once, as they share the host's mm).
  const { nr_tasks, m, sys, globals } = instantiate(
    kernel,
    scenario,
    cfg,
    pool ? pool.buffer(bytes) : line_aligned_buffer(bytes),
  );
  const ctrl_sab = new SharedArrayBuffer(ctrl_words(nr_tasks) * 4);
  const ctrl = new Int32Array(ctrl_sab);
  // cpu0 as this thread runs it: the prologue before the workers start, the epilogue after the CPUs.
  const cpu0 = new NativeCpu(m, sys, 0, cfg.policy, cfg.variant, ctrl);
  if (scenario.prologue) {
    cpu0.drive(scenario.prologue(cpu0.k, globals, cfg));
    Atomics.store(ctrl, ctrl_base(0) + CTRL.steps, 0);
  }
  const start_worker = pool ? pooled_worker(pool, scenario) : own_worker(scenario);
  const watchdog_ms = opts.watchdog_ms ?? 10_000;

  const t0 = performance.now();
  const workers: Worker[] = [];
  const cpu_ms = new Array<number>(nr_tasks).fill(0);
  const ops: OpSample[] = [];
  const frames: FrameSamples = {};
  const time_origin_ms = opts.measure ? performance.timeOrigin + performance.now() : undefined;
  const name = (t: number) => task_name(scenario, cfg, t);
  // What each run's listeners are, to take them off a pooled worker after.
  const unlisten: (() => void)[] = [];

  const bug = await new Promise<NativeBug | null>((resolve) => {
    let cpus_done = 0;
    let done = 0;
    let settled = false;
    const stop_word = scenario.stop_word?.(globals);
    let stopper: ReturnType<typeof setTimeout> | undefined;
    let watchdog: ReturnType<typeof setInterval> | undefined;
    let progress: Progress | undefined;
    // What every task but `but` is doing, for a report.
    const doing = (but = -1) =>
      Array.from({ length: nr_tasks }, (_, u) => u)
        .filter((u) => u !== but)
        .map((u) => `${name(u)}: ${task_state(ctrl, m, u)}`)
        .join('; ');
    // Once every worker has passed the start barrier: the watchdog's window and a run of `seconds` count from then.
    const on_go = () => {
      if (settled) return;
      if (opts.seconds !== undefined && stop_word !== undefined)
        stopper = setTimeout(() => Atomics.store(m.words, stop_word, 1), opts.seconds * 1000);
      const p = new Progress(ctrl, nr_tasks, performance.now());
      progress = p;
      watchdog = setInterval(
        () =>
          p.tick(performance.now(), watchdog_ms) &&
          finish({
            class: 'no-progress',
            message: `no progress for ${watchdog_ms} ms: ${doing()}`,
            task: '',
            stack: '',
          }),
        Math.min(250, watchdog_ms),
      );
    };
    const finish = (b: NativeBug | null) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      clearTimeout(stopper);
      Atomics.store(ctrl, CTRL_ABORT, 1);
      resolve(b);
    };

    for (let t = 0; t < nr_tasks; t++) {
      const init: WorkerInit = {
        sab: m.sab,
        ctrl: ctrl_sab,
        sys,
        globals,
        cfg,
        task: t,
        nr_tasks,
        spin_limit: cfg.cpus <= availableParallelism() ? SPIN_LIMIT_DEDICATED : SPIN_LIMIT_SHARED,
        ...(time_origin_ms === undefined ? {} : { time_origin_ms, warmup_ms: opts.warmup_ms ?? 0 }),
        ...(opts.frame_samples ? { frame_samples: true } : {}),
      };
      const worker = start_worker(init);
      workers.push(worker);
      const on_message = (msg: WorkerMessage) => {
        if (msg.type === 'go') {
          on_go();
          return;
        }
        if (msg.type === 'bug') {
          finish({
            class: msg.bug_class,
            message: `${msg.message} [${name(t)} at ${access(ctrl, m, t, ' ')}]`,
            task: name(t),
            stack: msg.stack,
          });
          return;
        }
        if (msg.type === 'spinning') {
          const spun = progress!.spin(t, performance.now());
          finish({
            class: 'livelock',
            message: `${name(t)} spins in ${msg.frame}, at ${access(ctrl, m, t, ' ')}: ${spun.steps} steps in ${spun.ms.toFixed(0)} ms changed no kernel memory${nr_tasks > 1 ? `; ${doing(t)}` : ''}`,
            task: name(t),
            stack: '',
          });
          return;
        }
        cpu_ms[t] = msg.cpu_ms;
        if (msg.ops) ops.push(msg.ops);
        if (msg.frames) merge_frames(frames, msg.frames);
        done++;
        if (t < cfg.cpus && ++cpus_done === cfg.cpus) {
          if (scenario.epilogue) {
            // On this thread, as task 0: the kthreads' workers are still up.
            // A request to name a spin, made before cpu0 ended, is not for the epilogue.
            Atomics.store(ctrl, ctrl_base(0) + CTRL.spinning, 0);
            try {
              cpu0.drive(scenario.epilogue(cpu0.k, globals, cfg));
            } catch (e) {
              const err = e as Error & { bug_class?: string };
              finish({
                class: err.bug_class ?? 'exception',
                message: `${err.message} [epilogue of ${name(0)}]`,
                task: name(0),
                stack: err.stack ?? '',
              });
              return;
            }
          }
          // kthread_stop() of every kthread.
          for (const kt of scenario.kthreads) {
            const { flag, kick } = kt.stop(sys);
            Atomics.store(m.words, flag, 1);
            Atomics.add(m.words, kick, 1);
            Atomics.notify(m.words, kick);
          }
        }
        if (done === nr_tasks) finish(null);
      };
      const on_error = (e: Error) =>
        finish({
          class: 'exception',
          message: `${name(t)}: ${e.message}`,
          task: name(t),
          stack: e.stack ?? '',
        });
      // A run's own worker ends with 0 after its task; a pooled one never should.
      const on_exit = (c: number) =>
        (c !== 0 || pool) &&
        finish({
          class: 'exception',
          message: `${name(t)}: worker exited with code ${c}`,
          task: name(t),
          stack: '',
        });
      worker.on('message', on_message);
      worker.on('error', on_error);
      worker.on('exit', on_exit);
      unlisten.push(() => {
        worker.off('message', on_message);
        worker.off('error', on_error);
        worker.off('exit', on_exit);
      });
    }
  });
  for (const off of unlisten) off();
  // A run stopped by a bug may have left its pooled workers anywhere in their tasks.
  if (!pool) await Promise.all(workers.map((w) => w.terminate()));
  else if (bug) await Promise.all(workers.map((_, t) => pool.discard(name(t))));
  const elapsed_ms = performance.now() - t0;
  const steps = Array.from({ length: nr_tasks }, (_, t) =>
    Atomics.load(ctrl, ctrl_base(t) + CTRL.steps),
  );
  const report = scenario.report?.(m, sys, globals, cfg) ?? {};
  const outcome = bug ?? check_outcome(scenario, cfg, { nr_tasks, m, sys, globals });
  return { bug: outcome, elapsed_ms, steps, cpu_ms, report, ops, frames };
}

/* The access task `t` made last or blocks in: `read_once broken.flag`, with `joiner` between. */
function access(ctrl: Int32Array, m: KernelMemory, t: number, joiner: string): string {
  const b = ctrl_base(t);
  const op = OP_NAMES[Atomics.load(ctrl, b + CTRL.op)];
  return `${op}${joiner}${describe_addr(m, Atomics.load(ctrl, b + CTRL.addr))}`;
}

/* What task `t` is doing, for the watchdog's reports. */
function task_state(ctrl: Int32Array, m: KernelMemory, t: number): string {
  const state = Atomics.load(ctrl, ctrl_base(t) + CTRL.state);
  if (state === TASK_DONE) return 'done';
  return state === TASK_BLOCKED ? `blocked in ${access(ctrl, m, t, ' on ')}` : 'running';
}

/* scenario.check() once every task ended: its KernelBug as the run's bug. */
function check_outcome(scenario: Scenario, cfg: RunConfig, run: Instance): NativeBug | null {
  try {
    scenario.check(run.m, run.sys, run.globals, cfg);
    return null;
  } catch (e) {
    if (!(e instanceof KernelBug)) throw e;
    return { class: e.bug_class, message: e.message, task: '', stack: e.stack ?? '' };
  }
}
