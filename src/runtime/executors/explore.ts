/*
 * The explore executor: one JS thread drives every task's generator; a
 * strategy picks which task performs its pending access next. Memory is
 * sequentially consistent; a blocked task (futex wait, a spin on a word)
 * is parked until a wake or a store to that word. Everything a run does is
 * a function of the scenario, its configuration and the strategy's
 * choices, so a schedule (the list of choices) replays it bit for bit.
 *
 * KASAN lives here because it is a property of memory: a shadow byte per
 * word says whether the word belongs to a live object. Lock checking is a
 * plug-in (LockChecker) called only at lock annotations.
 */
import type { BootRecord, Kernel } from '../boot.js';
import {
  describe_addr,
  KMEM_CACHE,
  obj_generation,
  SLAB_TYPESAFE_BY_RCU,
  slab_alloc,
  slab_free,
  slab_object,
} from '../heap.js';
import type { KernelMemory } from '../memory.js';
import { fill_words, KernelBug, KernelContext, type KGen, KStack, OP_NAMES, Op } from '../ops.js';
import { __rcu_read_lock, __rcu_read_unlock } from '../rcu_reader.js';
import { instantiate, type RunConfig, type Scenario, task_name, task_stack } from '../scenario.js';
import { FOOTPRINT_SLOTS, footprint, footprints_dependent } from './footprint.js';

export const TASK_RUNNABLE = 0;
export const TASK_FUTEX = 1;
export const TASK_SPIN = 2;
export const TASK_DONE = 3;

/** What a strategy may look at when it chooses. */
export interface ExploreView {
  /** Steps taken so far in this schedule. */
  readonly step: number;
  /** The task that took the last step (-1 before the first). */
  readonly last: number;
  readonly nr_tasks: number;
  /** The pending access of a task: its op code and address. */
  pending_op(task: number): number;
  pending_addr(task: number): number;
  /** The name of an address: `struct.field` of its object. */
  describe(addr: number): string;
  /** Whether `addr` lies in a slab of a SLAB_TYPESAFE_BY_RCU cache. */
  typesafe(addr: number): boolean;
  /**
   * Whether the pending accesses of two tasks fail to commute: performed
   * in either order they may leave different states or results (same
   * word, one writes; a free and an access to the object; an allocation,
   * which may hand out any free object of its cache; a futex wake and a
   * wait on its word). Partial-order reduction prunes by it.
   */
  dependent(t1: number, t2: number): boolean;
  /** The words task t's pending access touches, into out[at ..]: see footprint(). */
  footprint(t: number, out: Int32Array, at: number): void;
  /**
   * Bumped by a step whose effects reach past its own access (the last
   * CPU ending stops the kthreads): reductions built on `dependent` must
   * forget what they assumed.
   */
  readonly epoch: number;
}

/** Chooses the interleaving. Random walk, PCT, DFS and replay implement it. */
export interface Strategy {
  readonly name: string;
  /** Prepare schedule number `i` (0, 1, ...); false when there are no more. */
  begin(i: number): boolean;
  /**
   * Pick one of `runnable` (ascending task ids, at least two unless
   * `every_step`) to step next, or -1 to abandon the schedule as one the
   * strategy has already covered (it ends with `pruned` set).
   */
  pick(runnable: readonly number[], view: ExploreView): number;
  /** Ask to pick at every step, forced ones too (to follow each access). */
  readonly every_step?: boolean;
  /** Told of each epilogue step (not the strategy's to choose) before it is performed. */
  epilogue_step?(task: number, view: ExploreView): void;
}

/** lockdep and friends: told of every lock annotation; throw KernelBug to report. */
export interface LockChecker {
  reset(nr_tasks: number): void;
  acquire(task: number, dep_map: number, cls: number, mode: number, trylock: boolean): void;
  release(task: number, dep_map: number): void;
  /** lockdep_assert_held(): `mode` is LOCK_WRITE, LOCK_READ or LOCK_ANY. */
  assert_held(task: number, dep_map: number, mode: number): void;
  /** Called when a task ends: locks it still holds are a bug. */
  task_exit(task: number): void;
  /** Locks `task` holds, described, for reports. */
  held(task: number): string[];
}

