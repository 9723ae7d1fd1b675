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
 *	MEMSET, MEMCPY, MEMCHR_INV	word_ns a word, plus a transfer per line
 *					another CPU holds (cache_model bulk())
 *	ALLOC, FREE			alloc_ns; a zeroing ALLOC also writes the object;
 *					under a profile with percpu_lists, also the lines
 *					of the kernel's per-CPU lists in front of the
 *					allocator (timing_percpu.ts)
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
 * constant, in the step it falls in; add_mm_counter(), the lines of its
 * per-CPU counter (percpu_lists) or nothing.
 */
import type { Kernel } from '../boot.js';
import { frame_name } from '../frames.js';
import { __GFP_ZERO, describe_addr, KMEM_CACHE } from '../heap.js';
import { L1_CACHE_WORDS } from '../layout.js';
import { hex, type KernelMemory } from '../memory.js';
import type { Clock } from '../op_meter.js';
import { KernelBug, type KernelContext, KStack, Op, type OpMeter, Unmodelled } from '../ops.js';
import { type RunConfig, type Scenario, task_stack } from '../scenario.js';
import { ACCESS_READ, ACCESS_RMW, ACCESS_WRITE, CacheModel } from './cache_model.js';
import { NO_TASK, OpCore, TASK_DONE, TASK_RUNNABLE } from './op_core.js';
import { type CostProfile, crowded, unmodelled_costs_ns } from './timing_costs.js';
import { PerCpuLists } from './timing_percpu.js';

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
    /** The lines CPUs waited for longest, longest first (CONTENDED_LINES at most). */
    readonly lines: readonly ContendedLine[];
  };
}

/** A line CPUs waited for, named by what lies on it. */
export interface ContendedLine {
  /** The fields on the line: `struct.field` of a boot object, `cache@object.{field,..}` in a slab. */
  readonly name: string;
  readonly stall_ns: number;
  readonly transfers: number;
}

/** How many of the most contended lines a result lists. */
const CONTENDED_LINES = 8;
/** Fields of one object a line's name lists before '…'. */
const LINE_FIELDS = 3;

export function run_timing(
  kernel: Kernel,
  scenario: Scenario,
  cfg: RunConfig,
  opts: TimingOptions,
): TimingResult {
  return new TimingExecutor(kernel, scenario, cfg, opts).run();
}

class TimingExecutor extends OpCore {
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
  /* The kernel's per-CPU lists and counters, under a profile with percpu_lists; else null. */
  private readonly percpu: PerCpuLists | null;
  private readonly max_steps: number;
  /* The scenario's stop word and when to set it (never: +Infinity). */
  private stop_addr = -1;
  private stop_ns = Number.POSITIVE_INFINITY;
  private readonly clock_ns: Float64Array;
  private readonly end_ns: Float64Array;
  private readonly steps: Float64Array;
  private wakeups = 0;
  /* What the step being performed costs (step_cost()), set as it begins. */
  private cur_step_ns = 0;
  /* The moment of the event that wakes tasks now: the waker's clock after its access. */
  private now_ns = 0;

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

  constructor(kernel: Kernel, scenario: Scenario, cfg: RunConfig, opts: TimingOptions) {
    super(kernel, scenario, cfg, false);
    const n = this.nr_tasks;
    this.costs = opts.profile;
    this.step_ns = opts.profile.step_ns;
    this.crowded_ns = crowded(opts.profile, cfg.cpus) ? opts.profile.crowded_ns : 0;
    this.weights = opts.profile.step_weights ? [] : null;
    this.percpu = opts.profile.percpu_lists
      ? new PerCpuLists(this.m, n, cfg.cpus, opts.profile)
      : null;
    this.cache = new CacheModel(this.percpu?.end ?? this.w.length, n, opts.profile);
    this.max_steps = opts.max_steps ?? 50_000_000;
    const stop = opts.stop_ns === undefined ? undefined : scenario.stop_word?.(this.globals);
    if (stop !== undefined) {
      this.stop_addr = stop;
      this.stop_ns = opts.stop_ns!;
    }
    for (const k of this.ctx) k.framing = this.weights !== null;
    this.clock_ns = new Float64Array(n);
    this.end_ns = new Float64Array(n);
    this.steps = new Float64Array(n);
    this.heap = new Int32Array(n);
    this.pending = new Int32Array(n);
    // Work the model has no steps for costs its CPU time in the step it falls in, as op_ns does.
    const unmodelled_ns = unmodelled_costs_ns(opts.profile);
    for (const k of this.ctx)
      k.unmodelled_work = (cpu, work, key, n) => {
        const now_ns = this.clock_ns[cpu]! + unmodelled_ns[work]!;
        this.clock_ns[cpu] =
          work === Unmodelled.MM_COUNTER && this.percpu
            ? this.percpu.add_mm_counter(this.cache, cpu, key, n, now_ns)
            : now_ns;
      };
    if (opts.make_meter) this.install_meter(opts.make_meter, opts.profile.op_ns);
  }

