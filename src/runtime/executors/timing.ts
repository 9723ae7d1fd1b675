/*
 * The timing executor: a simulated multicore on one JS thread. Every task
 * (the scenario's CPUs, then its kthreads) has its own clock in simulated
 * nanoseconds; the scheduler always steps the runnable task whose clock is
 * earliest (ties: the lowest task), so an access is performed at the
 * moment its CPU reaches it, in global time order. What a step costs comes
 * from a cost profile (timing_costs.ts) and a cache-line model
 * (cache_model.ts). Memory is sequentially consistent, the explorer's
 * semantics without its sanitizers; a run is a function of its inputs, so
 * two runs give identical results.
 *
 * Invariant: the earliest runnable clock never decreases. A step starting
 * at t ends at t or later, and a task woken by a step ending at T runs
 * from T or later; so no access is performed "in the past" of another.
 * schedule() checks it at every step.
 *
 * Costs, per op (step_ns always, times the weight of the kernel function
 * making the access where the profile has step_weights, plus crowded_ns
 * where the profile's machine has no core to spare for this many CPUs;
 * then):
 *	loads, COND_LOAD_NE, FUTEX_WAIT	a read of the word's line
 *	stores				a write of the line
 *	cmpxchg, xchg, fetch_*		an RMW of the line (a failed cmpxchg too:
 *					x86's lock cmpxchg takes the line exclusive)
 *	MEMSET, MEMCPY			word_ns a word, plus a transfer per line
 *					another CPU holds (cache_model bulk())
 *	ALLOC, FREE			alloc_ns; a zeroing ALLOC also writes the object
 *	FUTEX_WAKE			waker_ns if it woke anyone (the wait queue work
 *					is the kernel code's own accesses); the wakee
 *					pays wake_ns. rcu_read_unlock() waking the
 *					grace-period kthread likewise
 *	RCU_READ_LOCK/UNLOCK		nothing more and no line: natively a store to the
 *					CPU's own rcu_data line, in a non-preemptible
 *					kernel a per-CPU preempt count; neither is shared
 *	LOCK_ACQUIRE/RELEASE, ASSERT_HELD	annotation_ns instead of step_ns, and no line:
 *					nothing under hw (CONFIG_LOCKDEP is off in the
 *					kernels measured), the generator round trip
 *					the native executor makes for one under js
 * and a benchmark's operation, op_ns as it ends (k.op_end(): the meter's
 * own clock reads and histogram record); work the model has no steps for
 * (k.unmodelled(): kernel entry, a new page's bookkeeping), its profile's
 * constant, in the step it falls in.
 */
import type { BootRecord, Kernel } from '../boot.js';
import { __GFP_ZERO, describe_addr, KMEM_CACHE, slab_alloc, slab_free } from '../heap.js';
import type { KernelMemory } from '../memory.js';
import type { Clock } from '../op_meter.js';
import {
  fill_words,
  frame_name,
  KernelBug,
  KernelContext,
  type KGen,
  KStack,
  OP_NAMES,
  Op,
  type OpMeter,
} from '../ops.js';
import { __rcu_read_lock, __rcu_read_unlock } from '../rcu_reader.js';
import { instantiate, type RunConfig, type Scenario, task_name, task_stack } from '../scenario.js';
import { ACCESS_READ, ACCESS_RMW, ACCESS_WRITE, CacheModel } from './cache_model.js';
import { TASK_DONE, TASK_FUTEX, TASK_RUNNABLE, TASK_SPIN } from './explore.js';
import { type CostProfile, crowded, unmodelled_costs_ns } from './timing_costs.js';

export interface TimingOptions {
  readonly profile: CostProfile;
  /**
   * Called once with the executor's clock (simulated ns of each CPU); the
   * meter it returns is installed on every CPU's KernelContext (k.meter).
   */
  readonly make_meter?: (clock: Clock) => OpMeter;
  /**
   * Store 1 to the scenario's stop word when the earliest clock reaches
   * this many simulated ns: a run of that long, as native's `seconds`.
   */
  readonly stop_ns?: number;
  /** Give up (class 'livelock') past this many steps; default 50_000_000. */
  readonly max_steps?: number;
}

