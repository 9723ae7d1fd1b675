/*
 * One native CPU: a worker thread that drives one task's generator and
 * performs its accesses on the shared kernel memory with Atomics (each op
 * as op_core.ts defines it for the single-threaded executors, atomic
 * across threads; the kernel faults are op_core's, reported alike). Blocking
 * waits are real (Atomics.wait), in slices, so that an abort from the main
 * thread is seen within one slice.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BootRecord } from '../boot.js';
import { frame_name, frames_named } from '../frames.js';
import { KMEM_CACHE, slab_alloc, slab_free } from '../heap.js';
import { KernelMemory } from '../memory.js';
import { OpRecorder, type OpSample } from '../op_meter.js';
import { fill_words, KernelContext, type KGen, KStack, memchr_inv_words, Op } from '../ops.js';
import { __rcu_read_lock, __rcu_read_unlock, RCU_DATA } from '../rcu_reader.js';
import { type RunConfig, type Scenario, task_code, task_name } from '../scenario.js';
import {
  CTRL,
  CTRL_ABORT,
  CTRL_GO,
  CTRL_READY,
  ctrl_base,
  TASK_BLOCKED,
  TASK_DONE,
  TASK_RUNNING,
} from './native_ctrl.js';
import { rcu_unlock_unbalanced, rmw_result, unknown_op } from './op_core.js';

export interface WorkerInit {
  readonly sab: SharedArrayBuffer;
  readonly ctrl: SharedArrayBuffer;
  readonly sys: BootRecord;
  readonly globals: unknown;
  readonly cfg: RunConfig;
  readonly task: number;
  /** Tasks of the run: the start barrier waits for them all. */
  readonly nr_tasks: number;
  /** Spins before a spinner sleeps: SPIN_LIMIT_DEDICATED where every CPU has a core. */
  readonly spin_limit: number;
  /**
   * When measuring: the main thread's performance.timeOrigin + now() at
   * start, in ms, so that every worker's operation times share one clock.
   */
  readonly time_origin_ms?: number;
  /** With time_origin_ms: operations that begin within this long of the task's start are not recorded. */
  readonly warmup_ms?: number;
  /** Sample the cost of steps by kernel function (FrameSampler). */
  readonly frame_samples?: boolean;
}

/** Sampled steps' costs in ns, by the kernel function whose frame made the access. */
export type FrameSamples = Record<string, number[]>;

/** Add `from`'s samples to `into`'s. */
export function merge_frames(into: FrameSamples, from: Readonly<FrameSamples>): void {
  for (const [fn, ns] of Object.entries(from)) into[fn] = (into[fn] ?? []).concat(ns);
}

/*
 * Accesses whose step a frame sample times: those the timing executor
 * charges step_ns and a line for, nothing more. A lock's RMW, a futex, a
 * page copy or an allocation has a cost of its own in the model.
 */
const PLAIN_ACCESS = new Set<number>([
  Op.LOAD,
  Op.STORE,
  Op.READ_ONCE,
  Op.WRITE_ONCE,
  Op.LOAD_ACQUIRE,
  Op.STORE_RELEASE,
]);

/*
 * What a step costs natively, by kernel function, for the `js` profile's
 * step_weights: one step in about every SAMPLE_GAP_MEAN, if its access is
 * plain, is timed from its perform() to the next access yielded (what the
 * timing executor charges it step_ns for) and charged to the frame that
 * made it. The gaps are pseudo-random, so that no loop of the kernel's
 * samples the same step of each round; a step's figure is less the cost
 * of a clock read, measured at the start. A step in which an operation
 * began or ended is left out (the timing executor charges the meter's
 * work as op_ns), and so is one that met a function for the first time
 * (naming its frame takes a stack trace).
 */
const SAMPLE_GAP_MEAN = 16;
class FrameSampler {
  private x = 0x2545f491;
  private readonly by_frame = new Map<number, number[]>();
  readonly clock_read_ns: number;

  constructor() {
    const reads: number[] = [];
    for (let i = 0; i < 2001; i++) {
      const t0 = performance.now();
      reads.push((performance.now() - t0) * 1e6);
    }
    this.clock_read_ns = reads.sort((a, b) => a - b)[reads.length >> 1]!;
  }

