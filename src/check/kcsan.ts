/*
 * KCSAN for the explorer: a happens-before data-race detector (FastTrack,
 * Flanagan & Freund, PLDI 2009) with the kernel's notion of a data race
 * (tools/memory-model, Documentation/dev-tools/kcsan.rst):
 *
 *   two accesses to the same word by different tasks, at least one a
 *   write, at least one plain (LOAD, STORE, MEMCPY, MEMSET, MEMCHR_INV),
 *   and neither happens-before the other.
 *
 * Marked accesses (READ_ONCE, WRITE_ONCE, acquire/release, atomics) never
 * race with each other. Happens-before is program order plus these edges,
 * each a release into the word's sync clock and an acquire out of it:
 *
 *   release: STORE_RELEASE, WRITE_ONCE (rcu_assign_pointer may be either
 *            here), every value-returning atomic that writes (the kernel
 *            orders them fully), FUTEX_WAKE, FREE of an object,
 *            RCU_READ_UNLOCK (the executor stores the CPU's rcu_data
 *            nesting and qs_seq, which the grace-period kthread reads with
 *            READ_ONCE: so a reader's critical section happens before the
 *            end of every grace period that waited for it, and through the
 *            callbacks and completions before what follows it)
 *   acquire: LOAD_ACQUIRE, READ_ONCE (rcu_dereference; address dependencies
 *            order what follows), COND_LOAD_NE, every atomic (a failed
 *            cmpxchg too), the return of FUTEX_WAIT, the ALLOC that hands
 *            the object out again (as SLUB's freelist cmpxchg orders them)
 *
 * A word's sync clock only ever grows (a release joins into it, nothing
 * resets it within a schedule): an acquire synchronizes with every earlier
 * release on the word, not only the one whose value it reads. That gives
 * more happens-before than the LKMM does, never less, so every report is a
 * race; some races hide behind it.
 *
 * Clocks are steps: task t's access at step s has the epoch s + 1 @ t, and
 * vc[u][t] is the step (+1) of t's last release that u has acquired,
 * transitively. So an access s @ t happens before u iff s + 1 <= vc[u][t],
 * and no clock needs ticking: the step counter ticks them all.
 *
 * Per word (typed arrays indexed by address, grown on demand to the highest
 * address touched, reset lazily by a per-schedule stamp): the last write's
 * epoch and whether it was plain; the reads since, as FastTrack keeps
 * them (one epoch, or a clock of reads per task once two concurrent tasks
 * read), twice: every read, which a plain write must follow, and the plain
 * reads, which a marked write must follow. Only the last write is kept, so
 * a race with an earlier write that the last one did not order (two marked
 * writes) can go unseen. Nothing is allocated per step.
 *
 * ALLOC and FREE forget the accesses to the object's words (not their sync
 * clocks: more order, not less): a recycled object is a new object, and
 * accesses to the old one after its free are KASAN's to report.
 */
import type { AccessChecker } from '../runtime/executors/explore.js';
import { KMEM_CACHE } from '../runtime/heap.js';
import type { KernelMemory } from '../runtime/memory.js';
import { KernelBug, type KernelContext, memchr_inv_read, Op } from '../runtime/ops.js';
import { RCU_DATA } from '../runtime/rcu_reader.js';

/*
 * The op codes as module constants: a switch on them compares numbers, and
 * does not read another module's export binding once per case.
 */
const {
  LOAD,
  STORE,
  READ_ONCE,
  WRITE_ONCE,
  LOAD_ACQUIRE,
  STORE_RELEASE,
  CMPXCHG,
  XCHG,
  FETCH_ADD,
  FETCH_OR,
  FETCH_AND,
  COND_LOAD_NE,
  FUTEX_WAIT,
  FUTEX_WAKE,
  RCU_READ_UNLOCK,
  MEMCPY,
  MEMSET,
  MEMCHR_INV,
  ALLOC,
  FREE,
} = Op;

