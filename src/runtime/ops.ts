/*
 * The access protocol between modelled kernel code and the executors.
 *
 * Kernel code is written as generator functions. Before every access to
 * shared ("kernel") memory it yields one op code; the operands are left in
 * the yielding CPU's KernelContext, which is reused for every step, so a
 * step allocates nothing. The executor performs the access (natively with
 * Atomics, under the explorer one step of a sequentially consistent model)
 * and resumes the generator with the result. Code between two yields runs
 * atomically with respect to other CPUs.
 *
 *	const old = yield k.fetch_add(sem + RWSEM.count, -RWSEM_READER_BIAS, ORDER_RELEASE);
 */

import type { BootRecord } from './boot.js';
import { access_backtrace, frame_of, kernel_backtrace } from './frames.js';

/** Op codes. Plain accesses are data-race checked; marked ones are not. */
export const Op = {
  /** plain load: `x = *p` */
  LOAD: 1,
  /** plain store: `*p = v` */
  STORE: 2,
  /** READ_ONCE() */
  READ_ONCE: 3,
  /** WRITE_ONCE() */
  WRITE_ONCE: 4,
  /** smp_load_acquire() */
  LOAD_ACQUIRE: 5,
  /** smp_store_release() */
  STORE_RELEASE: 6,
  /** cmpxchg(p, old, new): returns the value found */
  CMPXCHG: 7,
  /** xchg(p, v): returns the old value */
  XCHG: 8,
  /** atomic_fetch_add(): returns the old value */
  FETCH_ADD: 9,
  /** atomic_fetch_or(): returns the old value */
  FETCH_OR: 10,
  /** atomic_fetch_and(): returns the old value */
  FETCH_AND: 11,
  /**
   * smp_cond_load_acquire(p, VAL != v): spin until *p differs from v and
   * return it. The explorer parks the CPU until a store to p, so a spin
   * loop is one step and not an unbounded number of schedules.
   */
  COND_LOAD_NE: 12,
  /** futex-style wait: sleep while *p == v. 0 when woken, 1 when *p != v. */
  FUTEX_WAIT: 13,
  /** futex-style wake of up to n sleepers on p. Returns how many woke. */
  FUTEX_WAKE: 14,
  /** rcu_read_lock(): enter an RCU read-side critical section. */
  RCU_READ_LOCK: 15,
  /** rcu_read_unlock(). */
  RCU_READ_UNLOCK: 16,
  /** lockdep: lock_acquire(dep_map, mode, trylock). Free natively. */
  LOCK_ACQUIRE: 17,
  /** lockdep: lock_release(dep_map). Free natively. */
  LOCK_RELEASE: 18,
  /** kmem_cache_alloc(cache, gfp): returns the object, or 0 (-ENOMEM). */
  ALLOC: 19,
  /** kmem_cache_free(cache, obj) and kfree(obj). */
  FREE: 20,
  /** lockdep_assert_held(dep_map): the explorer checks this task holds it. Free natively. */
  ASSERT_HELD: 21,
  /**
   * memcpy(dst, src, n) of plain words, one step: used on memory no other
   * CPU can see yet (a new node, a new page) or that is immutable.
   */
  MEMCPY: 22,
  /**
   * memset(dst, v, n) of plain words, one step (clear_page()); with `inc`,
   * word i gets v + i*inc (a page read from "disk" in one DMA).
   */
  MEMSET: 23,
  /**
   * memchr_inv(p, v, n) of plain words, one step: reads from p on to the
   * first word that is not v and returns its address, or 0 when all n
   * are v. Used where nothing else can change the words (a debug check's
   * scan of an mm whose writers are done).
   */
  MEMCHR_INV: 24,
} as const;

export const OP_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, code] of Object.entries(Op)) names[code] = name.toLowerCase();
  return names;
})();

/** What MEMSET does: word i of [dst, dst + n) becomes v + i * inc. */
export function fill_words(w: Int32Array, dst: number, v: number, n: number, inc: number): void {
  if (inc === 0) {
    w.fill(v, dst, dst + n);
    return;
  }
  for (let i = 0; i < n; i++) w[dst + i] = (v + i * inc) | 0;
}

/** What MEMCHR_INV returns: the address of the first of the n words from p that is not v, or 0. */
export function memchr_inv_words(w: Int32Array, p: number, v: number, n: number): number {
  for (let i = 0; i < n; i++) if (w[p + i] !== v) return p + i;
  return 0;
}