/** One step, as recorded when a run is traced. */
export interface StepRecord {
  readonly step: number;
  readonly task: number;
  readonly op: number;
  readonly addr: number;
  readonly a: number;
  readonly b: number;
  result: number;
  /** The task parked instead of completing the access. */
  parked: boolean;
  /** Kernel functions that made the access, innermost first. */
  readonly where: readonly string[];
}

export interface Outcome {
  readonly bug: KernelBug | null;
  /** Task whose step found the bug (-1 for a global failure such as a deadlock). */
  readonly bug_task: number;
  readonly steps: number;
  readonly preemptions: number;
  /** Hash of every step's task, access and result. */
  readonly hash: number;
  /** The task chosen at each step. */
  readonly choices: Uint8Array;
  /** The strategy abandoned the schedule before its end (nothing was checked). */
  readonly pruned: boolean;
}

/* Shadow bytes, one per word of kernel memory. */
const SHADOW_INVALID = 0;
const SHADOW_LIVE = 1;
const SHADOW_FREED = 2;
const SHADOW_FREED_TYPESAFE = 3;

interface AllocInfo {
  /** Made by the scenario's prologue, before the schedule's first step. */
  prologue?: boolean;
  site: string;
  task: number;
  step: number;
  gen: number;
  free_site?: string;
  free_task?: number;
  free_step?: number;
}

/**
 * Sanitizers that look at every performed access (the data-race
 * detector): told of each access once it is performed; throw KernelBug
 * to report.
 */
export interface AccessChecker {
  reset(nr_tasks: number): void;
  /** Task `t` performed the access described by `k` (op, addr, operands) with `result`. */
  access(t: number, k: KernelContext, result: number, step: number): void;
  /** Task `into` goes on after task `from` ended: everything `from` did happens before. */
  join(into: number, from: number): void;
}

export interface ExploreOptions {
  /** Give up on a schedule after this many steps (a livelock). */
  readonly max_steps?: number;
  readonly lock_checker?: LockChecker;
  readonly access_checker?: AccessChecker;
}

export class ExploreExecutor implements ExploreView {
  readonly m: KernelMemory;
  readonly sys: BootRecord;
  readonly globals: unknown;
  readonly nr_tasks: number;
  private readonly w: Int32Array;
  private readonly snapshot: Int32Array;
  private readonly shadow: Uint8Array;
  private readonly shadow_snapshot: Uint8Array;
  private readonly ctx: KernelContext[] = [];
  private readonly gens: (KStack | null)[] = [];
  private readonly state: Uint8Array;
  /** A parked futex waiter was woken: its FUTEX_WAIT returns 0 when it next runs. */
  private readonly woken: Uint8Array;
  private readonly rcu_nesting: Int32Array;
  private readonly runnable: number[] = [];
  private runnable_dirty = true;
  private readonly futexq = new Map<number, number[]>();
  private readonly spinq = new Map<number, number[]>();
  private nr_spinning = 0;
  private choices: Uint8Array = new Uint8Array(1024);
  private readonly allocs = new Map<number, AllocInfo>();
  private readonly max_steps: number;
  private readonly locks: LockChecker | undefined;
  private readonly accesses: AccessChecker | undefined;
  private parked = false;
  private cpus_done = 0;
  private in_epilogue = false;
  step = 0;
  last = -1;
  epoch = 0;
  private readonly fp_a = new Int32Array(FOOTPRINT_SLOTS);
  private readonly fp_b = new Int32Array(FOOTPRINT_SLOTS);
  /** Allocations made by the scenario's prologue: part of every schedule's start. */
  private readonly prologue_allocs = new Map<number, AllocInfo>();
  private trace: StepRecord[] | null = null;

