/*
 * The explore executor: one JS thread drives every task's generator; a
 * strategy picks which task performs its pending access next. Memory is
 * sequentially consistent; a blocked task (futex wait, a spin on a word)
 * is parked until a wake or a store to that word (op_core.ts). Everything
 * a run does is a function of the scenario, its configuration and the
 * strategy's choices, so a schedule (the list of choices) replays it bit
 * for bit.
 *
 * KASAN (kasan.ts) checks every access, since it is a property of memory.
 * Lock checking is a plug-in (LockChecker) called only at lock
 * annotations, data-race detection one (AccessChecker) called after each
 * access.
 */
import type { Kernel } from '../boot.js';
import { KMEM_CACHE, SLAB_TYPESAFE_BY_RCU } from '../heap.js';
import { DirtyMap } from '../memory.js';
import { KernelBug, type KernelContext, KStack, Op } from '../ops.js';
import { EXPLORER_MAX_TASKS, type RunConfig, type Scenario, task_stack } from '../scenario.js';
import { FOOTPRINT_SLOTS, footprint, footprints_dependent } from './footprint.js';
import { Kasan } from './kasan.js';
import { OpCore, PrologueBug, TASK_DONE, TASK_RUNNABLE } from './op_core.js';

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
  /** lockdep_assert_held(): `cls` the lock's class, `mode` LOCK_WRITE, LOCK_READ or LOCK_ANY. */
  assert_held(task: number, dep_map: number, cls: number, mode: number): void;
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

/* Up to this many tasks, collect_runnable() keeps an array per set of runnable tasks (2^n at most). */
const RUNNABLE_SETS_MAX_TASKS = 10;

interface ExploreOptions {
  /** Give up on a schedule after this many steps (a livelock). */
  readonly max_steps?: number;
  readonly lock_checker?: LockChecker;
  readonly access_checker?: AccessChecker;
}

export class ExploreExecutor extends OpCore implements ExploreView {
  private readonly snapshot: Int32Array;
  private readonly kasan: Kasan;
  /** The runnable tasks, ascending (collect_runnable()). */
  private runnable: readonly number[] = [];
  private runnable_dirty = true;
  /* Each set of runnable tasks seen, by its bit mask, while tasks are few enough to number the sets. */
  private readonly runnable_sets: (readonly number[] | undefined)[] | null;
  private choices: Uint8Array = new Uint8Array(1024);
  private readonly max_steps: number;
  private readonly locks: LockChecker | undefined;
  private readonly accesses: AccessChecker | undefined;
  private cpus_done = 0;
  private in_epilogue = false;
  last = -1;
  epoch = 0;
  private readonly fp_a = new Int32Array(FOOTPRINT_SLOTS);
  private readonly fp_b = new Int32Array(FOOTPRINT_SLOTS);
  private trace: StepRecord[] | null = null;
  /**
   * Where the prologue hit a bug: the outcome of every schedule, no step
   * taken, the bug found on cpu0 (a kernel that fails on a script's
   * setup, run alone, is reported as it would be in a race, not as the
   * scenario's failure).
   */
  private readonly prologue_failed: Outcome | null = null;

  constructor(kernel: Kernel, scenario: Scenario, cfg: RunConfig, opts: ExploreOptions = {}) {
    if (cfg.cpus + scenario.kthreads.length > EXPLORER_MAX_TASKS)
      throw new Error(`the explorer drives at most ${EXPLORER_MAX_TASKS} tasks`);
    super(kernel, scenario, cfg, true);
    this.runnable_sets = this.nr_tasks <= RUNNABLE_SETS_MAX_TASKS ? [] : null;
    this.kasan = new Kasan(this.m, this.sys, (t) => this.task_name(t));
    this.max_steps = opts.max_steps ?? 200_000;
    this.locks = opts.lock_checker;
    this.accesses = opts.access_checker;
    this.locks?.reset(this.nr_tasks);
    this.accesses?.reset(this.nr_tasks);
    // The prologue runs under the sanitizers; every schedule starts from the state it leaves.
    try {
      this.run_prologue();
    } catch (e) {
      if (!(e instanceof PrologueBug)) throw e;
      const where =
        "in the prologue: cpu0 alone, before any task starts; a script's setup runs there";
      this.prologue_failed = {
        bug: new KernelBug(e.bug.bug_class, `${e.bug.message} (${where})`),
        bug_task: 0,
        steps: 0,
        preemptions: 0,
        hash: 0,
        choices: new Uint8Array(0),
        pruned: false,
      };
    }
    this.kasan.prologue_done();
    this.snapshot = this.w.slice(0, this.m.used);
    this.m.dirty = new DirtyMap(this.w.length);
  }

