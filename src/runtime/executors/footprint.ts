/*
 * Footprints: the words a pending access reads or writes, which the
 * explorer's partial-order reduction compares to decide whether two
 * accesses commute (see check/dfs.ts). Two accesses are dependent when
 * their footprints overlap where at least one writes; an allocation
 * depends on every access that touches memory, since which object it hands
 * out is not known before it runs.
 */
import { KMEM_CACHE } from '../heap.js';
import { type KernelContext, Op } from '../ops.js';
import { RCU_DATA } from '../rcu_reader.js';

/** Slots of a footprint (see footprint()): range r at slots 2r and 2r + 1, then the flags. */
export const FP_LO1 = 0;
export const FP_HI1 = 1;
const FP_LO2 = 2;
const FP_HI2 = 3;
const FP_LO3 = 4;
const FP_HI3 = 5;
/** How many ranges a footprint has. */
export const FP_RANGES = 3;
/** Bit r: range r + 1 is written; bit FP_RANGES: an allocation. */
export const FP_FLAGS = 6;
export const FP_WRITE1 = 1;
const FP_WRITE2 = 2;
const FP_ALLOC = 8;
export const FOOTPRINT_SLOTS = 7;

/*
 * The words access `k` reads or writes, as up to three ranges: one word for
 * loads, stores, atomics and futex calls (a wake writes the waiters'
 * state); destination and source of a memcpy; the object and its cache for
 * a free; the cache for an allocation (flagged: which object it hands out
 * is not known before, see dependent()); for both, the rcu_state.gp_seq
 * they read (a free stamps it on the object's quarantine cookie, an
 * allocation compares it with the oldest cookie), so that a free or an
 * allocation before and after the grace-period kthread's update do not
 * pass for commuting (the quarantine would hand out another object); the
 * task's rcu_data for
 * rcu_read_lock/unlock, which the gp kthread reads, and for an unlock the
 * gp_waiting word it reads. Lock annotations change only lockdep's view of
 * their own task: no words.
 */
export function footprint(k: KernelContext, w: Int32Array, out: Int32Array, at = 0): void {
  let lo1 = k.addr;
  let hi1 = lo1 + 1;
  let lo2 = 0;
  let hi2 = 0;
  let lo3 = 0;
  let hi3 = 0;
  let flags = FP_WRITE1;
  switch (k.op) {
    case Op.LOAD:
    case Op.READ_ONCE:
    case Op.LOAD_ACQUIRE:
    case Op.COND_LOAD_NE:
    case Op.FUTEX_WAIT:
      flags = 0;
      break;
    case Op.MEMCPY:
      hi1 = lo1 + k.b;
      lo2 = k.a;
      hi2 = lo2 + k.b;
      break;
    case Op.MEMSET:
      hi1 = lo1 + k.b;
      break;
    case Op.FREE:
      hi1 = lo1 + w[k.a + KMEM_CACHE.object_size]!;
      lo2 = k.a;
      hi2 = lo2 + 1;
      lo3 = w[k.a + KMEM_CACHE.gp_seq]!;
      hi3 = lo3 + 1;
      flags = FP_WRITE1 | FP_WRITE2;
      break;
    case Op.ALLOC:
      lo3 = w[k.addr + KMEM_CACHE.gp_seq]!;
      hi3 = lo3 + 1;
      flags = FP_WRITE1 | FP_ALLOC;
      break;
    case Op.RCU_READ_LOCK:
    case Op.RCU_READ_UNLOCK:
      lo1 = k.sys.rcu_data[k.cpu]!;
      hi1 = lo1 + RCU_DATA.$.size;
      if (k.op === Op.RCU_READ_UNLOCK) {
        lo2 = k.sys.rcu_gp_waiting;
        hi2 = lo2 + 1;
      }
      break;
    case Op.LOCK_ACQUIRE:
    case Op.LOCK_RELEASE:
    case Op.ASSERT_HELD:
      hi1 = lo1;
      flags = 0;
      break;
  }
  out[at + FP_LO1] = lo1;
  out[at + FP_HI1] = hi1;
  out[at + FP_LO2] = lo2;
  out[at + FP_HI2] = hi2;
  out[at + FP_LO3] = lo3;
  out[at + FP_HI3] = hi3;
  out[at + FP_FLAGS] = flags;
}

/** Whether the accesses with footprints x and y may not commute. */
export function footprints_dependent(x: Int32Array, y: Int32Array): boolean {
  // An allocation may hand out any free object of its cache, words the other may touch.
  if ((x[FP_FLAGS]! | y[FP_FLAGS]!) & FP_ALLOC)
    return x[FP_HI1]! > x[FP_LO1]! && y[FP_HI1]! > y[FP_LO1]!;
  return conflict(x, y);
}

/* Whether two footprints overlap where at least one of them writes. */
function conflict(x: Int32Array, y: Int32Array): boolean {
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