  constructor(
    kernel: Kernel,
    readonly scenario: Scenario,
    readonly cfg: RunConfig,
    opts: ExploreOptions = {},
  ) {
    if (cfg.cpus + scenario.kthreads.length > 255)
      throw new Error('the explorer drives at most 255 tasks');
    ({
      nr_tasks: this.nr_tasks,
      m: this.m,
      sys: this.sys,
      globals: this.globals,
    } = instantiate(kernel, scenario, cfg));
    this.w = this.m.words;
    this.shadow = new Uint8Array(this.w.length);
    for (const s of this.m.symbols) this.shadow.fill(SHADOW_LIVE, s.addr, s.addr + s.info.size);
    for (let t = 0; t < this.nr_tasks; t++) {
      this.ctx.push(new KernelContext(this.sys, t, cfg.policy, cfg.variant, true));
      this.gens.push(null);
    }
    this.state = new Uint8Array(this.nr_tasks);
    this.woken = new Uint8Array(this.nr_tasks);
    this.rcu_nesting = new Int32Array(this.nr_tasks);
    this.max_steps = opts.max_steps ?? 200_000;
    this.locks = opts.lock_checker;
    this.accesses = opts.access_checker;
    this.locks?.reset(this.nr_tasks);
    this.accesses?.reset(this.nr_tasks);
    if (scenario.prologue) this.run_prologue(scenario.prologue(this.ctx[0]!, this.globals, cfg));
    this.snapshot = this.w.slice(0, this.m.used);
    this.shadow_snapshot = this.shadow.slice(0, this.m.used);
  }

  /*
   * The prologue runs once, on cpu0 alone, under the sanitizers; every
   * schedule then starts from the state it leaves. Nothing else runs, so
   * it must not wait for anyone.
   */
  private run_prologue(code: KGen): void {
    const k = this.ctx[0]!;
    const gen = new KStack(code, k);
    try {
      for (let r = gen.next(); !r.done; r = gen.next(this.perform(0, k))) {
        if (this.parked)
          throw new Error(
            `${this.scenario.name}: the prologue waits (${OP_NAMES[k.op]} on ${this.describe(k.addr)}) with no other task to wake it`,
          );
        this.step++;
      }
    } catch (e) {
      if (e instanceof KernelBug)
        throw new Error(`${this.scenario.name}: the prologue failed: ${e.message}`);
      throw e;
    }
    if (this.rcu_nesting[0] !== 0)
      throw new Error(`${this.scenario.name}: the prologue ends inside rcu_read_lock()`);
    for (const [obj, info] of this.allocs)
      this.prologue_allocs.set(obj, { ...info, prologue: true });
    this.allocs.clear();
    this.step = 0;
  }

  pending_op(task: number): number {
    return this.ctx[task]!.op;
  }

  pending_addr(task: number): number {
    return this.ctx[task]!.addr;
  }

  /* Back to the state right after setup(). */
  private reset(): void {
    const used = this.m.used;
    this.w.set(this.snapshot);
    this.w.fill(0, this.snapshot.length, used);
    this.shadow.set(this.shadow_snapshot);
    this.shadow.fill(SHADOW_INVALID, this.shadow_snapshot.length, used);
    this.state.fill(TASK_RUNNABLE);
    this.woken.fill(0);
    this.rcu_nesting.fill(0);
    this.futexq.clear();
    this.spinq.clear();
    this.nr_spinning = 0;
    this.allocs.clear();
    this.runnable_dirty = true;
    this.cpus_done = 0;
    this.in_epilogue = false;
    this.step = 0;
    this.last = -1;
    this.epoch = 0;
    this.locks?.reset(this.nr_tasks);
    this.accesses?.reset(this.nr_tasks);
  }

  /* The allocation record of object `obj`, made in this schedule or by the prologue. */
  private alloc_info(obj: number): AllocInfo | undefined {
    return this.allocs.get(obj) ?? this.prologue_allocs.get(obj);
  }