  /* Steps to the next sample: 1 to 2 * SAMPLE_GAP_MEAN - 1, uniformly (xorshift32). */
  gap(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x;
    return 1 + ((x >>> 0) % (2 * SAMPLE_GAP_MEAN - 1));
  }

  add(frame: number, ns: number): void {
    let of = this.by_frame.get(frame);
    if (!of) {
      of = [];
      this.by_frame.set(frame, of);
    }
    of.push(ns);
  }

  samples(): FrameSamples {
    const out: FrameSamples = {};
    for (const [frame, ns] of this.by_frame) out[frame_name(frame)] = ns;
    return out;
  }
}

/** Milliseconds a blocked worker sleeps before it looks at the abort flag again. */
const WAIT_SLICE_MS = 50;
/**
 * Spins on a word before a spinner starts sleeping in slices. With more
 * CPUs than the machine has cores a lock's holder may be descheduled, so
 * a spinner soon lets it run; with a core for every CPU it spins on, as
 * the kernel's spinlocks do: a spinner asleep when the lock is released
 * would sleep out its slice (a store wakes no one), which the kernel does
 * not pay and the timing model does not charge.
 */
export const SPIN_LIMIT_SHARED = 4096;
export const SPIN_LIMIT_DEDICATED = 1 << 18;
/**
 * How long an allocation that found memory full waits for a grace period
 * to end before it fails (-ENOMEM): half the watchdog's default window, so
 * that memory truly too small for a run is reported by the kernel code
 * that needed it, not as a run without progress.
 */
const RECLAIM_STALL_MS = 5000;
/** Milliseconds such an allocation sleeps between tries: a grace period's end wakes no one. */
const RECLAIM_POLL_MS = 1;

class Aborted extends Error {}

/** The watchdog judged this task spinning; it spins in kernel function `frame`. */
class Spinning extends Error {
  constructor(readonly frame: string) {
    super(`spinning in ${frame}`);
  }
}

/**
 * One CPU's native access loop: performs each yielded access on the
 * shared memory with Atomics. Used by the worker threads and, on the main
 * thread, by the benchmarks.
 */
export class NativeCpu {
  private readonly w: Int32Array;
  private readonly rdp: number;
  private readonly base: number;
  readonly k: KernelContext;
  /** Set to sample steps' costs by kernel function (frame samples). */
  sampler: FrameSampler | null = null;
  /*
   * Accesses that changed kernel memory: what the watchdog counts as
   * progress, since a task that spins (on loads, failed cmpxchg()s, stores
   * of the value already there) takes steps without end and changes none.
   */
  private changes = 0;
  /* While naming the frame it spins in for the watchdog: k.framing as it was before; null otherwise. */
  private framing_before: boolean | null = null;

  constructor(
    private readonly m: KernelMemory,
    private readonly sys: BootRecord,
    readonly task: number,
    policy: string,
    variant: string,
    private readonly ctrl: Int32Array,
    private readonly spin_limit = SPIN_LIMIT_SHARED,
    /** The task's name in reports (task_name()). */
    readonly name = `cpu${task}`,
  ) {
    this.w = m.words;
    this.rdp = sys.rcu_data[task]!;
    this.base = ctrl_base(task);
    this.k = new KernelContext(sys, task, policy, variant, false);
  }

  private blocked(op: number, addr: number): void {
    Atomics.store(this.ctrl, this.base + CTRL.op, op);
    Atomics.store(this.ctrl, this.base + CTRL.addr, addr);
    Atomics.store(this.ctrl, this.base + CTRL.state, TASK_BLOCKED);
  }

  private check_abort(): void {
    if (Atomics.load(this.ctrl, CTRL_ABORT) !== 0) throw new Aborted();
  }

  /* Count an access that found `old` and left `now`, if it changed the word; returns `old`. */
  private changed(old: number, now: number): number {
    if (old !== now) this.changes++;
    return old;
  }

  /* Publish the steps since the last checkpoint and the changes so far. */
  private publish(steps: number): void {
    Atomics.add(this.ctrl, this.base + CTRL.steps, steps);
    Atomics.store(this.ctrl, this.base + CTRL.changes, this.changes);
  }