/** The words a MEMCHR_INV of n words from p read, given what it returned. */
export function memchr_inv_read(p: number, n: number, found: number): number {
  return found === 0 ? n : found - p + 1;
}

/** Memory-ordering tag of a read-modify-write (feeds happens-before). */
export const ORDER_RELAXED = 0;
export const ORDER_ACQUIRE = 1;
export const ORDER_RELEASE = 2;
const ORDER_FULL = 3;

/** lockdep acquisition modes, as lock_acquire()'s `read` argument. */
export const LOCK_WRITE = 0;
export const LOCK_READ = 1;
/** For ASSERT_HELD: held in either mode. */
export const LOCK_ANY = -1;

/**
 * A generator of modelled kernel code: yields op codes, receives results.
 * It calls another kernel function f as `yield* call(f(k, ...))`.
 */
export type KGen<R = void> = Generator<number, R, number>;

/*
 * While any context traces (KernelContext.tracing): call() records its
 * caller's name, for the backtraces of the frames below the running one
 * (KStack.callers). An executor traces all of its tasks or none.
 */
let call_tracing = false;
let last_caller: readonly string[] = [];

/**
 * A call from kernel code to kernel code, `yield* call(f(k, ...))`: the
 * callee runs as a frame of the task's KStack, which resumes it directly,
 * and its return value comes back through this one level. A plain `yield*`
 * would nest the callee inside its caller's generator, and V8 resumes and
 * suspends every generator of such a chain at each access, so that a step
 * costs more the deeper it is made (the kernel's accesses are made 15 to 25
 * calls deep); on a KStack a step costs the same at any depth. The
 * measurements: docs/calibration-log.md, "Kernel calls on a KStack".
 *
 * The level is a plain iterator, not a generator: its first next() hands
 * the callee up (the yielded value, which KGen types as an op code; KStack
 * tells the two apart, an op code being a number), its second returns
 * what the callee returned. Such a call of a 2-access callee costs about
 * what a nested `yield*` does; a leaf callee (one that calls nothing) is
 * still cheaper nested, and the kernel code calls its leaves, and the lock
 * and refcount primitives whose fast paths are leaves, with a plain
 * `yield*`: their accesses then cost their caller's level and one more.
 */
export function call<R>(callee: KGen<R>): KCall<R> {
  if (call_tracing) last_caller = kernel_backtrace(call, []);
  level.callee = callee;
  return level as KCall<R>;
}

/** What `yield* call(...)` iterates: the callee's result type R. */
interface KCall<R> {
  [Symbol.iterator](): Iterator<number, R, number>;
}

/*
 * The level of every call, one object: a call allocates nothing of its
 * own. Its only state, the callee, lives from call() to the first next()
 * of the `yield*` that iterates it, which follows at once, before any
 * other call can be made; after that every level is alike (next(v)
 * returns v, done). Its two results are mutated in place: a `yield*`
 * hands an unfinished result up unchanged, to the KStack, and reads a
 * finished one at once, each before the next call.
 */
class CallLevel implements Iterator<number, unknown, number> {
  callee: KGen<unknown> | null = null;
  private readonly up: IteratorYieldResult<number> = { value: 0, done: false };
  private readonly back: IteratorReturnResult<unknown> = { value: undefined, done: true };

  [Symbol.iterator](): this {
    return this;
  }

  next(v: number): IteratorResult<number, unknown> {
    const callee = this.callee;
    if (callee === null) {
      this.back.value = v;
      return this.back;
    }
    this.callee = null;
    this.up.value = callee as unknown as number;
    return this.up;
  }

  // An exception the callee did not catch, thrown at its caller's call.
  throw(e: unknown): IteratorResult<number, unknown> {
    throw e;
  }

  return(v: unknown): IteratorResult<number, unknown> {
    return { value: v, done: true };
  }
}

const level = new CallLevel();

/*
 * Every generator's next(), called directly: a KStack resumes generators
 * of hundreds of functions, each its own prototype, where `top.next` would
 * be a megamorphic lookup at every access.
 */
const generator_next = Object.getPrototypeOf(function* () {}).prototype.next as (
  this: KGen<unknown>,
  v: number,
) => IteratorResult<number, unknown>;

/**
 * The frames of one task's kernel code: the generator running now (the
 * top) and, below it, each of its callers, suspended in call(). next()
 * resumes the top alone and runs calls and returns until the next access,
 * which it returns as a KGen would; an exception unwinds the callers, each
 * given the chance to catch it at its call, as a `yield*` chain would.
 */