  /** Run one schedule. With `trace`, every step is recorded into it. */
  run(strategy: Strategy, trace: StepRecord[] | null = null): Outcome {
    this.reset();
    this.trace = trace;
    for (const k of this.ctx) k.tracing = trace !== null;
    let hash = 0x811c9dc5 | 0;
    let preemptions = 0;
    let bug: KernelBug | null = null;
    let bug_task = -1;
    let pruned = false;
    const { scenario, cfg } = this;
    const every_step = strategy.every_step === true;
    try {
      for (let t = 0; t < this.nr_tasks; t++) {
        const gen = task_stack(scenario, this.ctx[t]!, this.globals, cfg);
        this.gens[t] = gen;
        bug_task = t;
        if (gen.next().done) this.finish(t);
      }
      bug_task = -1;
      const runnable = this.runnable;
      for (;;) {
        if (this.runnable_dirty) this.collect_runnable();
        const n = runnable.length;
        if (n === 0) {
          if (this.all_done()) break;
          bug = this.no_runnable();
          break;
        }
        // The epilogue is not explored: a woken kthread runs first, as in a sequential run.
        const t = this.in_epilogue
          ? runnable[n - 1]!
          : n === 1 && !every_step
            ? runnable[0]!
            : strategy.pick(runnable, this);
        if (this.in_epilogue) strategy.epilogue_step?.(t, this);
        if (t < 0) {
          pruned = true;
          break;
        }
        if (this.state[t] !== TASK_RUNNABLE)
          throw new Error(`strategy ${strategy.name} picked task ${t}, which cannot run`);
        if (
          t !== this.last &&
          this.last >= 0 &&
          this.state[this.last] === TASK_RUNNABLE &&
          !this.in_epilogue
        )
          preemptions++;
        if (this.step >= this.choices.length) {
          const grown = new Uint8Array(this.choices.length * 2);
          grown.set(this.choices);
          this.choices = grown;
        }
        this.choices[this.step] = t;
        this.last = t;
        bug_task = t;
        const k = this.ctx[t]!;
        const op = k.op;
        const addr = k.addr;
        // Recorded before the access, so a report shows the access that failed.
        const rec = this.trace ? this.record(t, k) : null;
        this.step++;
        this.parked = false;
        const result = this.perform(t, k);
        if (this.accesses && !this.parked) this.accesses.access(t, k, result, this.step - 1);
        if (rec) {
          rec.result = result;
          rec.parked = this.parked;
        }
        hash = Math.imul(hash ^ (t | (op << 8)), 0x01000193);
        hash = Math.imul(hash ^ addr, 0x01000193);
        hash = Math.imul(hash ^ result, 0x01000193);
        if (!this.parked && this.gens[t]!.next(result).done) this.finish(t);
        if (this.step >= this.max_steps) {
          bug = new KernelBug(
            'livelock',
            `no progress: the schedule passed ${this.max_steps} steps`,
          );
          bug_task = -1;
          break;
        }
      }
      if (!bug && !pruned) {
        bug_task = -1;
        scenario.check(this.m, this.sys, this.globals, cfg);
      }
    } catch (e) {
      if (!(e instanceof KernelBug)) throw e;
      bug = e;
    }
    this.trace = null;
    // call() records its callers while any context traces (KStack.callers).
    for (const k of this.ctx) k.tracing = false;
    for (let t = 0; t < this.nr_tasks; t++) {
      this.gens[t]?.return();
      this.gens[t] = null;
    }
    return {
      bug,
      bug_task: bug ? bug_task : -1,
      steps: this.step,
      preemptions,
      hash: hash >>> 0,
      choices: this.choices.slice(0, this.step),
      pruned,
    };
  }

  dependent(t1: number, t2: number): boolean {
    const x = this.fp_a;
    const y = this.fp_b;
    footprint(this.ctx[t1]!, this.w, x);
    footprint(this.ctx[t2]!, this.w, y);
    return footprints_dependent(x, y);
  }