export interface TimingBug {
  readonly class: string;
  readonly message: string;
  /** 'cpu0', 'rcu_gp_kthread', or '' for a deadlock, a livelock and the final check. */
  readonly task: string;
}

export interface TimingResult {
  readonly bug: TimingBug | null;
  /** Simulated ns at which the last CPU (not kthread) finished its code. */
  readonly makespan_ns: number;
  /** Steps (accesses) each task performed; cpu0's include its epilogue's. */
  readonly steps: readonly number[];
  /** Each task's clock when its own code ended (cpu0: before the epilogue). */
  readonly clocks_ns: readonly number[];
  readonly report: Readonly<Record<string, number>>;
  readonly cache: {
    readonly hits: number;
    readonly transfers: number;
    readonly memory: number;
    /** Waits for a line busy with another CPU's transfer or RMW (reads that miss wait too). */
    readonly rmw_stall_ns: number;
    /** Futex waiters woken (spinners released by a store are not wake-ups). */
    readonly wakeups: number;
  };
}

export function run_timing(
  kernel: Kernel,
  scenario: Scenario,
  cfg: RunConfig,
  opts: TimingOptions,
): TimingResult {
  return new TimingExecutor(kernel, scenario, cfg, opts).run();
}

const NO_TASK = -1;

/* The tasks parked on each word, FIFO: intrusive lists, so parking allocates nothing. */
class WaitQueues {
  private readonly head = new Map<number, number>();
  private readonly tail = new Map<number, number>();
  private readonly next: Int32Array;

  constructor(nr_tasks: number) {
    this.next = new Int32Array(nr_tasks);
  }

  get size(): number {
    return this.head.size;
  }

  push(addr: number, t: number): void {
    this.next[t] = NO_TASK;
    const last = this.tail.get(addr);
    if (last === undefined) this.head.set(addr, t);
    else this.next[last] = t;
    this.tail.set(addr, t);
  }

  /** Take the first waiter on `addr`, or NO_TASK. */
  shift(addr: number): number {
    const t = this.head.get(addr);
    if (t === undefined) return NO_TASK;
    const n = this.next[t]!;
    if (n === NO_TASK) {
      this.head.delete(addr);
      this.tail.delete(addr);
    } else {
      this.head.set(addr, n);
    }
    return t;
  }

  clear(): void {
    this.head.clear();
    this.tail.clear();
  }
}

class TimingExecutor {
  private readonly m: KernelMemory;
  private readonly sys: BootRecord;
  private readonly globals: unknown;
  private readonly nr_tasks: number;
  private readonly w: Int32Array;
  private readonly costs: CostProfile;
  /* What a step costs on this run's machine: step_ns, and crowded_ns where it has no spare core. */
  private readonly step_ns: number;
  private readonly crowded_ns: number;
  /*
   * With the profile's step_weights: each kernel function's weight, by
   * frame id (KernelContext.frame), filled as the run meets them; a step
   * costs step_ns times its frame's weight. Null: every step step_ns.
   */
  private readonly weights: number[] | null;
  private readonly cache: CacheModel;
  private readonly max_steps: number;
  /* The scenario's stop word and when to set it (never: +Infinity). */
  private stop_addr = -1;
  private stop_ns = Number.POSITIVE_INFINITY;
  private readonly ctx: KernelContext[] = [];
  private readonly gens: (KStack | null)[] = [];
  private readonly state: Uint8Array;
  /** A parked futex waiter was woken: its FUTEX_WAIT returns 0 when it next runs. */
  private readonly woken: Uint8Array;
  private readonly clock_ns: Float64Array;
  private readonly end_ns: Float64Array;
  private readonly steps: Float64Array;
  private readonly futexq: WaitQueues;
  private readonly spinq: WaitQueues;
  private nr_spinning = 0;
  private wakeups = 0;
  /** The step just performed parked its task. */
  private parked = false;

