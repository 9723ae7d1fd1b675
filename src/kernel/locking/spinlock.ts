/*
 * raw_spinlock_t: the queued spinlock (kernel/locking/qspinlock.c), so
 * that a contended lock costs what the kernel's does. A test-and-set lock
 * makes every waiter re-read the lock's line at each release and race
 * for it, a transfer per waiter per handoff, and its throughput collapses
 * with the CPUs (Boyd-Wickizer et al., "Non-scalable locks are
 * dangerous", 2012); and with two CPUs it lets the releasing CPU take the
 * lock straight back, handing over far less often than the kernel's,
 * which is fair. Here, as in queued_spin_lock_slowpath(): a second
 * contender sets the pending bit and spins on the lock word; any more
 * append their per-task MCS node to the tail encoded in the lock word and
 * spin on their own node; only the queue's head spins on the lock word,
 * and each handover is one store.
 *
 * The lock word: the locked byte (bits 0-7), the pending byte (bits
 * 8-15) and the tail, the queued task + 1 (bits 16-31). Words are the
 * model's smallest unit, so the kernel's byte and halfword stores to the
 * locked and pending bytes are atomic ANDs, ORs and ADDs of the word, and
 * xchg_tail() is the cmpxchg loop the kernel uses where the tail has no
 * halfword of its own. Left out: paravirt, and the bound on the wait for
 * a pending CPU to take the lock (a forward-progress guard the model's
 * waits do not need).
 *
 * Contended waiters spin with smp_cond_load_acquire(), which the explorer
 * turns into one parked step instead of an unbounded spin.
 */
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import {
  call,
  type KernelContext,
  type KGen,
  LOCK_WRITE,
  ORDER_ACQUIRE,
  ORDER_RELAXED,
  ORDER_RELEASE,
} from '../../runtime/ops.js';
import { assert_stack_slot, TASK_STRUCT } from '../sched.js';
import { lock_class, lockdep_assert_held } from './lockdep.js';

export const SPINLOCK = defineStruct('raw_spinlock_t', {
  val: 'atomic: the locked byte, the pending byte and the tail of the queue of waiters',
  dep_map: 'constant after spin_lock_init(): lockdep class',
});

const _Q_LOCKED_VAL = 1;
const _Q_LOCKED_MASK = 0xff;
const _Q_PENDING_VAL = 1 << 8;
const _Q_PENDING_MASK = 0xff << 8;
const _Q_LOCKED_PENDING_MASK = _Q_LOCKED_MASK | _Q_PENDING_MASK;
const _Q_TAIL_OFFSET = 16;
const _Q_TAIL_MASK = ~0xffff;

/** struct mcs_spinlock: a waiter's queue node, one per task (the model has no interrupts to nest). */
const MCS_SPINLOCK = defineStruct('mcs_spinlock', {
  next: 'WRITE_ONCE by the next waiter: its node (0 while there is none)',
  locked: 'store_release by the previous waiter: 1 when this one heads the queue',
});
assert_stack_slot('mcs', 2, MCS_SPINLOCK.$.size);

/* encode_tail() / decode_tail(): a task's node, named in the lock word by its task + 1. */
const encode_tail = (task: number): number => (task + 1) << _Q_TAIL_OFFSET;
const decode_tail = (k: KernelContext, val: number): number =>
  k.sys.tasks[(val >>> _Q_TAIL_OFFSET) - 1]! + TASK_STRUCT.mcs;

/** Re-introduced mistake: acquire is a load and then a store, not one atomic step. */
export const VARIANT_BROKEN_SPINLOCK = 'broken-spinlock';

export function spin_lock_init(m: KernelMemory, lock: number, name: string): void {
  m.words[lock + SPINLOCK.val] = 0;
  m.words[lock + SPINLOCK.dep_map] = lock_class(name);
}

export function* spin_lock(k: KernelContext, lock: number): KGen {
  const val = lock + SPINLOCK.val;
  if (k.variant === VARIANT_BROKEN_SPINLOCK) {
    // The bug: the check and the store are two steps; two CPUs can both see 0.
    for (;;) {
      if ((yield k.READ_ONCE(val)) === 0) {
        yield k.WRITE_ONCE(val, _Q_LOCKED_VAL);
        break;
      }
      yield k.cond_load_ne(val, _Q_LOCKED_VAL);
    }
  } else {
    const seen = yield k.cmpxchg(val, 0, _Q_LOCKED_VAL, ORDER_ACQUIRE);
    if (seen !== 0) yield* call(queued_spin_lock_slowpath(k, val, seen));
  }
  if (k.lockdep) yield k.lock_acquire(lock + SPINLOCK.dep_map, LOCK_WRITE, false);
}