  footprint(t: number, out: Int32Array, at: number): void {
    footprint(this.ctx[t]!, this.w, out, at);
  }

  typesafe(addr: number): boolean {
    const c = addr >>> 0 < this.w.length ? this.m.page_cache(addr) : 0;
    return c !== 0 && (this.w[c + KMEM_CACHE.flags]! & SLAB_TYPESAFE_BY_RCU) !== 0;
  }
  private record(t: number, k: KernelContext): StepRecord {
    const rec: StepRecord = {
      step: this.step,
      task: t,
      op: k.op,
      addr: k.addr,
      a: k.a,
      b: k.b,
      result: 0,
      parked: false,
      where: k.backtrace,
    };
    this.trace!.push(rec);
    return rec;
  }

  private all_done(): boolean {
    for (let t = 0; t < this.nr_tasks; t++) if (this.state[t] !== TASK_DONE) return false;
    return true;
  }

  private collect_runnable(): void {
    const r = this.runnable;
    r.length = 0;
    for (let t = 0; t < this.nr_tasks; t++) if (this.state[t] === TASK_RUNNABLE) r.push(t);
    this.runnable_dirty = false;
  }

  private finish(t: number): void {
    this.state[t] = TASK_DONE;
    this.runnable_dirty = true;
    if (this.rcu_nesting[t] !== 0) {
      throw new KernelBug(
        'rcu',
        `task ${this.task_name(t)} ended inside an RCU read-side critical section`,
      );
    }
    this.locks?.task_exit(t);
    if (this.in_epilogue) {
      if (t === 0) {
        this.in_epilogue = false;
        this.stop_kthreads();
      }
    } else if (t < this.cfg.cpus && ++this.cpus_done === this.cfg.cpus) {
      this.cpus_finished();
    }
  }

  /* Every CPU is done: cpu0 runs the epilogue (kthreads still up), then kthreads stop. */
  private cpus_finished(): void {
    const epilogue = this.scenario.epilogue;
    if (!epilogue) {
      this.stop_kthreads();
      return;
    }
    for (let t = 1; t < this.cfg.cpus; t++) this.accesses?.join(0, t);
    const gen = new KStack(epilogue(this.ctx[0]!, this.globals, this.cfg), this.ctx[0]!);
    this.gens[0] = gen;
    this.state[0] = TASK_RUNNABLE;
    this.in_epilogue = true;
    if (gen.next().done) this.finish(0);
  }

  /* kthread_stop() of every kthread, once every CPU is done. */
  private stop_kthreads(): void {
    this.epoch++;
    for (const kt of this.scenario.kthreads) {
      const { flag, kick } = kt.stop(this.sys);
      this.w[flag] = 1;
      this.w[kick] = (this.w[kick]! + 1) | 0;
      this.wake_futex(kick, 0x7fffffff);
    }
  }

  /* Nobody can run: every live task sleeps or spins on a word nobody will change. */
  private no_runnable(): KernelBug {
    const lines: string[] = [];
    let holders = 0;
    for (let t = 0; t < this.nr_tasks; t++) {
      if (this.state[t] === TASK_DONE) continue;
      const k = this.ctx[t]!;
      const held = this.locks?.held(t) ?? [];
      if (held.length > 0) holders++;
      const how = this.state[t] === TASK_FUTEX ? 'sleeps in futex_wait on' : 'spins on';
      lines.push(
        `${this.task_name(t)} ${how} ${this.describe(k.addr)}${held.length ? `, holding ${held.join(', ')}` : ''}`,
      );
    }
    // Sleepers that hold locks wait on each other; sleepers that hold nothing were never woken.
    return holders > 0
      ? new KernelBug('deadlock', `deadlock: ${lines.join('; ')}`)
      : new KernelBug('lost-wakeup', `lost wake-up: ${lines.join('; ')}`);
  }

  task_name(t: number): string {
    return task_name(this.scenario, this.cfg, t);
  }