  /*
   * Every 1024 steps: publish them, stop if the run was aborted, and
   * answer the watchdog. Asked to name the function it spins in, the task
   * turns framing on (its next access names its KStack's top frame) and
   * throws Spinning at the next checkpoint if still asked then; a request
   * withdrawn meanwhile (it progressed or blocked) turns framing back off.
   */
  private checkpoint(): void {
    this.publish(1024);
    this.check_abort();
    const asked = Atomics.load(this.ctrl, this.base + CTRL.spinning) !== 0;
    const naming = this.framing_before !== null;
    if (asked && naming) throw new Spinning(frame_name(this.k.frame));
    if (asked) {
      this.framing_before = this.k.framing;
      this.k.framing = true;
    } else if (naming) {
      this.k.framing = this.framing_before!;
      this.framing_before = null;
    }
  }

  perform(): number {
    const { k, w } = this;
    const addr = k.addr;
    switch (k.op) {
      case Op.LOAD:
        return w[addr]!;
      case Op.STORE:
        this.changed(w[addr]!, k.a | 0);
        w[addr] = k.a;
        return 0;
      case Op.READ_ONCE:
      case Op.LOAD_ACQUIRE:
        return Atomics.load(w, addr);
      case Op.WRITE_ONCE:
      case Op.STORE_RELEASE:
        this.changed(w[addr]!, k.a | 0);
        Atomics.store(w, addr, k.a);
        return 0;
      case Op.CMPXCHG: {
        const old = Atomics.compareExchange(w, addr, k.a, k.b);
        return old === (k.a | 0) ? this.changed(old, k.b | 0) : old;
      }
      case Op.XCHG:
        return this.changed(Atomics.exchange(w, addr, k.a), k.a | 0);
      case Op.FETCH_ADD: {
        const old = Atomics.add(w, addr, k.a);
        return this.changed(old, rmw_result(Op.FETCH_ADD, old, k.a));
      }
      case Op.FETCH_OR: {
        const old = Atomics.or(w, addr, k.a);
        return this.changed(old, rmw_result(Op.FETCH_OR, old, k.a));
      }
      case Op.FETCH_AND: {
        const old = Atomics.and(w, addr, k.a);
        return this.changed(old, rmw_result(Op.FETCH_AND, old, k.a));
      }
      case Op.COND_LOAD_NE: {
        let v = Atomics.load(w, addr);
        let spins = 0;
        for (; v === k.a; spins++) {
          if (spins === this.spin_limit) this.blocked(Op.COND_LOAD_NE, addr);
          if (spins >= this.spin_limit) {
            // Let the holder run: on fewer cores than workers it may be descheduled.
            Atomics.wait(w, addr, v, 0.05);
            this.check_abort();
          }
          v = Atomics.load(w, addr);
        }
        // blocked() ran exactly when the loop passed the spin limit.
        if (spins > this.spin_limit) Atomics.store(this.ctrl, this.base + CTRL.state, TASK_RUNNING);
        return v;
      }
      case Op.FUTEX_WAIT: {
        if (Atomics.load(w, addr) !== k.a) return 1;
        this.blocked(Op.FUTEX_WAIT, addr);
        for (;;) {
          const r = Atomics.wait(w, addr, k.a, WAIT_SLICE_MS);
          if (r !== 'timed-out') {
            Atomics.store(this.ctrl, this.base + CTRL.state, TASK_RUNNING);
            return r === 'ok' ? 0 : 1;
          }
          this.check_abort();
        }
      }
      case Op.FUTEX_WAKE:
        return Atomics.notify(w, addr, k.a);
      case Op.RCU_READ_LOCK:
        __rcu_read_lock(w, this.rdp);
        return 0;
      case Op.RCU_READ_UNLOCK: {
        const wake = __rcu_read_unlock(w, this.rdp, this.sys.rcu_gp_waiting);
        if (wake < 0) throw rcu_unlock_unbalanced(this.name);
        if (wake > 0) Atomics.notify(w, wake);
        return 0;
      }
      case Op.LOCK_ACQUIRE:
      case Op.LOCK_RELEASE:
      case Op.ASSERT_HELD:
        return 0;
      case Op.MEMCPY:
        w.copyWithin(addr, k.a, k.a + k.b);
        this.changes++;
        return 0;
      case Op.MEMSET:
        fill_words(w, addr, k.a, k.b, k.c);
        this.changes++;
        return 0;
      case Op.MEMCHR_INV:
        return memchr_inv_words(w, addr, k.a, k.b);
      case Op.ALLOC: {
        const obj = slab_alloc(this.m, addr, k.a) || this.alloc_slowpath(addr, k.a);
        // 0 is -ENOMEM: the slab is as it was.
        if (obj !== 0) this.changes++;
        return obj;
      }
      case Op.FREE:
        slab_free(this.m, addr, k.a, this.task);
        this.changes++;
        return 0;
      default:
        throw unknown_op(k.op, this.name);
    }
  }