  /* A meter on every CPU, reading the simulated clocks. */
  private install_meter(make_meter: (clock: Clock) => OpMeter, op_ns: number): void {
    const clock_ns = this.clock_ns;
    const meter = make_meter((cpu) => clock_ns[cpu]!);
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
    for (let t = 0; t < this.cfg.cpus; t++) this.ctx[t]!.meter = charged;
  }

  run(): TimingResult {
    const { scenario, cfg } = this;
    let bug: TimingBug | null = null;
    try {
      this.prologue();
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
      const task = this.current === NO_TASK ? '' : this.task_name(this.current);
      bug = { class: e.bug_class, message: e.message, task };
    } finally {
      for (let t = 0; t < this.nr_tasks; t++) {
        this.gens[t]?.return();
        this.gens[t] = null;
      }
    }
    return this.result(bug);
  }

  private result(bug: TimingBug | null): TimingResult {
    const { scenario, cfg } = this;
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
        lines: c.contended(CONTENDED_LINES).map(({ addr, stall_ns, transfers }) => ({
          name: describe_line(this.m, this.percpu, addr),
          stall_ns,
          transfers,
        })),
      },
    };
  }

  /*
   * The prologue is not timed: it builds the state every run starts
   * from. Afterwards every clock is 0 and every cache cold; its memory
   * stays.
   */
  private prologue(): void {
    this.run_prologue();
    this.clock_ns.fill(0);
    this.cache.reset();
    this.nr_pending = 0;
  }

  /* Step the earliest task until none can run; a deadlock or livelock is returned. */
  private schedule(): TimingBug | null {
    const { heap, gens, steps, max_steps, ctx } = this;
    let total = 0;
    let last_ns = 0;
    for (;;) {
      if (this.heap_size === 0) return this.all_done() ? null : this.deadlock();
      if (this.clock_ns[heap[0]!]! >= this.stop_ns) this.stop();
      const t = heap[0]!;
      last_ns = this.earliest_ns(t, last_ns);
      if (this.waits_for_line(t, last_ns)) continue;
      this.current = t;
      const result = this.perform(t, ctx[t]!);
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
   * transfer or RMW, or held by other caches: the line is reserved for it
   * and t waits, its clock moved to when the line leaves them for it; the
   * access is performed then, when t is again the earliest (cache_model.ts's
   * invariant).
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
        `timing: the earliest runnable clock went back from ${last_ns} ns to ${now_ns} ns (${this.task_name(t)})`,
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
    this.now_ns = this.clock_ns[this.heap[0]!]!;
    this.wake_spinners(this.stop_addr);
    if (this.nr_pending) this.flush_pending();
  }

  /* Nobody can run: every live task sleeps or spins on a word nobody will change. */
  private deadlock(): TimingBug {
    const lines: string[] = [];
    for (let t = 0; t < this.nr_tasks; t++)
      if (this.state[t] !== TASK_DONE) lines.push(this.waits_for(t));
    return { class: 'deadlock', message: `deadlock: ${lines.join('; ')}`, task: '' };
  }

  /* Task t's code returned. t is in no queue and not in the heap. */
  private finish(t: number): void {
    this.state[t] = TASK_DONE;
    if (this.in_epilogue && t === 0) {
      this.in_epilogue = false;
      this.stop_kthreads_at(this.clock_ns[0]!);
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
      this.stop_kthreads_at(last_ns);
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
  private stop_kthreads_at(now_ns: number): void {
    this.now_ns = now_ns;
    this.stop_kthreads();
  }

  /* Task t's clock moves on by `cost_ns`. */
  private advance(t: number, cost_ns: number): void {
    const now_ns = this.clock_ns[t]! + cost_ns;
    this.clock_ns[t] = now_ns;
    this.now_ns = now_ns;
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

  /* ---- OpCore's hooks: what each access costs (the table at the top) ---- */

  /* What the step of k's pending access costs: its kernel function's. */
  protected begin(_t: number, k: KernelContext): void {
    const weights = this.weights;
    if (weights === null) {
      this.cur_step_ns = this.step_ns + this.crowded_ns;
      return;
    }
    let w = weights[k.frame];
    if (w === undefined) {
      w = this.costs.step_weights![frame_name(k.frame)] ?? 1;
      weights[k.frame] = w;
    }
    this.cur_step_ns = this.step_ns * w + this.crowded_ns;
  }

  /* An access of kind `kind` to the line of `addr`, plus the step. */
  protected touch(t: number, addr: number, _op: number, kind: number): void {
    const end_ns = this.cache.access(t, addr, this.clock_ns[t]!, kind) + this.cur_step_ns;
    this.clock_ns[t] = end_ns;
    this.now_ns = end_ns;
  }

  protected tick(t: number): void {
    this.advance(t, this.cur_step_ns);
  }

  protected annotate(t: number): void {
    this.advance(t, this.costs.annotation_ns);
  }

  protected bulk(t: number, k: KernelContext, n: number): void {
    const addr = k.addr;
    const write = k.op !== Op.MEMCHR_INV;
    let cost_ns = this.cur_step_ns + this.costs.word_ns * n + this.cache.bulk(t, addr, n, write);
    if (k.op === Op.MEMCPY) cost_ns += this.cache.bulk(t, k.a, n, false);
    this.advance(t, cost_ns);
  }

  protected allocated(t: number, k: KernelContext, obj: number): void {
    let now_ns = this.clock_ns[t]! + this.cur_step_ns + this.costs.alloc_ns;
    if (obj !== 0 && this.percpu) now_ns = this.percpu.alloc(this.cache, this.w, t, k.addr, now_ns);
    if (obj !== 0 && k.a & __GFP_ZERO) {
      const size = this.w[k.addr + KMEM_CACHE.object_size]!;
      now_ns += this.costs.word_ns * size + this.cache.bulk(t, obj, size, true);
    }
    this.clock_ns[t] = now_ns;
  }

  protected freed(t: number, _k: KernelContext, c: number): void {
    const now_ns = this.clock_ns[t]! + this.cur_step_ns + this.costs.alloc_ns;
    this.clock_ns[t] = this.percpu ? this.percpu.free(this.cache, this.w, t, c, now_ns) : now_ns;
  }

  /* The waker pays for the wake-up's work on its side once. */
  protected woke(t: number, woke: number): number {
    if (woke > 0) this.advance(t, this.costs.waker_ns);
    return woke;
  }

  /*
   * A woken task runs from the waking event on (or its own clock, if
   * later); a futex waiter pays wake_ns first. A released spinner re-reads
   * its word: that read misses and pays the transfer, so it sees the value
   * no earlier than now_ns + line_transfer_ns.
   */
  protected woken_up(t: number, futex: boolean): void {
    const at_ns = futex ? this.now_ns + this.costs.wake_ns : this.now_ns;
    if (futex) this.wakeups++;
    if (this.clock_ns[t]! < at_ns) this.clock_ns[t] = at_ns;
    this.pending[this.nr_pending++] = t;
  }
}

/*
 * The fields on the line from word `addr`, as describe_addr() names them,
 * an object's generation left out: `vm_area_struct@0x1a40.{vm_refcnt,vm_start}`.
 */
function describe_line(m: KernelMemory, percpu: PerCpuLists | null, addr: number): string {
  if (percpu && addr >= percpu.base) return percpu.describe(addr);
  const fields = new Map<string, string[]>();
  for (let a = addr; a < addr + L1_CACHE_WORDS && a < m.words.length; a++) {
    const name = describe_addr(m, a).replace(/ \(gen -?\d+\)$/, '');
    // A bare address, or padding inside an object, names nothing.
    if (name.startsWith('0x') || /\+\d+$/.test(name)) continue;
    const dot = name.indexOf('.');
    const [owner, field] = dot < 0 ? [name, ''] : [name.slice(0, dot), name.slice(dot + 1)];
    const list = fields.get(owner) ?? [];
    if (field && !list.includes(field)) list.push(field);
    fields.set(owner, list);
  }
  if (fields.size === 0) return hex(addr);
  return [...fields]
    .map(([owner, list]) => {
      if (list.length <= 1) return list.length === 0 ? owner : `${owner}.${list[0]}`;
      const shown = list.length > LINE_FIELDS ? [...list.slice(0, LINE_FIELDS), '…'] : list;
      return `${owner}.{${shown.join(',')}}`;
    })
    .join(' ');
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