  /** Name an address: boot object field, or slab object with its generation. */
  describe(addr: number): string {
    return describe_addr(this.m, addr);
  }

  private kasan(t: number, addr: number, op: number): void {
    const s = this.shadow[addr];
    if (s === SHADOW_LIVE) return;
    if (s === SHADOW_FREED_TYPESAFE && this.rcu_nesting[t]! > 0) return;
    this.kasan_report(t, addr, op, s ?? SHADOW_INVALID);
  }

  private kasan_report(t: number, addr: number, op: number, s: number): never {
    const access = `${OP_NAMES[op]} of ${this.describe(addr)} by ${this.task_name(t)}`;
    if (addr >>> 0 < 64 || addr >= this.w.length)
      throw new KernelBug('null-ptr-deref', `KASAN: null-ptr-deref or wild access: ${access}`);
    const so = slab_object(this.m, addr);
    const info = so ? this.alloc_info(so.obj) : undefined;
    const sites = info
      ? `; allocated by ${info.prologue ? 'the prologue' : this.task_name(info.task)} in ${info.site}${info.prologue ? '' : ` at step ${info.step}`}` +
        (info.free_site
          ? `; freed by ${this.task_name(info.free_task!)} in ${info.free_site} at step ${info.free_step}`
          : '')
      : '';
    if (s === SHADOW_FREED)
      throw new KernelBug('use-after-free', `KASAN: use-after-free: ${access}${sites}`);
    if (s === SHADOW_FREED_TYPESAFE) {
      throw new KernelBug(
        'use-after-free',
        `KASAN: use-after-free of a SLAB_TYPESAFE_BY_RCU object outside an RCU read-side section: ${access}${sites}`,
      );
    }
    throw new KernelBug(
      'out-of-bounds',
      `KASAN: access to memory no object owns: ${access}${sites}`,
    );
  }

  private wake_spinners(addr: number): void {
    const q = this.spinq.get(addr);
    if (!q) return;
    this.spinq.delete(addr);
    this.nr_spinning -= q.length;
    for (const t of q) this.state[t] = TASK_RUNNABLE;
    this.runnable_dirty = true;
  }

  private wake_futex(addr: number, n: number): number {
    const q = this.futexq.get(addr);
    if (!q) return 0;
    let woke = 0;
    while (woke < n && q.length > 0) {
      const t = q.shift()!;
      this.state[t] = TASK_RUNNABLE;
      this.woken[t] = 1;
      woke++;
    }
    if (q.length === 0) this.futexq.delete(addr);
    if (woke) this.runnable_dirty = true;
    return woke;
  }

  private park(t: number, q: Map<number, number[]>, addr: number, state: number): number {
    const list = q.get(addr);
    if (list) list.push(t);
    else q.set(addr, [t]);
    this.state[t] = state;
    this.runnable_dirty = true;
    this.parked = true;
    return 0;
  }