  /*
   * Runnable tasks, a binary min-heap on (clock_ns, task). Tasks woken
   * during a step wait in `pending` until the stepping task, at the root,
   * has its new clock sifted down: the heap is never edited around a root
   * whose key is stale.
   */
  private readonly heap: Int32Array;
  private heap_size = 0;
  private readonly pending: Int32Array;
  private nr_pending = 0;

  /** The task whose code runs now: a KernelBug escaping the run is its. */
  private current = NO_TASK;
  private cpus_done = 0;
  private in_epilogue = false;
  private makespan_ns = 0;

  constructor(
    kernel: Kernel,
    private readonly scenario: Scenario,
    private readonly cfg: RunConfig,
    opts: TimingOptions,
  ) {
    ({
      nr_tasks: this.nr_tasks,
      m: this.m,
      sys: this.sys,
      globals: this.globals,
    } = instantiate(kernel, scenario, cfg));
    const n = this.nr_tasks;
    this.w = this.m.words;
    this.costs = opts.profile;
    this.step_ns = opts.profile.step_ns;
    this.crowded_ns = crowded(opts.profile, cfg.cpus) ? opts.profile.crowded_ns : 0;
    this.weights = opts.profile.step_weights ? [] : null;
    this.cache = new CacheModel(this.w.length, n, opts.profile);
    this.max_steps = opts.max_steps ?? 50_000_000;
    const stop = opts.stop_ns === undefined ? undefined : scenario.stop_word?.(this.globals);
    if (stop !== undefined) {
      this.stop_addr = stop;
      this.stop_ns = opts.stop_ns!;
    }
    for (let t = 0; t < n; t++) {
      const k = new KernelContext(this.sys, t, cfg.policy, cfg.variant, false);
      k.framing = this.weights !== null;
      this.ctx.push(k);
      this.gens.push(null);
    }
    this.state = new Uint8Array(n);
    this.woken = new Uint8Array(n);
    this.clock_ns = new Float64Array(n);
    this.end_ns = new Float64Array(n);
    this.steps = new Float64Array(n);
    this.futexq = new WaitQueues(n);
    this.spinq = new WaitQueues(n);
    this.heap = new Int32Array(n);
    this.pending = new Int32Array(n);
    // Work the model has no steps for costs its CPU time in the step it falls in, as op_ns does.
    const unmodelled_ns = unmodelled_costs_ns(opts.profile);
    for (const k of this.ctx)
      k.unmodelled_work = (cpu, work) => {
        this.clock_ns[cpu]! += unmodelled_ns[work]!;
      };
    if (opts.make_meter) {
      const clock_ns = this.clock_ns;
      const meter = opts.make_meter((cpu) => clock_ns[cpu]!);
      const { op_ns } = opts.profile;
      // The benchmark's own bookkeeping falls after the operation's end is
      // read: in its CPU's throughput, not in its latency. A CPU's ops end
      // only in its own steps, while it is the earliest task, so its later
      // clock is sifted into place with the step.
      const charged: OpMeter = {
        op_begin: (cpu) => meter.op_begin(cpu),
        op_end: (cpu) => {
          meter.op_end(cpu);
          clock_ns[cpu]! += op_ns;
        },
      };
      for (let t = 0; t < cfg.cpus; t++) this.ctx[t]!.meter = charged;
    }
  }

  run(): TimingResult {
    const { scenario, cfg } = this;
    let bug: TimingBug | null = null;
    try {
      if (scenario.prologue) this.run_prologue(scenario.prologue(this.ctx[0]!, this.globals, cfg));
      for (let t = 0; t < this.nr_tasks; t++) {
        this.current = t;
        const gen = task_stack(scenario, this.ctx[t]!, this.globals, cfg);
        this.gens[t] = gen;
        if (gen.next().done) this.finish(t);
        else this.heap_push(t);
      }
      this.flush_pending();
      bug = this.schedule();
      this.current = NO_TASK;
      if (!bug) scenario.check(this.m, this.sys, this.globals, cfg);
    } catch (e) {
      if (!(e instanceof KernelBug)) throw e;
      const task = this.current === NO_TASK ? '' : task_name(scenario, cfg, this.current);
      bug = { class: e.bug_class, message: e.message, task };
    } finally {
      for (let t = 0; t < this.nr_tasks; t++) {
        this.gens[t]?.return();
        this.gens[t] = null;
      }
    }
    const c = this.cache;
    return {
      bug,
      makespan_ns: this.makespan_ns,
      steps: Array.from(this.steps),
      clocks_ns: Array.from(this.end_ns),
      report: scenario.report?.(this.m, this.sys, this.globals, cfg) ?? {},
      cache: {
        hits: c.hits,
        transfers: c.transfers,
        memory: c.memory,
        rmw_stall_ns: c.rmw_stall_ns,
        wakeups: this.wakeups,
      },
    };
  }