/** A read tag: no read yet. Otherwise the reader's task + 1, or READS_SHARED. */
const NO_READ = 0;
/** The reads of the word are a per-task clock in the pool (slot in `clk`). */
const READS_SHARED = 0xffff;
/** In a write tag, beside the writer's task + 1: the write was plain. */
const PLAIN_BIT = 0x8000;
/** The last write was a memset's (only a memset's race can be passed over: pass_over()). */
const MEMSET_BIT = 0x4000;
const TASK_MASK = 0x3fff;

/** Capacity to hold index `i`: the next power of two above it, at least 4096. */
function capacity_for(i: number): number {
  let cap = 4096;
  while (cap <= i) cap *= 2;
  return cap;
}

function grown<T extends Int32Array | Uint16Array | Uint32Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

/**
 * The reads of each word since its last write, as FastTrack keeps them:
 * the epoch of one read, replaced by a later read it happens before; a
 * clock with one epoch per task (a pool slot) once two reads are concurrent.
 * A write that follows them all clears them.
 */
class ReadSet {
  tag = new Uint16Array(0);
  /** The read's clock (step + 1), or the pool slot when READS_SHARED. */
  clk = new Int32Array(0);
  private pool = new Int32Array(0);
  private slots = 0;
  /** Offsets of pool slots given back by clear() in this schedule, a stack. */
  private free = new Int32Array(0);
  private nr_free = 0;
  private nr = 1;
  /** Set by racing(): the racing read. */
  hit_task = -1;
  hit_clk = 0;

  reset(nr_tasks: number): void {
    this.nr = nr_tasks;
    this.slots = 0;
    this.nr_free = 0;
  }

  /* A write that follows every read of word a: forget them. */
  clear(a: number): void {
    if (this.tag[a] === READS_SHARED) {
      if (this.nr_free === this.free.length)
        this.free = grown(this.free, capacity_for(this.nr_free));
      this.free[this.nr_free++] = this.clk[a]!;
    }
    this.tag[a] = NO_READ;
  }

  grow(cap: number): void {
    this.tag = grown(this.tag, cap);
    this.clk = grown(this.clk, cap);
  }

  /** Task t read word a at `clk`; vc[base + s] is what t knows of task s. */
  record(a: number, t: number, clk: number, vc: Int32Array, base: number): void {
    const tag = this.tag[a]!;
    if (tag === NO_READ || tag === t + 1) {
      this.tag[a] = t + 1;
      this.clk[a] = clk;
    } else if (tag !== READS_SHARED) {
      const s = tag - 1;
      const prev = this.clk[a]!;
      // The previous read happens before this one: whatever follows this read follows it too.
      if (prev <= vc[base + s]!) {
        this.tag[a] = t + 1;
        this.clk[a] = clk;
        return;
      }
      const off = this.new_slot();
      this.pool[off + s] = prev;
      this.pool[off + t] = clk;
      this.tag[a] = READS_SHARED;
      this.clk[a] = off;
    } else {
      this.pool[this.clk[a]! + t] = clk;
    }
  }

  /**
   * Whether a read of word a by a task other than u fails to happen before
   * u's present step (u's clock at vc[base..]); the read is left in hit_*.
   */
  racing(a: number, u: number, vc: Int32Array, base: number): boolean {
    const tag = this.tag[a]!;
    if (tag === NO_READ) return false;
    if (tag !== READS_SHARED) return tag - 1 !== u && this.hit(tag - 1, this.clk[a]!, vc, base);
    const off = this.clk[a]!;
    for (let s = 0; s < this.nr; s++) {
      if (s !== u && this.hit(s, this.pool[off + s]!, vc, base)) return true;
    }
    return false;
  }

  private hit(s: number, clk: number, vc: Int32Array, base: number): boolean {
    if (clk <= vc[base + s]!) return false;
    this.hit_task = s;
    this.hit_clk = clk;
    return true;
  }