  pending_op(task: number): number {
    return this.ctx[task]!.op;
  }

  pending_addr(task: number): number {
    return this.ctx[task]!.addr;
  }

  /* Back to the state the prologue left. */
  private reset(): void {
    // Read before the snapshot restores it: the bump pointer is in memory too.
    const used = this.m.used;
    this.m.dirty!.restore(this.w, this.snapshot);
    this.w.fill(0, this.snapshot.length, used);
    this.kasan.reset(used);
    this.reset_tasks();
    this.runnable_dirty = true;
    this.cpus_done = 0;
    this.in_epilogue = false;
    this.step = 0;
    this.last = -1;
    this.epoch = 0;
    this.locks?.reset(this.nr_tasks);
    this.accesses?.reset(this.nr_tasks);
  }

  /** Run one schedule. With `trace`, every step is recorded into it. */
  run(strategy: Strategy, trace: StepRecord[] | null = null): Outcome {
    if (this.prologue_failed) return this.prologue_failed;
    this.reset();
    this.trace = trace;
    for (const k of this.ctx) k.tracing = trace !== null;
    const run: ScheduleRun = { hash: 0x811c9dc5 | 0, preemptions: 0, bug_task: -1, pruned: false };
    let bug: KernelBug | null = null;
    try {
      this.start_tasks(run);
      bug = this.schedule(strategy, run);
      if (!bug && !run.pruned) {
        run.bug_task = -1;
        this.scenario.check(this.m, this.sys, this.globals, this.cfg);
      }
    } catch (e) {
      if (!(e instanceof KernelBug)) throw e;
      bug = e;
    }
    this.end_tasks();
    return {
      bug,
      bug_task: bug ? run.bug_task : -1,
      steps: this.step,
      preemptions: run.preemptions,
      hash: run.hash >>> 0,
      choices: this.choices.slice(0, this.step),
      pruned: run.pruned,
    };
  }

  /* Each task's code up to its first access (a task may end before any). */
  private start_tasks(run: ScheduleRun): void {
    for (let t = 0; t < this.nr_tasks; t++) {
      const gen = task_stack(this.scenario, this.ctx[t]!, this.globals, this.cfg);
      this.gens[t] = gen;
      run.bug_task = t;
      if (gen.next().done) this.finish(t);
    }
    run.bug_task = -1;
  }

  /* The tasks' generators closed, tracing off. */
  private end_tasks(): void {
    this.trace = null;
    // call() records its callers while any context traces (KStack.callers).
    for (const k of this.ctx) k.tracing = false;
    for (let t = 0; t < this.nr_tasks; t++) {
      this.gens[t]?.return();
      this.gens[t] = null;
    }
  }

  /* Step the tasks the strategy picks until all are done; a deadlock or livelock is returned. */
  private schedule(strategy: Strategy, run: ScheduleRun): KernelBug | null {
    const every_step = strategy.every_step === true;
    for (;;) {
      if (this.runnable_dirty) this.collect_runnable();
      const runnable = this.runnable;
      const n = runnable.length;
      if (n === 0) return this.all_done() ? null : this.no_runnable();
      // The epilogue is not explored: a woken kthread runs first, as in a sequential run.
      const t = this.in_epilogue
        ? runnable[n - 1]!
        : n === 1 && !every_step
          ? runnable[0]!
          : strategy.pick(runnable, this);
      if (this.in_epilogue) strategy.epilogue_step?.(t, this);
      if (t < 0) {
        run.pruned = true;
        return null;
      }
      if (this.state[t] !== TASK_RUNNABLE)
        throw new Error(`strategy ${strategy.name} picked task ${t}, which cannot run`);
      const last = this.last;
      if (t !== last && last >= 0 && this.state[last] === TASK_RUNNABLE && !this.in_epilogue)
        run.preemptions++;
      run.bug_task = t;
      this.step_task(t, run);
      if (this.step >= this.max_steps) {
        run.bug_task = -1;
        return new KernelBug(
          'livelock',
          `no progress: the schedule passed ${this.max_steps} steps`,
        );
      }
    }
  }