/* queued_spin_lock_slowpath(lock, val): `seen` is what the fast path's cmpxchg found. */
function* queued_spin_lock_slowpath(k: KernelContext, val: number, seen: number): KGen {
  // A pending CPU is taking the lock over (0,1,0 -> 0,0,1): let it.
  if (seen === _Q_PENDING_VAL) seen = yield k.cond_load_ne(val, _Q_PENDING_VAL);
  if ((seen & ~_Q_LOCKED_MASK) === 0) {
    // trylock || pending (0,0,* -> 0,1,*).
    const old = yield k.fetch_or(val, _Q_PENDING_VAL, ORDER_ACQUIRE);
    if ((old & ~_Q_LOCKED_MASK) === 0) {
      // Pending: wait for the owner to go (0,1,1 -> *,1,0), then take it (0,1,0 -> 0,0,1).
      yield* wait_for_locked_clear(k, val, _Q_LOCKED_MASK, old | _Q_PENDING_VAL);
      yield k.fetch_add(val, _Q_LOCKED_VAL - _Q_PENDING_VAL, ORDER_RELAXED);
      return;
    }
    // A concurrent locker: undo the pending bit if it was ours, and queue.
    if ((old & _Q_PENDING_MASK) === 0) yield k.fetch_and(val, ~_Q_PENDING_VAL, ORDER_RELAXED);
  }
  const node = k.current + TASK_STRUCT.mcs;
  const tail = encode_tail(k.cpu);
  yield k.WRITE_ONCE(node + MCS_SPINLOCK.locked, 0);
  yield k.WRITE_ONCE(node + MCS_SPINLOCK.next, 0);
  // The node's line was cold: try once more before queueing.
  if (
    (yield k.READ_ONCE(val)) === 0 &&
    (yield k.cmpxchg(val, 0, _Q_LOCKED_VAL, ORDER_ACQUIRE)) === 0
  )
    return;
  // xchg_tail()
  let old: number = yield k.READ_ONCE(val);
  for (;;) {
    const was = yield k.cmpxchg(val, old, (old & ~_Q_TAIL_MASK) | tail, ORDER_RELAXED);
    if (was === old) break;
    old = was;
  }
  let next = 0;
  if (old & _Q_TAIL_MASK) {
    yield k.WRITE_ONCE(decode_tail(k, old) + MCS_SPINLOCK.next, node);
    // arch_mcs_spin_lock_contended(): until the previous waiter hands the head over.
    yield k.cond_load_ne(node + MCS_SPINLOCK.locked, 0);
    next = yield k.READ_ONCE(node + MCS_SPINLOCK.next);
  }
  // The head: until neither an owner nor a pending CPU is left.
  const v = yield* wait_for_locked_clear(k, val, _Q_LOCKED_PENDING_MASK, yield k.load_acquire(val));
  // The last in the queue takes the lock and empties the queue in one step.
  if ((v & _Q_TAIL_MASK) === tail && (yield k.cmpxchg(val, v, _Q_LOCKED_VAL, ORDER_RELAXED)) === v)
    return;
  // set_locked(), then make the next waiter the head.
  yield k.fetch_or(val, _Q_LOCKED_VAL, ORDER_RELAXED);
  if (next === 0) next = yield k.cond_load_ne(node + MCS_SPINLOCK.next, 0);
  yield k.store_release(next + MCS_SPINLOCK.locked, 1);
}

/* atomic_cond_read_acquire(&lock->val, !(VAL & mask)), from `v` read already; the value that ends it. */
function* wait_for_locked_clear(
  k: KernelContext,
  val: number,
  mask: number,
  v: number,
): KGen<number> {
  while (v & mask) v = yield k.cond_load_ne(val, v);
  return v;
}

export function* spin_unlock(k: KernelContext, lock: number): KGen {
  if (k.lockdep) yield k.lock_release(lock + SPINLOCK.dep_map);
  // smp_store_release(&lock->locked, 0): the tail stays as the waiters left it.
  yield k.fetch_and(lock + SPINLOCK.val, ~_Q_LOCKED_MASK, ORDER_RELEASE);
}

/** lockdep_assert_held(&lock) */
export function* spin_assert_held(k: KernelContext, lock: number): KGen {
  yield* lockdep_assert_held(k, lock + SPINLOCK.dep_map);
}