export class KStack<R = void> {
  /* The suspended callers, outermost first. */
  private readonly frames: KGen<unknown>[] = [];
  private top: KGen<unknown>;
  /**
   * Traced runs: for each frame in frames, outermost first, the kernel
   * functions it was running when it called (innermost first: a frame
   * runs its plain-`yield*` callees within it).
   */
  readonly callers: (readonly string[])[] = [];

  constructor(
    root: KGen<R>,
    /** Its task's context: traced backtraces read `callers` through it. */
    k: KernelContext,
  ) {
    this.top = root;
    k.stack = this as KStack<unknown>;
    // A new task starts outside any RCU read section, whatever the context's last task left.
    k.rcu_nesting = 0;
  }

  next(v = 0): IteratorResult<number, R> {
    const r = this.resume(v);
    // Most resumptions end at the frame's next access.
    if (!r.done && typeof r.value === 'number') return r;
    return this.calls(r);
  }

  /* Resume the top frame with `v`; what it threw goes to its callers (unwind()). */
  private resume(v: number): IteratorResult<number, unknown> {
    try {
      return generator_next.call(this.top, v);
    } catch (e) {
      return this.unwind(e);
    }
  }

  /* Run calls and returns from `r` on until an access or the task's end. */
  private calls(r: IteratorResult<number, unknown>): IteratorResult<number, R> {
    for (;;) {
      if (!r.done && typeof r.value === 'number') return r;
      if (r.done) {
        const caller = this.frames.pop();
        if (!caller) return r as IteratorReturnResult<R>;
        if (call_tracing) this.callers.pop();
        this.top = caller;
        r = this.resume(r.value as number);
      } else {
        this.frames.push(this.top);
        if (call_tracing) this.callers.push(last_caller);
        this.top = r.value as unknown as KGen<unknown>;
        r = this.resume(0);
      }
    }
  }

  /* The top frame threw `e`: each caller in turn has it thrown at its call until one catches it. */
  private unwind(e: unknown): IteratorResult<number, unknown> {
    for (;;) {
      const caller = this.frames.pop();
      if (!caller) throw e;
      if (call_tracing) this.callers.pop();
      this.top = caller;
      try {
        return caller.throw(e);
      } catch (again) {
        e = again;
      }
    }
  }

  /** The frame running now: the innermost kernel function called with call(). */
  get running(): KGen<unknown> {
    return this.top;
  }

  /** End the task where it stands: the frames' finally blocks run, innermost first. */
  return(): void {
    this.top.return(undefined);
    for (let i = this.frames.length - 1; i >= 0; i--) this.frames[i]!.return(undefined);
    this.frames.length = 0;
    this.callers.length = 0;
  }
}

/**
 * A failure detected by modelled kernel code or by a sanitizer: BUG_ON(),
 * a refcount underflow, a KASAN report. `bug_class` is what reports and
 * --json print as the bug's class.
 */
export class KernelBug extends Error {
  constructor(
    readonly bug_class: string,
    message: string,
  ) {
    super(message);
    this.name = 'KernelBug';
  }
}

const HOOK_TRACE = 1;
const HOOK_FRAME = 2;

/**
 * Told when a workload's measured operation (a fault, an mmap+munmap pair,
 * a pin) begins and ends on a CPU. A measuring executor installs one on
 * each context; it reads that executor's clock: real time natively,
 * simulated time under `timing`. Neither call is an access: an operation's
 * bounds cost nothing and change no schedule.
 */
export interface OpMeter {
  op_begin(cpu: number): void;
  op_end(cpu: number): void;
}

/**
 * Work the kernel does that the model has no steps for, by what it is:
 * the cost profile prices each (timing_costs.ts). Kernel code names it
 * with k.unmodelled(); it is no access, so no schedule sees it.
 */
export const Unmodelled = {
  /** A page fault's exception entry and exit (arch/x86/entry/entry_64.S, irqentry_enter/exit). */
  FAULT_ENTRY: 0,
  /** A system call's entry and exit (entry_SYSCALL_64, do_syscall_64). */
  SYSCALL_ENTRY: 1,
  /** A new user page's bookkeeping: memcg charge, LRU insertion. */
  NEW_PAGE: 2,
  /** add_mm_counter(): mm->rss_stat, per CPU (key: the counter's address, mm + member; n: the value). */
  MM_COUNTER: 3,
} as const;
export const NR_UNMODELLED = 4;