  /* Perform task t's pending access; the one place that touches memory. */
  private perform(t: number, k: KernelContext): number {
    const w = this.w;
    const addr = k.addr;
    const op = k.op;
    switch (op) {
      case Op.LOAD:
      case Op.READ_ONCE:
      case Op.LOAD_ACQUIRE:
        this.kasan(t, addr, op);
        return w[addr]!;
      case Op.STORE:
      case Op.WRITE_ONCE:
      case Op.STORE_RELEASE:
        this.kasan(t, addr, op);
        w[addr] = k.a;
        if (this.nr_spinning) this.wake_spinners(addr);
        return 0;
      case Op.CMPXCHG: {
        this.kasan(t, addr, op);
        const old = w[addr]!;
        if (old === k.a) {
          w[addr] = k.b;
          if (this.nr_spinning) this.wake_spinners(addr);
        }
        return old;
      }
      case Op.XCHG:
      case Op.FETCH_ADD:
      case Op.FETCH_OR:
      case Op.FETCH_AND: {
        this.kasan(t, addr, op);
        const old = w[addr]!;
        w[addr] =
          op === Op.XCHG
            ? k.a
            : op === Op.FETCH_ADD
              ? (old + k.a) | 0
              : op === Op.FETCH_OR
                ? old | k.a
                : old & k.a;
        if (this.nr_spinning) this.wake_spinners(addr);
        return old;
      }
      case Op.COND_LOAD_NE: {
        this.kasan(t, addr, op);
        const v = w[addr]!;
        if (v !== k.a) return v;
        this.nr_spinning++;
        return this.park(t, this.spinq, addr, TASK_SPIN);
      }
      case Op.FUTEX_WAIT: {
        if (this.woken[t]) {
          this.woken[t] = 0;
          return 0;
        }
        this.kasan(t, addr, op);
        if (w[addr] !== k.a) return 1;
        if (this.rcu_nesting[t]! > 0) {
          throw new KernelBug(
            'sleep-in-atomic',
            `BUG: sleeping function called from invalid context: ${this.task_name(t)} sleeps inside an RCU read-side critical section`,
          );
        }
        return this.park(t, this.futexq, addr, TASK_FUTEX);
      }
      case Op.FUTEX_WAKE:
        return this.wake_futex(addr, k.a);
      case Op.RCU_READ_LOCK:
        __rcu_read_lock(w, this.sys.rcu_data[t]!);
        this.rcu_nesting[t]!++;
        return 0;
      case Op.RCU_READ_UNLOCK: {
        const wake = __rcu_read_unlock(w, this.sys.rcu_data[t]!, this.sys.rcu_gp_waiting);
        if (wake < 0)
          throw new KernelBug(
            'rcu',
            `rcu_read_unlock() without rcu_read_lock() by ${this.task_name(t)}`,
          );
        this.rcu_nesting[t]!--;
        if (wake > 0) this.wake_futex(wake, 0x7fffffff);
        return 0;
      }
      case Op.LOCK_ACQUIRE:
        this.locks?.acquire(t, addr, w[addr]!, k.a, k.b !== 0);
        return 0;
      case Op.LOCK_RELEASE:
        this.locks?.release(t, addr);
        return 0;
      case Op.ASSERT_HELD:
        this.locks?.assert_held(t, addr, k.a);
        return 0;
      case Op.MEMCPY:
      case Op.MEMSET: {
        const n = k.b;
        for (let i = 0; i < n; i++) {
          this.kasan(t, addr + i, op);
          if (op === Op.MEMCPY) this.kasan(t, k.a + i, op);
        }
        if (op === Op.MEMCPY) w.copyWithin(addr, k.a, k.a + n);
        else fill_words(w, addr, k.a, n, k.c);
        if (this.nr_spinning) for (let i = 0; i < n; i++) this.wake_spinners(addr + i);
        return 0;
      }
      case Op.ALLOC: {
        const obj = slab_alloc(this.m, addr, k.a);
        if (obj !== 0) {
          this.shadow.fill(SHADOW_LIVE, obj, obj + w[addr + KMEM_CACHE.object_size]!);
          this.allocs.set(obj, {
            site: k.site,
            task: t,
            step: this.step - 1,
            gen: obj_generation(w, obj),
          });
        }
        return obj;
      }
      case Op.FREE: {
        const c = slab_free(this.m, addr, k.a, t);
        const typesafe = (w[c + KMEM_CACHE.flags]! & SLAB_TYPESAFE_BY_RCU) !== 0;
        this.shadow.fill(
          typesafe ? SHADOW_FREED_TYPESAFE : SHADOW_FREED,
          addr,
          addr + w[c + KMEM_CACHE.object_size]!,
        );
        const info = this.alloc_info(addr);
        if (info) {
          this.allocs.set(addr, {
            ...info,
            free_site: k.site,
            free_task: t,
            free_step: this.step - 1,
          });
        }
        return 0;
      }
      default:
        throw new KernelBug('BUG', `unknown op ${op} yielded by ${this.task_name(t)}`);
    }
  }
}