  /*
   * The prologue runs on cpu0 alone and is not timed: it builds the state
   * every run starts from. Afterwards every clock is 0 and every cache
   * cold; its memory stays.
   */
  private run_prologue(code: KGen): void {
    const k = this.ctx[0]!;
    const gen = new KStack(code, k);
    try {
      for (let r = gen.next(); !r.done; r = gen.next(this.perform(0))) {
        if (this.parked)
          throw new Error(
            `${this.scenario.name}: the prologue waits (${OP_NAMES[k.op]} on ${describe_addr(this.m, k.addr)}) with no other task to wake it`,
          );
      }
    } catch (e) {
      if (e instanceof KernelBug)
        throw new Error(`${this.scenario.name}: the prologue failed: ${e.message}`);
      throw e;
    }
    this.clock_ns.fill(0);
    this.cache.reset();
    this.nr_pending = 0;
  }

  /* Step the earliest task until none can run; a deadlock or livelock is returned. */
  private schedule(): TimingBug | null {
    const { heap, gens, steps, max_steps } = this;
    let total = 0;
    let last_ns = 0;
    for (;;) {
      if (this.heap_size === 0) return this.all_done() ? null : this.deadlock();
      if (this.clock_ns[heap[0]!]! >= this.stop_ns) this.stop();
      const t = heap[0]!;
      last_ns = this.earliest_ns(t, last_ns);
      if (this.waits_for_line(t, last_ns)) continue;
      this.current = t;
      this.parked = false;
      const result = this.perform(t);
      steps[t]!++;
      if (this.parked) {
        this.heap_pop();
      } else if (gens[t]!.next(result).done) {
        this.heap_pop();
        this.finish(t);
      } else {
        this.sift_down(0);
      }
      if (this.nr_pending) this.flush_pending();
      if (++total >= max_steps) {
        return {
          class: 'livelock',
          message: `no progress: the run passed ${max_steps} steps`,
          task: '',
        };
      }
    }
  }

  /*
   * Task t's pending access finds its line busy with another CPU's
   * transfer or RMW: the line is reserved for it and t waits, its clock
   * moved to when the line is free for it; the access is performed then,
   * when t is again the earliest (cache_model.ts's invariant).
   */
  private waits_for_line(t: number, now_ns: number): boolean {
    const k = this.ctx[t]!;
    const kind = line_access(k.op, this.woken[t] === 1);
    if (kind < 0) return false;
    const free_ns = this.cache.request_ns(t, k.addr, now_ns, kind);
    if (free_ns === now_ns) return false;
    this.clock_ns[t] = free_ns;
    this.sift_down(0);
    return true;
  }

  /* The clock of t, the earliest runnable task, checked against the last one chosen: the invariant. */
  private earliest_ns(t: number, last_ns: number): number {
    const now_ns = this.clock_ns[t]!;
    if (now_ns < last_ns)
      throw new Error(
        `timing: the earliest runnable clock went back from ${last_ns} ns to ${now_ns} ns (${task_name(this.scenario, this.cfg, t)})`,
      );
    return now_ns;
  }

  /*
   * The run's time is up: the stop word is set from outside the model, as
   * native's timer sets it, and anyone spinning on it is released.
   */
  private stop(): void {
    this.stop_ns = Number.POSITIVE_INFINITY;
    this.w[this.stop_addr] = 1;
    this.wake_spinners(this.stop_addr, this.clock_ns[this.heap[0]!]!);
    if (this.nr_pending) this.flush_pending();
  }

