/*
 * Footprints: the words a pending access reads or writes, which the
 * explorer's partial-order reduction compares to decide whether two
 * accesses commute (see check/dfs.ts). Two accesses are dependent when
 * their footprints overlap where at least one writes.
 *
 * A footprint is taken just before its access runs, from the memory it
 * will run on, so it can name what the access will touch there: the cache
 * of a kfree(), the object an allocation will hand out. It must name every
 * word whose value, or whose KASAN shadow, the access reads or writes, and
 * every piece of the executor's state that stands for a word (a futex's
 * waiters, lockdep's holders of a lock): a word left out lets the
 * reduction take two orders that end differently for one.
 */
import { KMEM_CACHE, SLAB_TYPESAFE_BY_RCU } from '../heap.js';
import { MEMHDR, PAGE_SHIFT } from '../memory.js';
import { type KernelContext, memchr_inv_read, memchr_inv_words, Op } from '../ops.js';
import { RCU_DATA } from '../rcu_reader.js';

/** Slots of a footprint (see footprint()): range r at slots 2r and 2r + 1, then the flags. */
export const FP_LO1 = 0;
export const FP_HI1 = 1;
/** How many ranges a footprint has. */
export const FP_RANGES = 4;
/** Bit r: range r + 1 is written. */
export const FP_FLAGS = 2 * FP_RANGES;
export const FP_WRITE1 = 1;
export const FOOTPRINT_SLOTS = FP_FLAGS + 1;

/*
 * The words access `k` reads or writes, as up to FP_RANGES ranges:
 *  - a load, a conditional load or a futex wait reads its word; a store,
 *    an atomic or a futex wake writes it (a wake writes the waiters'
 *    state, which a wait on that word reads);
 *  - a memcpy writes its destination and reads its source, a memset writes,
 *    a memchr_inv reads up to the word it will find (a write past that
 *    word leaves its result as it is);
 *  - rcu_read_lock/unlock write the task's rcu_data, which the
 *    grace-period kthread reads; an unlock reads rcu_state.gp_waiting;
 *  - lock_acquire/lock_release write the lock's dep_map word: lockdep's
 *    record of who holds the lock (its mutual exclusion check) stands for
 *    it; an assertion reads only its own task's held locks: no words;
 *  - a free and an allocation: see slab_footprint().
 */
export function footprint(k: KernelContext, w: Int32Array, out: Int32Array, at = 0): void {
  out.fill(0, at, at + FOOTPRINT_SLOTS);
  const addr = k.addr;
  switch (k.op) {
    case Op.LOAD:
    case Op.READ_ONCE:
    case Op.LOAD_ACQUIRE:
    case Op.COND_LOAD_NE:
    case Op.FUTEX_WAIT:
      set_range(out, at, 0, addr, addr + 1, false);
      break;
    case Op.MEMCPY:
      set_range(out, at, 0, addr, addr + k.b, true);
      set_range(out, at, 1, k.a, k.a + k.b, false);
      break;
    case Op.MEMSET:
      set_range(out, at, 0, addr, addr + k.b, true);
      break;
    case Op.MEMCHR_INV: {
      const found = memchr_inv_words(w, addr, k.a, k.b);
      set_range(out, at, 0, addr, addr + memchr_inv_read(addr, k.b, found), false);
      break;
    }
    case Op.FREE:
      free_footprint(w, addr, out, at);
      break;
    case Op.ALLOC:
      alloc_footprint(w, addr, out, at);
      break;
    case Op.RCU_READ_LOCK:
    case Op.RCU_READ_UNLOCK: {
      const rdp = k.sys.rcu_data[k.cpu]!;
      set_range(out, at, 0, rdp, rdp + RCU_DATA.$.size, true);
      if (k.op === Op.RCU_READ_UNLOCK)
        set_range(out, at, 1, k.sys.rcu_gp_waiting, k.sys.rcu_gp_waiting + 1, false);
      break;
    }
    case Op.ASSERT_HELD:
      break;
    default:
      // Stores, atomics, futex wakes, lock_acquire and lock_release.
      set_range(out, at, 0, addr, addr + 1, true);
  }
}

function set_range(
  out: Int32Array,
  at: number,
  r: number,
  lo: number,
  hi: number,
  write: boolean,
): void {
  out[at + 2 * r] = lo;
  out[at + 2 * r + 1] = hi;
  if (write) out[at + FP_FLAGS] |= FP_WRITE1 << r;
}