/**
 * One CPU's view of the machine: the descriptor of its next access and the
 * constant facts of where it runs. A KernelContext is owned by exactly one
 * task; the executor reads the descriptor after each yield.
 */
export class KernelContext {
  /** Descriptor of the pending access: op and up to four operands. */
  op = 0;
  addr = 0;
  a = 0;
  b = 0;
  c = 0;
  /** Call site of an ALLOC/FREE (KASAN's allocation and free stacks). */
  site = '';

  /** Address of this CPU's task_struct (current). */
  readonly current: number;

  constructor(
    /** Where boot put the kernel's global objects. */
    readonly sys: BootRecord,
    /** The CPU this context runs on (smp_processor_id()). */
    readonly cpu: number,
    /** The address-space locking design in force (--policy). */
    readonly policy: string,
    /** The bug variant re-introduced in this run ('' for none). */
    readonly variant: string,
    /** CONFIG_LOCKDEP: whether lock annotations are yielded at all. */
    readonly lockdep: boolean,
  ) {
    this.current = sys.tasks[cpu]!;
  }

  /**
   * When set (traced replays only), each access records the kernel
   * functions on the stack that made it, innermost first.
   */
  get tracing(): boolean {
    return (this.hooks & HOOK_TRACE) !== 0;
  }
  set tracing(on: boolean) {
    this.hooks = on ? this.hooks | HOOK_TRACE : this.hooks & ~HOOK_TRACE;
    call_tracing = on;
  }
  backtrace: readonly string[] = [];

  /**
   * When set (the timing executor's step weights, calibration's frame
   * samples), each access records in `frame` the kernel function whose
   * KStack frame made it (frame_id()).
   */
  get framing(): boolean {
    return (this.hooks & HOOK_FRAME) !== 0;
  }
  set framing(on: boolean) {
    this.hooks = on ? this.hooks | HOOK_FRAME : this.hooks & ~HOOK_FRAME;
    this.framed = null;
  }
  /** With framing: the frame_id() of the pending access's frame. */
  frame = 0;
  /* The prototype of the generator `frame` was found for: a frame's id is looked up once while it runs. */
  private framed: object | null = null;
  /* What set() does besides recording the access: HOOK_* bits, one test on the hot path. */
  private hooks = 0;
  /** The KStack running this context's task (its constructor sets it), for traced backtraces. */
  stack: KStack<unknown> | null = null;

  /** Set by a measuring executor (benchmarks); null everywhere else. */
  meter: OpMeter | null = null;

  /** Operations begun and ended so far, for a sampler to leave out a step with the meter's work in it. */
  op_marks = 0;

  /** A workload's measured operation begins on this CPU. */
  op_begin(): void {
    this.op_marks++;
    this.meter?.op_begin(this.cpu);
  }
  /** ... and ends. */
  op_end(): void {
    this.op_marks++;
    this.meter?.op_end(this.cpu);
  }

  /** Set by an executor that prices unmodelled work (timing); null everywhere else. */
  unmodelled_work: ((cpu: number, work: number, key: number, n: number) => void) | null = null;

  /**
   * The kernel does `work` (an Unmodelled code) here, on `key` by `n`
   * where the work names them: no access, no step; under timing, its cost.
   */
  unmodelled(work: number, key = 0, n = 0): void {
    this.unmodelled_work?.(this.cpu, work, key, n);
  }

  private set(op: number, addr: number, a: number, b: number, c: number): number {
    if (this.hooks !== 0) this.hook();
    this.op = op;
    this.addr = addr;
    this.a = a;
    this.b = b;
    this.c = c;
    return op;
  }

  private hook(): void {
    if (this.hooks & HOOK_TRACE) this.backtrace = access_backtrace(this.stack?.callers ?? []);
    if (this.hooks & HOOK_FRAME && this.stack) {
      const proto = Object.getPrototypeOf(this.stack.running) as object;
      if (proto !== this.framed) {
        this.framed = proto;
        this.frame = frame_of(proto);
      }
    }
  }