  /* A pool slot of zeroes, a cleared one if any; its offset. */
  private new_slot(): number {
    if (this.nr_free > 0) {
      const off = this.free[--this.nr_free]!;
      this.pool.fill(0, off, off + this.nr);
      return off;
    }
    const off = this.slots * this.nr;
    this.slots++;
    if (off + this.nr > this.pool.length) this.pool = grown(this.pool, capacity_for(off + this.nr));
    this.pool.fill(0, off, off + this.nr);
    return off;
  }
}

/** What a report needs of the explored machine (the ExploreExecutor is one). */
interface KcsanHost {
  readonly m: KernelMemory;
  /** Name an address: `struct.field` of its object. */
  describe(addr: number): string;
  task_name(t: number): string;
}

export class Kcsan implements AccessChecker {
  private nr = 1;
  /** vc[u * nr + t]: the clock of task t's last release that task u has acquired. */
  private vc = new Int32Array(1);
  /** The clock (step + 1) of each task's latest access. */
  private last = new Int32Array(1);
  /** The schedule being checked: per-word state stamped otherwise is stale (empty). */
  private run = 0;
  private cap = 0;
  private stamp = new Uint32Array(0);
  /** The last write: writer + 1, with PLAIN_BIT and MEMSET_BIT; 0 for none. */
  private w_tag = new Uint16Array(0);
  private w_clk = new Int32Array(0);
  private readonly any_reads = new ReadSet();
  private readonly plain_reads = new ReadSet();
  /** Sync clocks: a word's slot (an offset into sync_pool) is valid when sync_stamp is `run`. */
  private sync_stamp = new Uint32Array(0);
  private sync_slot = new Int32Array(0);
  private sync_pool = new Int32Array(0);
  private sync_slots = 0;
  /** Traced replays only: the innermost kernel function of each step's access. */
  private readonly fns: string[] = [];
  /** The host's memory, once asked for (the same for the checker's life). */
  private mem: KernelMemory | undefined;
  /** The fields (`struct.field`) whose races with a memset go unreported (pass_over()). */
  private passed: ReadonlySet<string> = new Set();
  /** The fields whose races this schedule went on past (a replay of it must too). */
  readonly passed_now = new Set<string>();

  /**
   * `host` gives the explored machine; it is called only once accesses
   * come, because the executor that is the host is made after its checkers.
   */
  constructor(private readonly host: () => KcsanHost) {}

  /**
   * From the next schedule on, go on past a race of a memset's write of
   * one of `fields` (`struct.field`, whichever object) with a lockless
   * lookup's access of it (a marked read, or a cmpxchg after the memset:
   * lookup(); inside an RCU read-side section), as Linux's KCSAN goes on
   * after it prints a report: the
   * explorer passes over the races triaged as Linux's own and benign
   * (triaged.ts), so that a search sees what follows them. Any other race
   * of those fields is reported as before.
   */
  pass_over(fields: ReadonlySet<string>): void {
    this.passed = fields;
  }

  reset(nr_tasks: number): void {
    if (this.nr !== nr_tasks || this.vc.length !== nr_tasks * nr_tasks) {
      this.nr = nr_tasks;
      this.vc = new Int32Array(nr_tasks * nr_tasks);
      this.last = new Int32Array(nr_tasks);
    } else {
      this.vc.fill(0);
      this.last.fill(0);
    }
    this.run = (this.run + 1) >>> 0;
    if (this.run === 0) {
      // 2^32 schedules: start the stamps over rather than trust a wrapped one.
      this.stamp.fill(0);
      this.sync_stamp.fill(0);
      this.run = 1;
    }
    this.any_reads.reset(nr_tasks);
    this.plain_reads.reset(nr_tasks);
    this.sync_slots = 0;
    this.fns.length = 0;
    this.passed_now.clear();
  }