/* The slab cell (header, object, padding) of object `obj` of cache `c`. */
function set_cell(out: Int32Array, at: number, r: number, w: Int32Array, c: number, obj: number) {
  const cell = obj - w[c + KMEM_CACHE.offset]!;
  set_range(out, at, r, cell, cell + w[c + KMEM_CACHE.stride]!, true);
}

/*
 * Both read rcu_state.gp_seq where the quarantine does: a free of a
 * quarantined object stamps it on the object's cookie, an allocation that
 * finds the quarantine's oldest object compares it with its cookie. So a
 * free or an allocation before and after the grace-period kthread's
 * update do not pass for commuting (the cookie or the object handed out
 * would differ).
 *
 * The cache itself is named by its first word, which every allocation and
 * free of it writes (under its lock: the free list, the quarantine, the
 * counters, and the header words of the objects on its lists).
 */
function read_gp_seq(out: Int32Array, at: number, w: Int32Array, c: number): void {
  const gp_seq = w[c + KMEM_CACHE.gp_seq]!;
  set_range(out, at, 2, gp_seq, gp_seq + 1, false);
}

/*
 * kmem_cache_free()/kfree(): the object's cell (its shadow and header
 * change), the cache, found as slab_free() finds it (a kfree() names no
 * cache), and for a quarantined object gp_seq. Something that is no slab
 * object is an invalid free, which ends the schedule: its word alone.
 */
function free_footprint(w: Int32Array, obj: number, out: Int32Array, at: number): void {
  const c = w[w[MEMHDR.page_cache]! + (obj >>> PAGE_SHIFT)] ?? 0;
  if (c === 0) {
    set_range(out, at, 0, obj, obj + 1, true);
    return;
  }
  set_cell(out, at, 0, w, c, obj);
  set_range(out, at, 1, c, c + 1, true);
  if ((w[c + KMEM_CACHE.flags]! & SLAB_TYPESAFE_BY_RCU) === 0) read_gp_seq(out, at, w, c);
}

/*
 * kmem_cache_alloc(): the cache, and what slab_alloc() will take from it:
 * the head of the free list; else the quarantine's oldest object (its
 * cookie is read against gp_seq; it is handed out if aged, or if no new
 * memory can be had); else a cell of the newest slab, and when that slab
 * is full, a new one from the bump pointer every cache shares (written;
 * so is MEMHDR.exhausted when none is left). A never-used cell is named
 * only through the cache: no other access can reach it before it is
 * handed out.
 */
function alloc_footprint(w: Int32Array, c: number, out: Int32Array, at: number): void {
  set_range(out, at, 0, c, c + 1, true);
  const free = w[c + KMEM_CACHE.freelist]!;
  if (free !== 0) {
    set_cell(out, at, 1, w, c, free);
    return;
  }
  const oldest = w[c + KMEM_CACHE.quarantine_head]!;
  if (oldest !== 0) {
    set_cell(out, at, 1, w, c, oldest);
    read_gp_seq(out, at, w, c);
  }
  const cursor = w[c + KMEM_CACHE.slab_cursor]!;
  if (cursor === 0 || cursor + w[c + KMEM_CACHE.stride]! > w[c + KMEM_CACHE.slab_end]!)
    set_range(out, at, 3, MEMHDR.bump, MEMHDR.exhausted + 1, true);
}

/** Whether the accesses with footprints x and y may not commute. */
export function footprints_dependent(x: Int32Array, y: Int32Array): boolean {
  for (let r = 0; r < FP_RANGES; r++)
    if (x[2 * r + 1]! > x[2 * r]! && range_conflict(x, r, y)) return true;
  return false;
}

/* Whether range r of x overlaps a range of y where at least one of the two is written. */
function range_conflict(x: Int32Array, r: number, y: Int32Array): boolean {
  const lo = x[2 * r]!;
  const hi = x[2 * r + 1]!;
  const xw = (x[FP_FLAGS]! & (FP_WRITE1 << r)) !== 0;
  const yf = y[FP_FLAGS]!;
  for (let q = 0; q < FP_RANGES; q++)
    if (y[2 * q]! < hi && lo < y[2 * q + 1]! && (xw || (yf & (FP_WRITE1 << q)) !== 0)) return true;
  return false;
}