  /*
   * __alloc_pages_slowpath(), as much of it as the model needs: cache `c`
   * found memory full, yet what call_rcu() queued comes back once the
   * grace-period kthread has run its callbacks. Linux's allocator sleeps
   * in reclaim while the RCU kthreads run, and a small GFP_KERNEL
   * allocation does not fail while reclaim makes progress
   * (should_reclaim_retry()). Natively the kthread is a worker thread the
   * host may deschedule while this CPU's thread goes on retiring memory,
   * so a CPU that may sleep (outside an RCU read-side section, where its
   * own quiescent state would hold the grace period back) sleeps and
   * retries while grace periods end, and fails (0) once none has ended for
   * RECLAIM_STALL_MS. No step is added: the allocation took longer. The
   * explorer and the timing executor, whose kthread no host deschedules,
   * fail at once as before.
   */
  private alloc_slowpath(c: number, gfp: number): number {
    const w = this.w;
    if (Atomics.load(w, this.rdp + RCU_DATA.nesting) !== 0) return 0;
    const gp_seq = w[c + KMEM_CACHE.gp_seq]!;
    let seen = Atomics.load(w, gp_seq);
    let since_ms = performance.now();
    this.blocked(Op.ALLOC, c);
    try {
      for (;;) {
        Atomics.wait(w, gp_seq, seen, RECLAIM_POLL_MS);
        this.check_abort();
        const obj = slab_alloc(this.m, c, gfp);
        if (obj !== 0) return obj;
        const now = Atomics.load(w, gp_seq);
        if (now !== seen) {
          seen = now;
          since_ms = performance.now();
        } else if (performance.now() - since_ms >= RECLAIM_STALL_MS) return 0;
      }
    } finally {
      Atomics.store(this.ctrl, this.base + CTRL.state, TASK_RUNNING);
    }
  }

  /** Run `gen` to its end; returns its value. Publishes progress every 1024 steps (checkpoint()). */
  drive<R>(code: KGen<R>): R {
    const gen = new KStack(code, this.k);
    const sampler = this.sampler;
    let steps = 0;
    // Infinity counts down forever: without a sampler no step is timed.
    let gap = sampler ? sampler.gap() : Number.POSITIVE_INFINITY;
    let r = gen.next();
    while (!r.done) {
      if (--gap === 0 && PLAIN_ACCESS.has(this.k.op)) {
        const { frame, op_marks } = this.k;
        const named = frames_named();
        const t0 = performance.now();
        r = gen.next(this.perform());
        const ns = (performance.now() - t0) * 1e6 - sampler!.clock_read_ns;
        // The meter's clock reads and record are op_ns's, a stack trace the sampler's own.
        if (this.k.op_marks === op_marks && frames_named() === named) sampler!.add(frame, ns);
      } else {
        r = gen.next(this.perform());
      }
      if (gap <= 0) gap = sampler!.gap();
      if ((++steps & 1023) === 0) this.checkpoint();
    }
    this.publish(steps & 1023);
    return r.value;
  }
}

/*
 * Task t's operations on the run's clock: this worker's performance.now()
 * moved to the main thread's origin. Only differences within one worker
 * (latencies) need its full precision; the window across workers is
 * good to a fraction of a microsecond.
 */