  load(p: number): number {
    return this.set(Op.LOAD, p, 0, 0, 0);
  }
  store(p: number, v: number): number {
    return this.set(Op.STORE, p, v, 0, 0);
  }
  READ_ONCE(p: number): number {
    return this.set(Op.READ_ONCE, p, 0, 0, 0);
  }
  WRITE_ONCE(p: number, v: number): number {
    return this.set(Op.WRITE_ONCE, p, v, 0, 0);
  }
  load_acquire(p: number): number {
    return this.set(Op.LOAD_ACQUIRE, p, 0, 0, 0);
  }
  store_release(p: number, v: number): number {
    return this.set(Op.STORE_RELEASE, p, v, 0, 0);
  }
  cmpxchg(p: number, old: number, v: number, order: number = ORDER_FULL): number {
    return this.set(Op.CMPXCHG, p, old, v, order);
  }
  xchg(p: number, v: number, order: number = ORDER_FULL): number {
    return this.set(Op.XCHG, p, v, 0, order);
  }
  fetch_add(p: number, d: number, order: number = ORDER_FULL): number {
    return this.set(Op.FETCH_ADD, p, d, 0, order);
  }
  fetch_or(p: number, bits: number, order: number = ORDER_FULL): number {
    return this.set(Op.FETCH_OR, p, bits, 0, order);
  }
  fetch_and(p: number, mask: number, order: number = ORDER_FULL): number {
    return this.set(Op.FETCH_AND, p, mask, 0, order);
  }
  cond_load_ne(p: number, v: number): number {
    return this.set(Op.COND_LOAD_NE, p, v, 0, ORDER_ACQUIRE);
  }
  futex_wait(p: number, v: number): number {
    return this.set(Op.FUTEX_WAIT, p, v, 0, ORDER_ACQUIRE);
  }
  futex_wake(p: number, n: number): number {
    return this.set(Op.FUTEX_WAKE, p, n, 0, ORDER_RELEASE);
  }
  rcu_read_lock(): number {
    this.rcu_nesting++;
    return this.set(Op.RCU_READ_LOCK, 0, 0, 0, 0);
  }
  rcu_read_unlock(): number {
    this.rcu_nesting--;
    return this.set(Op.RCU_READ_UNLOCK, 0, 0, 0, 0);
  }

  /**
   * current->rcu_read_lock_nesting as this task's code counts it: the
   * assertions read it without an access, so they cost no step.
   */
  rcu_nesting = 0;

  /** rcu_read_lock_held() */
  rcu_read_lock_held(): boolean {
    return this.rcu_nesting > 0;
  }

  /** RCU_LOCKDEP_WARN(): with CONFIG_PROVE_RCU (lockdep on), "suspicious RCU usage". */
  RCU_LOCKDEP_WARN(cond: boolean, what: string): void {
    if (this.lockdep && cond)
      throw new KernelBug('rcu', `WARNING: suspicious RCU usage: ${what} (cpu ${this.cpu})`);
  }
  /** `dep_map` is the lock's lockdep word: it holds the lock class id. */
  lock_acquire(dep_map: number, mode: number, trylock: boolean): number {
    return this.set(Op.LOCK_ACQUIRE, dep_map, mode, trylock ? 1 : 0, 0);
  }
  lock_release(dep_map: number): number {
    return this.set(Op.LOCK_RELEASE, dep_map, 0, 0, 0);
  }
  memcpy(dst: number, src: number, n: number): number {
    return this.set(Op.MEMCPY, dst, src, n, 0);
  }
  memset(dst: number, v: number, n: number, inc = 0): number {
    return this.set(Op.MEMSET, dst, v, n, inc);
  }
  memchr_inv(p: number, v: number, n: number): number {
    return this.set(Op.MEMCHR_INV, p, v, n, 0);
  }
  /** `mode`: LOCK_WRITE, LOCK_READ or LOCK_ANY. */
  assert_held(dep_map: number, mode: number): number {
    return this.set(Op.ASSERT_HELD, dep_map, mode, 0, 0);
  }
  /** `gfp` holds __GFP_ZERO or 0. */
  alloc(cache: number, gfp: number, site: string): number {
    this.site = site;
    return this.set(Op.ALLOC, cache, gfp, 0, 0);
  }
  /** `cache` is the cache the caller believes owns `obj` (0 for kfree()). */
  free(obj: number, cache: number, site: string): number {
    this.site = site;
    return this.set(Op.FREE, obj, cache, 0, 0);
  }

  /** BUG_ON(): a violated invariant stops the run and is reported. */
  BUG_ON(cond: boolean, what: string): void {
    if (cond) throw new KernelBug('BUG', `kernel BUG at ${what} (cpu ${this.cpu})`);
  }

  /** WARN_ON_ONCE(): Linux warns and goes on; a violated invariant all the same, so the run stops. */
  WARN_ON_ONCE(cond: boolean, what: string): void {
    if (cond) throw new KernelBug('BUG', `WARNING: ${what} (cpu ${this.cpu})`);
  }
}