  private all_done(): boolean {
    for (let t = 0; t < this.nr_tasks; t++) if (this.state[t] !== TASK_DONE) return false;
    return true;
  }

  /* Nobody can run: every live task sleeps or spins on a word nobody will change. */
  private deadlock(): TimingBug {
    const lines: string[] = [];
    for (let t = 0; t < this.nr_tasks; t++) {
      if (this.state[t] === TASK_DONE) continue;
      const how = this.state[t] === TASK_FUTEX ? 'sleeps in futex_wait on' : 'spins on';
      lines.push(
        `${task_name(this.scenario, this.cfg, t)} ${how} ${describe_addr(this.m, this.ctx[t]!.addr)}`,
      );
    }
    return { class: 'deadlock', message: `deadlock: ${lines.join('; ')}`, task: '' };
  }

  /* Task t's code returned. t is in no queue and not in the heap. */
  private finish(t: number): void {
    this.state[t] = TASK_DONE;
    if (this.in_epilogue && t === 0) {
      this.in_epilogue = false;
      this.stop_kthreads(this.clock_ns[0]!);
      return;
    }
    this.end_ns[t] = this.clock_ns[t]!;
    if (t < this.cfg.cpus && ++this.cpus_done === this.cfg.cpus) this.cpus_finished();
  }

  /*
   * Every CPU is done: the process joins its threads, so cpu0 runs the
   * epilogue from the last CPU's end, the kthreads still up; then they
   * are stopped.
   */
  private cpus_finished(): void {
    let last_ns = 0;
    for (let t = 0; t < this.cfg.cpus; t++) last_ns = Math.max(last_ns, this.end_ns[t]!);
    this.makespan_ns = last_ns;
    const epilogue = this.scenario.epilogue;
    if (!epilogue) {
      this.stop_kthreads(last_ns);
      return;
    }
    const gen = new KStack(epilogue(this.ctx[0]!, this.globals, this.cfg), this.ctx[0]!);
    this.gens[0] = gen;
    this.clock_ns[0] = last_ns;
    this.state[0] = TASK_RUNNABLE;
    this.in_epilogue = true;
    this.current = 0;
    if (gen.next().done) this.finish(0);
    else this.heap_push(0);
  }

  /* kthread_stop() of every kthread at `now_ns`, as the native executor does it. */
  private stop_kthreads(now_ns: number): void {
    const w = this.w;
    for (const kt of this.scenario.kthreads) {
      const { flag, kick } = kt.stop(this.sys);
      w[flag] = 1;
      w[kick] = (w[kick]! + 1) | 0;
      if (this.nr_spinning) {
        this.wake_spinners(flag, now_ns);
        this.wake_spinners(kick, now_ns);
      }
      this.wake_futex(kick, 0x7fffffff, now_ns);
    }
  }

  /* Task t's clock moves on by `cost_ns`; returns the new time. */
  private advance(t: number, cost_ns: number): number {
    const now_ns = this.clock_ns[t]! + cost_ns;
    this.clock_ns[t] = now_ns;
    return now_ns;
  }

  /* ---- parking and waking ---- */

  private park(t: number, q: WaitQueues, addr: number, state: number): number {
    q.push(addr, t);
    this.state[t] = state;
    this.parked = true;
    return 0;
  }

  /* Make t runnable from `at_ns` (or its own clock, if later). */
  private wake(t: number, at_ns: number): void {
    this.state[t] = TASK_RUNNABLE;
    if (this.clock_ns[t]! < at_ns) this.clock_ns[t] = at_ns;
    this.pending[this.nr_pending++] = t;
  }

  /*
   * A store at `now_ns` releases the spinners on its word. They resume at
   * now_ns and re-read the word: that read misses and pays the transfer,
   * so each sees the value no earlier than now_ns + line_transfer_ns.
   */
  private wake_spinners(addr: number, now_ns: number): void {
    for (let t = this.spinq.shift(addr); t !== NO_TASK; t = this.spinq.shift(addr)) {
      this.nr_spinning--;
      this.wake(t, now_ns);
    }
  }