  access(t: number, k: KernelContext, result: number, step: number): void {
    const clk = step + 1;
    const a = k.addr;
    this.last[t] = clk;
    if (k.tracing) this.fns[step] = k.backtrace[0] ?? '?';
    switch (k.op) {
      case LOAD:
        if (!this.user_memory(k, a)) this.read(t, a, clk, true, k);
        return;
      case STORE:
        if (!this.user_memory(k, a)) this.write(t, a, clk, true, k);
        return;
      case READ_ONCE:
      case LOAD_ACQUIRE:
      case COND_LOAD_NE:
        this.acquire(t, a);
        this.read(t, a, clk, false, k);
        return;
      case WRITE_ONCE:
      case STORE_RELEASE:
        this.write(t, a, clk, false, k);
        this.release(t, a, clk);
        return;
      case CMPXCHG:
        this.acquire(t, a);
        // A failed cmpxchg writes nothing: it is a (marked) read.
        if (result !== k.a) {
          this.read(t, a, clk, false, k);
          return;
        }
        this.write(t, a, clk, false, k);
        this.release(t, a, clk);
        return;
      case XCHG:
      case FETCH_ADD:
      case FETCH_OR:
      case FETCH_AND:
        this.acquire(t, a);
        this.write(t, a, clk, false, k);
        this.release(t, a, clk);
        return;
      case FUTEX_WAIT:
        this.acquire(t, a);
        return;
      case FUTEX_WAKE:
        this.release(t, a, clk);
        return;
      case RCU_READ_UNLOCK: {
        const rdp = k.sys.rcu_data[t]!;
        this.release(t, rdp + RCU_DATA.nesting, clk);
        this.release(t, rdp + RCU_DATA.qs_seq, clk);
        return;
      }
      case MEMCPY:
        if (this.user_memory(k, a)) return;
        for (let i = 0; i < k.b; i++) this.read(t, k.a + i, clk, true, k);
        for (let i = 0; i < k.b; i++) this.write(t, a + i, clk, true, k);
        return;
      case MEMSET:
        if (this.user_memory(k, a)) return;
        for (let i = 0; i < k.b; i++) this.write(t, a + i, clk, true, k);
        return;
      case MEMCHR_INV: {
        if (this.user_memory(k, a)) return;
        const n = memchr_inv_read(a, k.b, result);
        for (let i = 0; i < n; i++) this.read(t, a + i, clk, true, k);
        return;
      }
      case ALLOC:
        if (result === 0) return;
        // The object passes from its last free to this allocation (SLUB's freelist cmpxchg).
        this.acquire(t, result);
        this.forget(result, this.object_size(a));
        return;
      case FREE:
        this.forget(a, this.object_size(this.host().m.page_cache(a)));
        this.release(t, a, clk);
        return;
      default:
        // rcu_read_lock() and lockdep annotations: no access, no ordering.
        return;
    }
  }

  /*
   * User pages' contents: what user threads do to them is theirs (KCSAN
   * does not instrument user memory), and the kernel copies and clears
   * them with uninstrumented copy_page()/clear_page().
   */
  private user_memory(k: KernelContext, a: number): boolean {
    this.mem ??= this.host().m;
    return this.mem.page_cache(a) === k.sys.mm.frame_cachep;
  }

  /*
   * Task `into` goes on after task `from` ended (the epilogue after every
   * CPU): all that `from` did happens before what `into` does next.
   */
  join(into: number, from: number): void {
    const vc = this.vc;
    const ib = into * this.nr;
    const fb = from * this.nr;
    for (let s = 0; s < this.nr; s++) if (vc[fb + s]! > vc[ib + s]!) vc[ib + s] = vc[fb + s]!;
    if (this.last[from]! > vc[ib + from]!) vc[ib + from] = this.last[from]!;
  }

  /* ---- happens-before ---- */

