/*
 * One core of op semantics. What each op does to kernel memory and to
 * the tasks (a load's value, a store, a read-modify-write, memcpy and
 * memset, a slab allocation or free, the RCU reader side, a futex wait or
 * wake, a spin on a word) is written once, in OpCore.perform(), for the
 * executors that run every task on one JS thread over sequentially
 * consistent memory: the explorer (explore.ts) and the simulated
 * multicore (timing.ts). What differs between them is a hook: the
 * explorer checks each access against KASAN's shadow and lockdep, the
 * timing executor charges each access to its task's clock.
 *
 * The native executor (native_worker.ts) performs the same ops with
 * Atomics across worker threads, where a load-compute-store would not be
 * atomic; it shares this file's pure parts: rmw_result() and the kernel
 * faults every executor reports alike (unknown_op(),
 * rcu_unlock_unbalanced()).
 *
 * A blocked task is parked on a wait queue of its word: a futex waiter
 * until a FUTEX_WAKE of the word (its FUTEX_WAIT then returns 0), a
 * spinner (COND_LOAD_NE) until any store to the word (it then re-reads it).
 */
import type { BootRecord, Kernel } from '../boot.js';
import { describe_addr, slab_alloc, slab_free } from '../heap.js';
import type { KernelMemory } from '../memory.js';
import {
  fill_words,
  KernelBug,
  KernelContext,
  KStack,
  memchr_inv_read,
  memchr_inv_words,
  OP_NAMES,
  Op,
} from '../ops.js';
import { __rcu_read_lock, __rcu_read_unlock, RCU_DATA } from '../rcu_reader.js';
import { instantiate, type RunConfig, type Scenario, task_name } from '../scenario.js';
import { ACCESS_READ, ACCESS_RMW, ACCESS_WRITE } from './cache_model.js';

export const TASK_RUNNABLE = 0;
const TASK_FUTEX = 1;
const TASK_SPIN = 2;
export const TASK_DONE = 3;

export const NO_TASK = -1;
/** A FUTEX_WAKE's count that wakes every waiter. */
const WAKE_ALL = 0x7fffffff;