  private wake_futex(addr: number, n: number, now_ns: number): number {
    let woke = 0;
    while (woke < n) {
      const t = this.futexq.shift(addr);
      if (t === NO_TASK) break;
      this.woken[t] = 1;
      this.wake(t, now_ns + this.costs.wake_ns);
      woke++;
    }
    this.wakeups += woke;
    return woke;
  }

  /* Task t woke `woke` tasks: it pays for the wake-up's work on its side once. */
  private waker_pays(t: number, woke: number): number {
    if (woke > 0) this.advance(t, this.costs.waker_ns);
    return woke;
  }

  /* ---- the run queue ---- */

  private flush_pending(): void {
    for (let i = 0; i < this.nr_pending; i++) this.heap_push(this.pending[i]!);
    this.nr_pending = 0;
  }

  private before(a: number, b: number): boolean {
    const ca = this.clock_ns[a]!;
    const cb = this.clock_ns[b]!;
    return ca < cb || (ca === cb && a < b);
  }

  private heap_push(t: number): void {
    const heap = this.heap;
    let i = this.heap_size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!this.before(t, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = t;
  }

  private heap_pop(): void {
    const last = this.heap[--this.heap_size]!;
    if (this.heap_size > 0) {
      this.heap[0] = last;
      this.sift_down(0);
    }
  }

  private sift_down(i: number): void {
    const heap = this.heap;
    const n = this.heap_size;
    const t = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.before(heap[child + 1]!, heap[child]!)) child++;
      const c = heap[child]!;
      if (!this.before(c, t)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = t;
  }

  /* ---- the access ---- */

  /* What the step of k's pending access costs: its kernel function's. */
  private step_cost(k: KernelContext): number {
    const weights = this.weights;
    if (weights === null) return this.step_ns + this.crowded_ns;
    let w = weights[k.frame];
    if (w === undefined) {
      w = this.costs.step_weights![frame_name(k.frame)] ?? 1;
      weights[k.frame] = w;
    }
    return this.step_ns * w + this.crowded_ns;
  }

  /* Charge task t an access of kind `kind` to `addr`, plus its step. */
  private charge(t: number, addr: number, kind: number, step_ns: number): number {
    const end_ns = this.cache.access(t, addr, this.clock_ns[t]!, kind) + step_ns;
    this.clock_ns[t] = end_ns;
    return end_ns;
  }

  /* Perform task t's pending access, memory and clock: the one place that touches memory. */
  private perform(t: number): number {
    const k = this.ctx[t]!;
    const w = this.w;
    const addr = k.addr;
    const op = k.op;
    const step_ns = this.step_cost(k);
    switch (op) {
      case Op.LOAD:
      case Op.READ_ONCE:
      case Op.LOAD_ACQUIRE:
        this.charge(t, addr, ACCESS_READ, step_ns);
        return w[addr]!;
      case Op.STORE:
      case Op.WRITE_ONCE:
      case Op.STORE_RELEASE: {
        const now_ns = this.charge(t, addr, ACCESS_WRITE, step_ns);
        w[addr] = k.a;
        if (this.nr_spinning) this.wake_spinners(addr, now_ns);
        return 0;
      }
      case Op.CMPXCHG: {
        const now_ns = this.charge(t, addr, ACCESS_RMW, step_ns);
        const old = w[addr]!;
        if (old === k.a) {
          w[addr] = k.b;
          if (this.nr_spinning) this.wake_spinners(addr, now_ns);
        }
        return old;
      }
      case Op.XCHG:
      case Op.FETCH_ADD:
      case Op.FETCH_OR:
      case Op.FETCH_AND: {
        const now_ns = this.charge(t, addr, ACCESS_RMW, step_ns);
        const old = w[addr]!;
        w[addr] = rmw_result(op, old, k.a);
        if (this.nr_spinning) this.wake_spinners(addr, now_ns);
        return old;
      }
      case Op.COND_LOAD_NE: {
        this.charge(t, addr, ACCESS_READ, step_ns);
        const v = w[addr]!;
        if (v !== k.a) return v;
        this.nr_spinning++;
        return this.park(t, this.spinq, addr, TASK_SPIN);
      }
      case Op.FUTEX_WAIT:
        if (this.woken[t]) {
          this.woken[t] = 0;
          this.clock_ns[t]! += step_ns;
          return 0;
        }
        this.charge(t, addr, ACCESS_READ, step_ns);
        if (w[addr] !== k.a) return 1;
        return this.park(t, this.futexq, addr, TASK_FUTEX);
      case Op.FUTEX_WAKE: {
        const now_ns = this.advance(t, step_ns);
        return this.waker_pays(t, this.wake_futex(addr, k.a, now_ns));
      }
      case Op.RCU_READ_LOCK:
        __rcu_read_lock(w, this.sys.rcu_data[t]!);
        this.clock_ns[t]! += step_ns;
        return 0;
      case Op.RCU_READ_UNLOCK: {
        const wake = __rcu_read_unlock(w, this.sys.rcu_data[t]!, this.sys.rcu_gp_waiting);
        if (wake < 0)
          throw new KernelBug(
            'rcu',
            `rcu_read_unlock() without rcu_read_lock() by ${task_name(this.scenario, this.cfg, t)}`,
          );
        const now_ns = this.advance(t, step_ns);
        if (wake > 0) this.waker_pays(t, this.wake_futex(wake, 0x7fffffff, now_ns));
        return 0;
      }
      case Op.LOCK_ACQUIRE:
      case Op.LOCK_RELEASE:
      case Op.ASSERT_HELD:
        this.advance(t, this.costs.annotation_ns);
        return 0;
      case Op.MEMCPY:
      case Op.MEMSET: {
        const n = k.b;
        let cost_ns = step_ns + this.costs.word_ns * n + this.cache.bulk(t, addr, n, true);
        if (op === Op.MEMCPY) {
          cost_ns += this.cache.bulk(t, k.a, n, false);
          w.copyWithin(addr, k.a, k.a + n);
        } else {
          fill_words(w, addr, k.a, n, k.c);
        }
        const now_ns = this.advance(t, cost_ns);
        if (this.nr_spinning) for (let i = 0; i < n; i++) this.wake_spinners(addr + i, now_ns);
        return 0;
      }
      case Op.ALLOC: {
        const obj = slab_alloc(this.m, addr, k.a);
        let cost_ns = step_ns + this.costs.alloc_ns;
        if (obj !== 0 && k.a & __GFP_ZERO) {
          const size = w[addr + KMEM_CACHE.object_size]!;
          cost_ns += this.costs.word_ns * size + this.cache.bulk(t, obj, size, true);
        }
        this.clock_ns[t]! += cost_ns;
        return obj;
      }
      case Op.FREE:
        slab_free(this.m, addr, k.a, t);
        this.clock_ns[t]! += step_ns + this.costs.alloc_ns;
        return 0;
      default:
        throw new KernelBug(
          'BUG',
          `unknown op ${op} yielded by ${task_name(this.scenario, this.cfg, t)}`,
        );
    }
  }
}

/* The line access perform() charges for `op`, or -1 for none (a woken FUTEX_WAIT reads nothing). */
function line_access(op: number, woken: boolean): number {
  switch (op) {
    case Op.LOAD:
    case Op.READ_ONCE:
    case Op.LOAD_ACQUIRE:
    case Op.COND_LOAD_NE:
      return ACCESS_READ;
    case Op.FUTEX_WAIT:
      return woken ? -1 : ACCESS_READ;
    case Op.STORE:
    case Op.WRITE_ONCE:
    case Op.STORE_RELEASE:
      return ACCESS_WRITE;
    case Op.CMPXCHG:
    case Op.XCHG:
    case Op.FETCH_ADD:
    case Op.FETCH_OR:
    case Op.FETCH_AND:
      return ACCESS_RMW;
    default:
      return -1;
  }
}

/* The new value of an XCHG or FETCH_* of `old` with operand `a`. */
function rmw_result(op: number, old: number, a: number): number {
  switch (op) {
    case Op.XCHG:
      return a;
    case Op.FETCH_ADD:
      return (old + a) | 0;
    case Op.FETCH_OR:
      return old | a;
    default:
      return old & a;
  }
}