export function worker_recorder(time_origin_ms: number, t: number, warmup_ms: number): OpRecorder {
  const offset_ms = performance.timeOrigin - time_origin_ms;
  const now_ns = () => (offset_ms + performance.now()) * 1e6;
  return new OpRecorder(now_ns, t + 1, now_ns() + warmup_ms * 1e6);
}

/* Wait until every task's worker is ready; the last one in lets all go. */
function start_barrier(ctrl: Int32Array, nr_tasks: number): void {
  if (Atomics.add(ctrl, CTRL_READY, 1) + 1 === nr_tasks) {
    Atomics.store(ctrl, CTRL_GO, 1);
    Atomics.notify(ctrl, CTRL_GO);
    parentPort!.postMessage({ type: 'go' });
    return;
  }
  while (Atomics.load(ctrl, CTRL_GO) === 0) {
    if (Atomics.load(ctrl, CTRL_ABORT) !== 0) throw new Aborted();
    Atomics.wait(ctrl, CTRL_GO, 0, WAIT_SLICE_MS);
  }
}

/* One run of task init.task of `scenario`, on this thread, to its end or its abort. */
function run_task(scenario: Scenario, init: WorkerInit): void {
  const m = KernelMemory.attach(init.sab);
  const ctrl = new Int32Array(init.ctrl);
  const { sys, cfg, task: t } = init;
  const name = task_name(scenario, cfg, t);
  const cpu = new NativeCpu(m, sys, t, cfg.policy, cfg.variant, ctrl, init.spin_limit, name);
  const gen = task_code(scenario, cpu.k, init.globals, cfg);
  const base = ctrl_base(t);
  try {
    start_barrier(ctrl, init.nr_tasks);
    const recorder =
      init.time_origin_ms === undefined
        ? null
        : worker_recorder(init.time_origin_ms, t, init.warmup_ms ?? 0);
    cpu.k.meter = recorder;
    if (init.frame_samples) {
      cpu.k.framing = true;
      cpu.sampler = new FrameSampler();
    }
    const t0 = performance.now();
    cpu.drive(gen);
    Atomics.store(ctrl, base + CTRL.state, TASK_DONE);
    const ops: OpSample | null = recorder?.sample() ?? null;
    const frames = cpu.sampler?.samples() ?? null;
    parentPort!.postMessage({ type: 'done', cpu_ms: performance.now() - t0, ops, frames });
  } catch (e) {
    if (e instanceof Aborted) return;
    Atomics.store(ctrl, base + CTRL.op, cpu.k.op);
    Atomics.store(ctrl, base + CTRL.addr, cpu.k.addr);
    if (e instanceof Spinning) parentPort!.postMessage({ type: 'spinning', frame: e.frame });
    else post_bug(e as Error);
  }
}

/* A failure to the main thread, as a 'bug' message (native.ts WorkerMessage). */
function post_bug(err: Error & { bug_class?: string }): void {
  parentPort!.postMessage({
    type: 'bug',
    bug_class: err.bug_class ?? 'exception',
    message: err.message,
    stack: err.stack ?? '',
  });
}

/** A worker of one run: its task's scenario given, its WorkerInit as workerData. */
export function worker_main(scenario: Scenario): void {
  run_task(scenario, workerData as WorkerInit);
}

/** A run for a pooled worker: the scenario's module, loaded once per worker. */
export interface PoolRun {
  readonly module: string;
  readonly init: WorkerInit;
}

/**
 * A pooled worker (NativePool): runs task after task, one per 'run'
 * message, in one isolate, so that the JIT's code for the kernel outlives
 * a run. `imp` imports a module as the worker's source does.
 */
export function pool_main(imp: (url: string) => Promise<{ scenario: Scenario }>): void {
  // By URL, once: under tsx each import would instantiate the modules anew, cold.
  const modules = new Map<string, Promise<{ scenario: Scenario }>>();
  parentPort!.on('message', (run: PoolRun) => {
    let mod = modules.get(run.module);
    if (!mod) {
      mod = imp(run.module);
      modules.set(run.module, mod);
    }
    mod.then((m) => run_task(m.scenario, run.init), post_bug);
  });
}