/** The new value of an XCHG or FETCH_* of `old` with operand `a`. */
export function rmw_result(op: number, old: number, a: number): number {
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

/** A task yielded an op no executor knows. */
export function unknown_op(op: number, who: string): KernelBug {
  return new KernelBug('BUG', `unknown op ${op} yielded by ${who}`);
}

/**
 * A kernel bug in a scenario's prologue (a script's setup): thrown by
 * run_prologue(). The explorer reports it as the bug of every schedule;
 * a measuring executor cannot measure from a state that is not there.
 */
export class PrologueBug extends Error {
  constructor(
    scenario: string,
    readonly bug: KernelBug,
  ) {
    super(`${scenario}: the prologue failed: ${bug.message}`);
    this.name = 'PrologueBug';
  }
}

/** rcu_read_unlock() outside any read-side section. */
export function rcu_unlock_unbalanced(who: string): KernelBug {
  return new KernelBug('rcu', `rcu_read_unlock() without rcu_read_lock() by ${who}`);
}

/*
 * The tasks parked on words, FIFO per word: one list of (word, task) in
 * the order they parked, so that parking and waking allocate nothing and a
 * schedule's reset is one store. A task is parked at most once, so the
 * list holds at most nr_tasks entries; a wake scans the parked ones only.
 */
class WaitQueues {
  private readonly addr: Int32Array;
  private readonly task: Int32Array;
  private len = 0;

  constructor(nr_tasks: number) {
    this.addr = new Int32Array(nr_tasks);
    this.task = new Int32Array(nr_tasks);
  }

  push(addr: number, t: number): void {
    this.addr[this.len] = addr;
    this.task[this.len] = t;
    this.len++;
  }

  /** Take the first waiter on `addr`, or NO_TASK. */
  shift(addr: number): number {
    const a = this.addr;
    const q = this.task;
    const len = this.len;
    for (let i = 0; i < len; i++) {
      if (a[i] !== addr) continue;
      const t = q[i]!;
      for (let j = i + 1; j < len; j++) {
        a[j - 1] = a[j]!;
        q[j - 1] = q[j]!;
      }
      this.len = len - 1;
      return t;
    }
    return NO_TASK;
  }

  clear(): void {
    this.len = 0;
  }
}

/**
 * A scenario instantiated for a single-threaded executor, and the op
 * semantics over its memory. Subclasses drive the tasks and implement the
 * hooks, each called at one point of perform() (see there).
 */
export abstract class OpCore {
  readonly nr_tasks: number;
  readonly m: KernelMemory;
  readonly sys: BootRecord;
  readonly globals: unknown;
  protected readonly w: Int32Array;
  protected readonly ctx: KernelContext[] = [];
  protected readonly gens: (KStack | null)[] = [];
  /** TASK_* of each task. */
  protected readonly state: Uint8Array;
  /** A parked futex waiter was woken: its FUTEX_WAIT returns 0 when it next runs. */
  protected readonly woken: Uint8Array;
  protected readonly futexq: WaitQueues;
  protected readonly spinq: WaitQueues;
  protected nr_spinning = 0;
  /** The step just performed parked its task instead of completing its access. */
  protected parked = false;
  /** Steps begun in this run (the explorer's: in this schedule, or in the prologue). */
  step = 0;

  constructor(
    kernel: Kernel,
    readonly scenario: Scenario,
    readonly cfg: RunConfig,
    /** CONFIG_LOCKDEP: whether the tasks yield lock annotations. */
    lockdep: boolean,
  ) {
    ({
      nr_tasks: this.nr_tasks,
      m: this.m,
      sys: this.sys,
      globals: this.globals,
    } = instantiate(kernel, scenario, cfg));
    const n = this.nr_tasks;
    this.w = this.m.words;
    for (let t = 0; t < n; t++) {
      this.ctx.push(new KernelContext(this.sys, t, cfg.policy, cfg.variant, lockdep));
      this.gens.push(null);
    }
    this.state = new Uint8Array(n);
    this.woken = new Uint8Array(n);
    this.futexq = new WaitQueues(n);
    this.spinq = new WaitQueues(n);
  }

  task_name(t: number): string {
    return task_name(this.scenario, this.cfg, t);
  }

  /** Name an address: boot object field, or slab object with its generation. */
  describe(addr: number): string {
    return describe_addr(this.m, addr);
  }

  /** Whether task t is inside an RCU read-side critical section. */
  protected in_rcu(t: number): boolean {
    return this.w[this.sys.rcu_data[t]! + RCU_DATA.nesting]! > 0;
  }

  /* Back to no task parked or woken, every task runnable. */
  protected reset_tasks(): void {
    this.state.fill(TASK_RUNNABLE);
    this.woken.fill(0);
    this.futexq.clear();
    this.spinq.clear();
    this.nr_spinning = 0;
  }

  /* ---- the hooks ---- */

  /** Task t is about to perform k's access. */
  protected abstract begin(t: number, k: KernelContext): void;
  /** Task t's access `op` of the word `addr`, of ACCESS_READ, _WRITE or _RMW, before it is performed. */
  protected abstract touch(t: number, addr: number, op: number, kind: number): void;
  /** Task t's step that touches no word of its own (a wake, the RCU reader side, a woken wait). */
  protected abstract tick(t: number): void;
  /** Task t's lock annotation k (LOCK_ACQUIRE, LOCK_RELEASE, ASSERT_HELD). */
  protected abstract annotate(t: number, k: KernelContext): void;
  /** Task t's MEMCPY, MEMSET or MEMCHR_INV k of `n` words at k.addr, before it is performed. */
  protected abstract bulk(t: number, k: KernelContext, n: number): void;
  /** Task t's ALLOC k handed out `obj` (0: -ENOMEM). */
  protected abstract allocated(t: number, k: KernelContext, obj: number): void;
  /** Task t's FREE k freed its object into cache `c`. */
  protected abstract freed(t: number, k: KernelContext, c: number): void;
  /** Task t's step woke `woke` futex waiters; returns `woke`. */
  protected abstract woke(t: number, woke: number): number;
  /** Parked task t was made runnable: by a futex wake, or by a store to the word it spins on. */
  protected abstract woken_up(t: number, futex: boolean): void;

  /* ---- parking and waking ---- */

  private park(t: number, q: WaitQueues, addr: number, state: number): number {
    q.push(addr, t);
    this.state[t] = state;
    this.parked = true;
    return 0;
  }

  /** A store to `addr` releases the tasks spinning on it; they re-read it when they next run. */
  protected wake_spinners(addr: number): void {
    for (let t = this.spinq.shift(addr); t !== NO_TASK; t = this.spinq.shift(addr)) {
      this.nr_spinning--;
      this.state[t] = TASK_RUNNABLE;
      this.woken_up(t, false);
    }
  }

  /** Wake up to `n` futex waiters on `addr`, first parked first; returns how many woke. */
  protected wake_futex(addr: number, n: number): number {
    let woke = 0;
    while (woke < n) {
      const t = this.futexq.shift(addr);
      if (t === NO_TASK) break;
      this.state[t] = TASK_RUNNABLE;
      this.woken[t] = 1;
      this.woken_up(t, true);
      woke++;
    }
    return woke;
  }

  /* kthread_stop() of every kthread, once every CPU is done. */
  protected stop_kthreads(): void {
    const w = this.w;
    for (const kt of this.scenario.kthreads) {
      const { flag, kick } = kt.stop(this.sys);
      w[flag] = 1;
      w[kick] = (w[kick]! + 1) | 0;
      this.m.dirty?.mark(flag);
      this.m.dirty?.mark(kick);
      if (this.nr_spinning) {
        this.wake_spinners(flag);
        this.wake_spinners(kick);
      }
      this.wake_futex(kick, WAKE_ALL);
    }
  }

  protected all_done(): boolean {
    for (let t = 0; t < this.nr_tasks; t++) if (this.state[t] !== TASK_DONE) return false;
    return true;
  }

  /** What blocked task t waits for, for a deadlock's report. */
  protected waits_for(t: number): string {
    const how = this.state[t] === TASK_FUTEX ? 'sleeps in futex_wait on' : 'spins on';
    return `${this.task_name(t)} ${how} ${this.describe(this.ctx[t]!.addr)}`;
  }

  /*
   * The prologue runs on cpu0 alone, before any task starts: it builds the
   * state every run starts from. Nothing else runs, so it must not wait
   * for anyone.
   */
  protected run_prologue(): void {
    const { scenario, cfg } = this;
    if (!scenario.prologue) return;
    const k = this.ctx[0]!;
    const gen = new KStack(scenario.prologue(k, this.globals, cfg), k);
    try {
      for (let r = gen.next(); !r.done; r = gen.next(this.perform(0, k))) {
        if (this.parked)
          throw new Error(
            `${scenario.name}: the prologue waits (${OP_NAMES[k.op]} on ${this.describe(k.addr)}) with no other task to wake it`,
          );
        this.step++;
      }
    } catch (e) {
      if (e instanceof KernelBug) throw new PrologueBug(scenario.name, e);
      throw e;
    }
    if (this.in_rcu(0))
      throw new Error(`${scenario.name}: the prologue ends inside rcu_read_lock()`);
  }

  /* ---- the access ---- */

  /** Perform task t's pending access k: the one place that touches memory. */
  protected perform(t: number, k: KernelContext): number {
    const w = this.w;
    const addr = k.addr;
    const op = k.op;
    this.parked = false;
    this.begin(t, k);
    switch (op) {
      case Op.LOAD:
      case Op.READ_ONCE:
      case Op.LOAD_ACQUIRE:
        this.touch(t, addr, op, ACCESS_READ);
        return w[addr]!;
      case Op.STORE:
      case Op.WRITE_ONCE:
      case Op.STORE_RELEASE:
        this.touch(t, addr, op, ACCESS_WRITE);
        w[addr] = k.a;
        this.m.dirty?.mark(addr);
        if (this.nr_spinning) this.wake_spinners(addr);
        return 0;
      case Op.CMPXCHG: {
        // A failed cmpxchg takes the line exclusive too (x86's lock cmpxchg).
        this.touch(t, addr, op, ACCESS_RMW);
        const old = w[addr]!;
        if (old === k.a) {
          w[addr] = k.b;
          this.m.dirty?.mark(addr);
          if (this.nr_spinning) this.wake_spinners(addr);
        }
        return old;
      }
      case Op.XCHG:
      case Op.FETCH_ADD:
      case Op.FETCH_OR:
      case Op.FETCH_AND: {
        this.touch(t, addr, op, ACCESS_RMW);
        const old = w[addr]!;
        w[addr] = rmw_result(op, old, k.a);
        this.m.dirty?.mark(addr);
        if (this.nr_spinning) this.wake_spinners(addr);
        return old;
      }
      case Op.COND_LOAD_NE: {
        this.touch(t, addr, op, ACCESS_READ);
        const v = w[addr]!;
        if (v !== k.a) return v;
        this.nr_spinning++;
        return this.park(t, this.spinq, addr, TASK_SPIN);
      }
      case Op.FUTEX_WAIT:
        return this.futex_wait(t, k);
      case Op.FUTEX_WAKE:
        this.tick(t);
        return this.woke(t, this.wake_futex(addr, k.a));
      case Op.RCU_READ_LOCK:
        __rcu_read_lock(w, this.sys.rcu_data[t]!);
        this.m.dirty?.mark(this.sys.rcu_data[t]! + RCU_DATA.nesting);
        this.tick(t);
        return 0;
      case Op.RCU_READ_UNLOCK: {
        const wake = __rcu_read_unlock(w, this.sys.rcu_data[t]!, this.sys.rcu_gp_waiting);
        this.m.dirty?.mark_range(this.sys.rcu_data[t]!, RCU_DATA.$.size);
        if (wake < 0) throw rcu_unlock_unbalanced(this.task_name(t));
        this.tick(t);
        if (wake > 0) this.woke(t, this.wake_futex(wake, WAKE_ALL));
        return 0;
      }
      case Op.LOCK_ACQUIRE:
      case Op.LOCK_RELEASE:
      case Op.ASSERT_HELD:
        this.annotate(t, k);
        return 0;
      case Op.MEMCPY:
      case Op.MEMSET:
        this.bulk(t, k, k.b);
        if (op === Op.MEMCPY) w.copyWithin(addr, k.a, k.a + k.b);
        else fill_words(w, addr, k.a, k.b, k.c);
        this.m.dirty?.mark_range(addr, k.b);
        if (this.nr_spinning) for (let i = 0; i < k.b; i++) this.wake_spinners(addr + i);
        return 0;
      case Op.MEMCHR_INV: {
        const found = memchr_inv_words(w, addr, k.a, k.b);
        this.bulk(t, k, memchr_inv_read(addr, k.b, found));
        return found;
      }
      case Op.ALLOC: {
        const obj = slab_alloc(this.m, addr, k.a);
        this.allocated(t, k, obj);
        return obj;
      }
      case Op.FREE:
        this.freed(t, k, slab_free(this.m, addr, k.a, t));
        return 0;
      default:
        throw unknown_op(op, this.task_name(t));
    }
  }

  /* FUTEX_WAIT: 0 once woken, 1 if the word differs, else the task sleeps. */
  private futex_wait(t: number, k: KernelContext): number {
    if (this.woken[t]) {
      this.woken[t] = 0;
      this.tick(t);
      return 0;
    }
    this.touch(t, k.addr, Op.FUTEX_WAIT, ACCESS_READ);
    if (this.w[k.addr] !== k.a) return 1;
    if (this.in_rcu(t)) {
      throw new KernelBug(
        'sleep-in-atomic',
        `BUG: sleeping function called from invalid context: ${this.task_name(t)} sleeps inside an RCU read-side critical section`,
      );
    }
    return this.park(t, this.futexq, k.addr, TASK_FUTEX);
  }
}
