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

import type { KernelSymbols } from '../kernel/boot.js';

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
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

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

/** Memory-ordering tag of a read-modify-write (feeds happens-before). */
export const ORDER_RELAXED = 0;
export const ORDER_ACQUIRE = 1;
export const ORDER_RELEASE = 2;
export const ORDER_FULL = 3;

/** lockdep acquisition modes, as lock_acquire()'s `read` argument. */
export const LOCK_WRITE = 0;
export const LOCK_READ = 1;
/** For ASSERT_HELD: held in either mode. */
export const LOCK_ANY = -1;

/** A generator of modelled kernel code: yields op codes, receives results. */
export type KGen<R = void> = Generator<number, R, number>;

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

/* The generator frames on the stack of an access: they are live while it runs. */
function kernel_backtrace(): string[] {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 24;
  Error.captureStackTrace(holder, kernel_backtrace);
  Error.stackTraceLimit = limit;
  const out: string[] = [];
  for (const line of (holder.stack ?? '').split('\n').slice(1)) {
    const m = /^\s+at (?:Object\.|KernelContext\.)?([\w$.<>]+)/.exec(line);
    const fn = m?.[1];
    if (!fn || fn === 'set' || fn === 'next' || fn === 'Generator.next' || fn === '<anonymous>')
      continue;
    if (fn.includes('Executor') || fn.includes('Explorer')) break;
    if (out[out.length - 1] !== fn) out.push(fn);
  }
  return out.filter(
    (fn, i) =>
      i > 0 ||
      !/^(load|store|READ_ONCE|WRITE_ONCE|load_acquire|store_release|cmpxchg|xchg|fetch_\w+|cond_load_ne|futex_\w+|rcu_read_\w+|lock_\w+|alloc|free)$/.test(
        fn,
      ),
  );
}

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
    readonly sys: KernelSymbols,
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
  tracing = false;
  backtrace: readonly string[] = [];

  /** Set by a measuring executor (benchmarks); null everywhere else. */
  meter: OpMeter | null = null;

  /** A workload's measured operation begins on this CPU. */
  op_begin(): void {
    this.meter?.op_begin(this.cpu);
  }
  /** ... and ends. */
  op_end(): void {
    this.meter?.op_end(this.cpu);
  }

  private set(op: number, addr: number, a: number, b: number, c: number): number {
    if (this.tracing) this.backtrace = kernel_backtrace();
    this.op = op;
    this.addr = addr;
    this.a = a;
    this.b = b;
    this.c = c;
    return op;
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
    return this.set(Op.RCU_READ_LOCK, 0, 0, 0, 0);
  }
  rcu_read_unlock(): number {
    return this.set(Op.RCU_READ_UNLOCK, 0, 0, 0, 0);
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
}