  /* Task t acquires word a: it now knows every release into a's sync clock. */
  private acquire(t: number, a: number): void {
    if (a >= this.cap || this.sync_stamp[a] !== this.run) return;
    const off = this.sync_slot[a]!;
    const pool = this.sync_pool;
    const vc = this.vc;
    const base = t * this.nr;
    for (let s = 0; s < this.nr; s++) {
      const c = pool[off + s]!;
      if (c > vc[base + s]!) vc[base + s] = c;
    }
  }

  /* Task t releases word a at clk: everything it did so far joins a's sync clock. */
  private release(t: number, a: number, clk: number): void {
    this.ensure(a);
    const vc = this.vc;
    const base = t * this.nr;
    vc[base + t] = clk;
    let off: number;
    if (this.sync_stamp[a] === this.run) {
      off = this.sync_slot[a]!;
    } else {
      off = this.new_sync_slot();
      this.sync_stamp[a] = this.run;
      this.sync_slot[a] = off;
    }
    const pool = this.sync_pool;
    for (let s = 0; s < this.nr; s++) {
      const c = vc[base + s]!;
      if (c > pool[off + s]!) pool[off + s] = c;
    }
  }

  private new_sync_slot(): number {
    const off = this.sync_slots * this.nr;
    this.sync_slots++;
    if (off + this.nr > this.sync_pool.length)
      this.sync_pool = grown(this.sync_pool, capacity_for(off + this.nr));
    this.sync_pool.fill(0, off, off + this.nr);
    return off;
  }

  /* ---- the accesses ---- */

  private read(t: number, a: number, clk: number, plain: boolean, k: KernelContext): void {
    this.fresh(a);
    this.check_write(k, a, t, clk, false, plain);
    const base = t * this.nr;
    this.any_reads.record(a, t, clk, this.vc, base);
    if (plain) this.plain_reads.record(a, t, clk, this.vc, base);
  }

  private write(t: number, a: number, clk: number, plain: boolean, k: KernelContext): void {
    this.fresh(a);
    this.check_write(k, a, t, clk, true, plain);
    // Plain reads race with any write; marked reads only with a plain one.
    this.check_reads(this.plain_reads, k, a, t, clk, plain, true);
    if (plain) this.check_reads(this.any_reads, k, a, t, clk, plain, false);
    // Every read checked above happens before this write, so whatever follows it follows them.
    this.plain_reads.clear(a);
    if (plain) this.any_reads.clear(a);
    this.w_tag[a] = (t + 1) | (plain ? PLAIN_BIT : 0) | (k.op === MEMSET ? MEMSET_BIT : 0);
    this.w_clk[a] = clk;
  }

  /* Report the last write to a if it races with task t's access (a write or a read, plain or not). */
  private check_write(
    k: KernelContext,
    a: number,
    t: number,
    clk: number,
    write: boolean,
    plain: boolean,
  ): void {
    const wt = this.w_tag[a]!;
    const wplain = (wt & PLAIN_BIT) !== 0;
    // Marked accesses never race with each other.
    if (wt === 0 || !(plain || wplain)) return;
    const s = (wt & TASK_MASK) - 1;
    const wc = this.w_clk[a]!;
    if (s === t || wc <= this.vc[t * this.nr + s]!) return;
    if ((wt & MEMSET_BIT) !== 0 && lookup(k.op) && this.passes(k, a, t)) return;
    const prev = { task: s, clk: wc, kind: kind(true, wplain) };
    this.report(k, a, prev, { task: t, clk, kind: kind(write, plain) });
  }

  /* Report a read in `reads` (plain ones if `reads_plain`) that races with task t's write of a. */
  private check_reads(
    reads: ReadSet,
    k: KernelContext,
    a: number,
    t: number,
    clk: number,
    plain: boolean,
    reads_plain: boolean,
  ): void {
    if (!reads.racing(a, t, this.vc, t * this.nr)) return;
    // Checked after the plain reads: a read racing here but not there was marked.
    if (!reads_plain && k.op === MEMSET && this.passes(k, a, reads.hit_task)) return;
    // A read found among all reads but not among the plain ones (checked first) was marked.
    const prev = { task: reads.hit_task, clk: reads.hit_clk, kind: kind(false, reads_plain) };
    this.report(k, a, prev, { task: t, clk, kind: kind(true, plain) });
  }