  /* Task t performs its pending access and runs on to its next one. */
  private step_task(t: number, run: ScheduleRun): void {
    this.choose(t);
    const k = this.ctx[t]!;
    const op = k.op;
    const addr = k.addr;
    // Recorded before the access, so a report shows the access that failed.
    const rec = this.trace ? this.record(t, k) : null;
    this.step++;
    const result = this.perform(t, k);
    const parked = this.parked;
    if (parked) this.runnable_dirty = true;
    else if (this.accesses) this.accesses.access(t, k, result, this.step - 1);
    if (rec) {
      rec.result = result;
      rec.parked = parked;
    }
    let hash = Math.imul(run.hash ^ (t | (op << 8)), 0x01000193);
    hash = Math.imul(hash ^ addr, 0x01000193);
    run.hash = Math.imul(hash ^ result, 0x01000193);
    if (!parked && this.gens[t]!.next(result).done) this.finish(t);
  }

  /* Record choice t at this step. */
  private choose(t: number): void {
    if (this.step >= this.choices.length) {
      const grown = new Uint8Array(this.choices.length * 2);
      grown.set(this.choices);
      this.choices = grown;
    }
    this.choices[this.step] = t;
    this.last = t;
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

  /*
   * The runnable tasks: the same array for the same set, kept once made
   * (while tasks are few), so that a park or a wake allocates nothing.
   */
  private collect_runnable(): void {
    this.runnable_dirty = false;
    const sets = this.runnable_sets;
    if (sets === null) {
      this.runnable = this.runnable_tasks();
      return;
    }
    let mask = 0;
    for (let t = 0; t < this.nr_tasks; t++) if (this.state[t] === TASK_RUNNABLE) mask |= 1 << t;
    this.runnable = sets[mask] ??= this.runnable_tasks();
  }

  private runnable_tasks(): number[] {
    const r: number[] = [];
    for (let t = 0; t < this.nr_tasks; t++) if (this.state[t] === TASK_RUNNABLE) r.push(t);
    return r;
  }

  private finish(t: number): void {
    this.state[t] = TASK_DONE;
    this.runnable_dirty = true;
    if (this.in_rcu(t)) {
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

  /* Stopping the kthreads reaches past any one access: reductions forget what they assumed. */
  protected override stop_kthreads(): void {
    this.epoch++;
    super.stop_kthreads();
  }

  /* Nobody can run: every live task sleeps or spins on a word nobody will change. */
  private no_runnable(): KernelBug {
    const lines: string[] = [];
    let holders = 0;
    for (let t = 0; t < this.nr_tasks; t++) {
      if (this.state[t] === TASK_DONE) continue;
      const held = this.locks?.held(t) ?? [];
      if (held.length > 0) holders++;
      lines.push(`${this.waits_for(t)}${held.length ? `, holding ${held.join(', ')}` : ''}`);
    }
    // Sleepers that hold locks wait on each other; sleepers that hold nothing were never woken.
    return holders > 0
      ? new KernelBug('deadlock', `deadlock: ${lines.join('; ')}`)
      : new KernelBug('lost-wakeup', `lost wake-up: ${lines.join('; ')}`);
  }

  /* ---- OpCore's hooks: KASAN and lockdep, no costs ---- */

  protected begin(): void {}

  protected touch(t: number, addr: number, op: number): void {
    this.kasan.check(t, addr, op);
  }

  protected tick(): void {}

  protected annotate(t: number, k: KernelContext): void {
    const locks = this.locks;
    if (!locks) return;
    if (k.op === Op.LOCK_ACQUIRE) locks.acquire(t, k.addr, this.w[k.addr]!, k.a, k.b !== 0);
    else if (k.op === Op.LOCK_RELEASE) locks.release(t, k.addr);
    else locks.assert_held(t, k.addr, this.w[k.addr]!, k.a);
  }

  protected bulk(t: number, k: KernelContext, n: number): void {
    const copy = k.op === Op.MEMCPY;
    for (let i = 0; i < n; i++) {
      this.kasan.check(t, k.addr + i, k.op);
      if (copy) this.kasan.check(t, k.a + i, k.op);
    }
  }

  protected allocated(t: number, k: KernelContext, obj: number): void {
    this.kasan.allocated(t, k, obj, this.step - 1);
  }

  protected freed(t: number, k: KernelContext, c: number): void {
    this.kasan.freed(t, k, c, this.step - 1);
  }

  protected woke(_t: number, woke: number): number {
    return woke;
  }

  protected woken_up(): void {
    this.runnable_dirty = true;
  }
}

/* What a schedule accumulates as it runs. */
interface ScheduleRun {
  /** FNV-1a over every step's task, access and result. */
  hash: number;
  preemptions: number;
  /** The task whose code runs now: a KernelBug escaping the schedule is its. */
  bug_task: number;
  /** The strategy abandoned the schedule. */
  pruned: boolean;
}