  /*
   * Whether a race of a memset's write of a with task `reader`'s marked
   * access is one pass_over() set aside: a's field is one of its fields,
   * and the reader is inside an RCU read-side section, as a lockless
   * lookup of a SLAB_TYPESAFE_BY_RCU object is.
   */
  private passes(k: KernelContext, a: number, reader: number): boolean {
    if (this.passed.size === 0) return false;
    this.mem ??= this.host().m;
    if (this.mem.words[k.sys.rcu_data[reader]! + RCU_DATA.nesting] === 0) return false;
    const field = field_name(this.host().describe(a));
    if (!this.passed.has(field)) return false;
    this.passed_now.add(field);
    return true;
  }

  /* Make word a's state this schedule's: stale state from an earlier one is no access at all. */
  private fresh(a: number): void {
    this.ensure(a);
    if (this.stamp[a] === this.run) return;
    this.stamp[a] = this.run;
    this.w_tag[a] = 0;
    this.any_reads.tag[a] = NO_READ;
    this.plain_reads.tag[a] = NO_READ;
  }

  /* A new or freed object: its words have no accesses (their sync clocks stay). */
  private forget(obj: number, size: number): void {
    const end = Math.min(obj + size, this.cap);
    if (obj < end) this.stamp.fill(0, obj, end);
  }

  private object_size(cache: number): number {
    return this.host().m.words[cache + KMEM_CACHE.object_size]!;
  }

  private ensure(a: number): void {
    if (a < this.cap) return;
    const cap = capacity_for(a);
    this.stamp = grown(this.stamp, cap);
    this.w_tag = grown(this.w_tag, cap);
    this.w_clk = grown(this.w_clk, cap);
    this.any_reads.grow(cap);
    this.plain_reads.grow(cap);
    this.sync_stamp = grown(this.sync_stamp, cap);
    this.sync_slot = grown(this.sync_slot, cap);
    this.cap = cap;
  }

  /* ---- the report ---- */

  /* Throw the report of a race between `prev` and the access `cur` that task `cur.task` makes through k. */
  private report(k: KernelContext, a: number, prev: Side, cur: Side): never {
    const h = this.host();
    // Function names exist only in traced replays; the rest of the message is the same in both.
    const fns = k.tracing ? ` in ${this.fns[prev.clk - 1] ?? '?'} / ${k.backtrace[0] ?? '?'}` : '';
    const by = (x: Side) => `by ${h.task_name(x.task)} at step ${x.clk - 1}`;
    throw new KernelBug(
      'data-race',
      `KCSAN: data-race${fns}: ${prev.kind} of ${h.describe(a)} ${by(prev)} vs ${cur.kind} ${by(cur)}`,
    );
  }
}

/*
 * A lockless lookup's access of an object it may find recycled: a marked
 * read, or a cmpxchg (a reference taken only if the count is not zero). A
 * put's decrement, or a store, is not one.
 */
function lookup(op: number): boolean {
  return op === READ_ONCE || op === LOAD_ACQUIRE || op === COND_LOAD_NE || op === CMPXCHG;
}

/* `struct@0xADDR.field[3] (gen 2)` as `struct.field[]`: the field, whichever object and index. */
export function field_name(described: string): string {
  return described
    .replace(/@0x[0-9a-f]+/, '')
    .replace(/ \(gen \d+\)/, '')
    .replace(/\[\d+\]/g, '[]');
}

/** One access of a race, for its report. */
interface Side {
  readonly task: number;
  readonly clk: number;
  /** `write` or `read`, `(marked)` unless plain. */
  readonly kind: string;
}

function kind(write: boolean, plain: boolean): string {
  return `${write ? 'write' : 'read'}${plain ? '' : ' (marked)'}`;
}
