/*
 * struct rw_semaphore, modelled on kernel/locking/rwsem.c: one count word
 * with a reader bias, the writer-locked bit, the waiters and hand-off
 * flags; a FIFO wait list under wait_lock; readers granted in batches by
 * the waker; a writer that tries the lock itself each time it wakes.
 * Optimistic spinning (osq) is left out: it only changes who gets the lock
 * first, never what a holder may assume.
 *
 * Two properties of the real rwsem matter to the seeds and are kept:
 *  - up_read() keeps touching the semaphore (owner, then wait_lock and the
 *    wait list in rwsem_wake()) *after* its fetch_add released the lock;
 *  - rwsem_down_write_slowpath() can take the lock as soon as
 *    rwsem_try_write_lock() sees no active lockers, without waiting for
 *    that reader's wake-up.
 * Together they let down_write() return, and its caller free the object
 * that embeds the semaphore, while up_read() still works on it (seed 000,
 * Jann Horn: "down_write() can return successfully before up_read() is
 * done with its memory accesses").
 */
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import {
  call,
  KernelBug,
  type KernelContext,
  type KGen,
  LOCK_READ,
  LOCK_WRITE,
  ORDER_ACQUIRE,
  ORDER_RELAXED,
  ORDER_RELEASE,
} from '../../runtime/ops.js';
import {
  LIST_HEAD,
  LIST_NODE,
  list_add_tail,
  list_del_init,
  list_first,
  list_is_singular,
} from '../list.js';
import {
  __set_current_state,
  assert_stack_slot,
  schedule,
  schedule_until,
  set_current_state,
  TASK_RUNNING,
  TASK_STRUCT,
  TASK_UNINTERRUPTIBLE,
  wake_up_q,
} from '../sched.js';
import { lock_class, lockdep_assert_held, lockdep_assert_held_write } from './lockdep.js';
import { SPINLOCK, spin_assert_held, spin_lock, spin_lock_init, spin_unlock } from './spinlock.js';

const RWSEM_WRITER_LOCKED = 1 << 0;
export const RWSEM_FLAG_WAITERS = 1 << 1;
export const RWSEM_FLAG_HANDOFF = 1 << 2;
const RWSEM_READER_SHIFT = 8;
export const RWSEM_READER_BIAS = 1 << RWSEM_READER_SHIFT;
/** Top bit: the reader count overflowed into it (the count is 32 bits here). */
const RWSEM_FLAG_READFAIL = 1 << 31;
const RWSEM_READER_MASK = ~(RWSEM_READER_BIAS - 1) & ~RWSEM_FLAG_READFAIL;
const RWSEM_WRITER_MASK = RWSEM_WRITER_LOCKED;
export const RWSEM_LOCK_MASK = RWSEM_WRITER_MASK | RWSEM_READER_MASK;
export const RWSEM_READ_FAILED_MASK =
  RWSEM_WRITER_MASK | RWSEM_FLAG_WAITERS | RWSEM_FLAG_HANDOFF | RWSEM_FLAG_READFAIL;

/** sem->owner low bits (task_structs are 16-word aligned, so pointers leave them free). */
export const RWSEM_READER_OWNED = 1 << 0;
export const RWSEM_NONSPINNABLE = 1 << 1;

export const RW_SEMAPHORE = defineStruct('rw_semaphore', {
  count: 'atomic: RWSEM_WRITER_LOCKED | RWSEM_FLAG_WAITERS | RWSEM_FLAG_HANDOFF | readers << 8',
  owner: 'atomic, informational: the writer, or the last reader | RWSEM_READER_OWNED',
  wait_lock: SPINLOCK.$,
  wait_list: [LIST_HEAD.$, 'wait_lock: FIFO of rwsem_waiters'],
  dep_map: 'constant after init_rwsem(): lockdep class',
});

/** On the waiting task's stack (task_struct.stack). */
const RWSEM_WAITER = defineStruct('rwsem_waiter', {
  list: [LIST_NODE.$, 'wait_lock'],
  task: "wait_lock to queue; a reader's is cleared with smp_store_release by its waker",
  type: 'constant while queued: RWSEM_WAITING_FOR_READ or _WRITE',
  timeout: 'wait_lock: set once the waiter was passed over (time_after(jiffies, timeout))',
});

assert_stack_slot('rwsem_waiter', 6, RWSEM_WAITER.$.size);

const RWSEM_WAITING_FOR_WRITE = 0;
const RWSEM_WAITING_FOR_READ = 1;

const RWSEM_WAKE_ANY = 0;
const RWSEM_WAKE_READERS = 1;
const RWSEM_WAKE_READ_OWNED = 2;

const WRITER_NOT_FIRST = 0;
const WRITER_FIRST = 1;
const WRITER_HANDOFF = 2;

export function init_rwsem(m: KernelMemory, sem: number, name: string): void {
  m.words[sem + RW_SEMAPHORE.count] = 0;
  m.words[sem + RW_SEMAPHORE.owner] = 0;
  spin_lock_init(m, sem + RW_SEMAPHORE.wait_lock, `${name}.wait_lock`);
  m.words[sem + RW_SEMAPHORE.dep_map] = lock_class(name);
}

/* One access, so a plain function whose op the caller yields: no generator on the fast path. */
function rwsem_set_reader_owned(k: KernelContext, sem: number): number {
  return k.WRITE_ONCE(sem + RW_SEMAPHORE.owner, k.current | RWSEM_READER_OWNED);
}

/*
 * rwsem_mark_wake(): wait_lock held, the list not empty. A writer at the
 * front is only woken (it takes the lock itself); readers at the front are
 * granted the lock here, counted into sem->count before any is woken.
 */
function* rwsem_mark_wake(
  k: KernelContext,
  sem: number,
  wake_type: number,
  wake_q: number[],
): KGen {
  const count = sem + RW_SEMAPHORE.count;
  let waiter = yield list_first(k, sem + RW_SEMAPHORE.wait_list);
  if ((yield k.load(waiter + RWSEM_WAITER.type)) === RWSEM_WAITING_FOR_WRITE) {
    if (wake_type === RWSEM_WAKE_ANY) wake_q.push(yield k.load(waiter + RWSEM_WAITER.task));
    return;
  }
  if ((yield k.READ_ONCE(count)) & RWSEM_FLAG_READFAIL) return;

  let adjustment = 0;
  if (wake_type !== RWSEM_WAKE_READ_OWNED) {
    adjustment = RWSEM_READER_BIAS;
    const oldcount = yield k.fetch_add(count, adjustment, ORDER_RELAXED);
    if (oldcount & RWSEM_WRITER_MASK) {
      // A writer stole the lock. Waited "too" long: ask for a hand-off.
      if (!(oldcount & RWSEM_FLAG_HANDOFF) && (yield k.load(waiter + RWSEM_WAITER.timeout))) {
        adjustment -= RWSEM_FLAG_HANDOFF;
      }
      yield k.store(waiter + RWSEM_WAITER.timeout, 1);
      yield k.fetch_add(count, -adjustment, ORDER_RELAXED);
      return;
    }
    yield k.WRITE_ONCE(
      sem + RW_SEMAPHORE.owner,
      (yield k.load(waiter + RWSEM_WAITER.task)) | RWSEM_READER_OWNED,
    );
  }

  // First pass: cut the readers at the front off the list and count them.
  const readers: number[] = [];
  while (waiter !== 0 && (yield k.load(waiter + RWSEM_WAITER.type)) === RWSEM_WAITING_FOR_READ) {
    readers.push(waiter);
    waiter = yield k.load(waiter + LIST_NODE.next);
  }
  for (const r of readers) yield* list_del_init(k, sem + RW_SEMAPHORE.wait_list, r);

  adjustment = readers.length * RWSEM_READER_BIAS - adjustment;
  if ((yield list_first(k, sem + RW_SEMAPHORE.wait_list)) === 0) adjustment -= RWSEM_FLAG_WAITERS;
  // readers is not empty: the front waiter is a reader (its type, constant
  // while queued, was tested above), so the first pass took at least it.
  if ((yield k.READ_ONCE(count)) & RWSEM_FLAG_HANDOFF) adjustment -= RWSEM_FLAG_HANDOFF;
  if (adjustment !== 0) yield k.fetch_add(count, adjustment, ORDER_RELAXED);

  // Second pass: hand each reader its lock, then wake it (after wait_lock is dropped).
  for (const r of readers) {
    const task = yield k.load(r + RWSEM_WAITER.task);
    yield k.store_release(r + RWSEM_WAITER.task, 0);
    wake_q.push(task);
  }
}

/*
 * rwsem_try_write_lock(): wait_lock held. Takes the lock if no one holds
 * it, or, for the first waiter that timed out, sets the hand-off bit so
 * that nobody else can take it meanwhile.
 */
function* rwsem_try_write_lock(k: KernelContext, sem: number, wstate: number): KGen<boolean> {
  yield* call(spin_assert_held(k, sem + RW_SEMAPHORE.wait_lock));
  const countp = sem + RW_SEMAPHORE.count;
  let count = yield k.READ_ONCE(countp);
  let next: number;
  for (;;) {
    const has_handoff = (count & RWSEM_FLAG_HANDOFF) !== 0;
    if (has_handoff && wstate === WRITER_NOT_FIRST) return false;
    next = count;
    if (count & RWSEM_LOCK_MASK) {
      if (has_handoff || wstate !== WRITER_HANDOFF) return false;
      next |= RWSEM_FLAG_HANDOFF;
    } else {
      next = (next | RWSEM_WRITER_LOCKED) & ~RWSEM_FLAG_HANDOFF;
      if (yield* list_is_singular(k, sem + RW_SEMAPHORE.wait_list)) next &= ~RWSEM_FLAG_WAITERS;
    }
    const old = yield k.cmpxchg(countp, count, next, ORDER_ACQUIRE);
    if (old === count) break;
    count = old;
  }
  if (next & RWSEM_FLAG_HANDOFF) return false;
  yield k.WRITE_ONCE(sem + RW_SEMAPHORE.owner, k.current);
  return true;
}

function* rwsem_down_read_slowpath(k: KernelContext, sem: number): KGen {
  const countp = sem + RW_SEMAPHORE.count;
  const waiter = k.current + TASK_STRUCT.rwsem_waiter;
  const wake_q: number[] = [];
  let adjustment = -RWSEM_READER_BIAS;

  yield k.store(waiter + RWSEM_WAITER.task, k.current);
  yield k.store(waiter + RWSEM_WAITER.type, RWSEM_WAITING_FOR_READ);
  yield k.store(waiter + RWSEM_WAITER.timeout, 0);

  yield* spin_lock(k, sem + RW_SEMAPHORE.wait_lock);
  if ((yield list_first(k, sem + RW_SEMAPHORE.wait_list)) === 0) {
    // No waiters and no writer: our READER_BIAS already holds the lock.
    if (!((yield k.READ_ONCE(countp)) & (RWSEM_WRITER_MASK | RWSEM_FLAG_HANDOFF))) {
      yield* spin_unlock(k, sem + RW_SEMAPHORE.wait_lock);
      yield rwsem_set_reader_owned(k, sem);
      return;
    }
    adjustment += RWSEM_FLAG_WAITERS;
  }
  yield* list_add_tail(k, sem + RW_SEMAPHORE.wait_list, waiter);

  // We are now waiting on the lock, no longer actively locking.
  const count = (yield k.fetch_add(countp, adjustment, ORDER_RELAXED)) + adjustment;
  if (
    !(count & RWSEM_LOCK_MASK) ||
    (!(count & RWSEM_WRITER_MASK) && adjustment & RWSEM_FLAG_WAITERS)
  ) {
    yield* call(rwsem_mark_wake(k, sem, RWSEM_WAKE_ANY, wake_q));
  }
  yield* spin_unlock(k, sem + RW_SEMAPHORE.wait_lock);
  yield* call(wake_up_q(k, wake_q));

  // Wait to be given the lock: our waker clears waiter.task.
  yield* call(
    schedule_until(k, function* () {
      return (yield k.load_acquire(waiter + RWSEM_WAITER.task)) === 0;
    }),
  );
  yield* __set_current_state(k, TASK_RUNNING);
}

function* rwsem_down_write_slowpath(k: KernelContext, sem: number): KGen {
  const countp = sem + RW_SEMAPHORE.count;
  const waiter = k.current + TASK_STRUCT.rwsem_waiter;
  const wake_q: number[] = [];

  yield k.store(waiter + RWSEM_WAITER.task, k.current);
  yield k.store(waiter + RWSEM_WAITER.type, RWSEM_WAITING_FOR_WRITE);
  yield k.store(waiter + RWSEM_WAITER.timeout, 0);

  yield* spin_lock(k, sem + RW_SEMAPHORE.wait_lock);
  let wstate =
    (yield list_first(k, sem + RW_SEMAPHORE.wait_list)) === 0 ? WRITER_FIRST : WRITER_NOT_FIRST;
  yield* list_add_tail(k, sem + RW_SEMAPHORE.wait_list, waiter);

  if (wstate === WRITER_NOT_FIRST) {
    const count = yield k.READ_ONCE(countp);
    // No writer active: wake readers queued ahead of us, or whoever is first.
    if (!(count & RWSEM_WRITER_MASK)) {
      yield* call(
        rwsem_mark_wake(
          k,
          sem,
          count & RWSEM_READER_MASK ? RWSEM_WAKE_READERS : RWSEM_WAKE_ANY,
          wake_q,
        ),
      );
      if (wake_q.length > 0) {
        yield* spin_unlock(k, sem + RW_SEMAPHORE.wait_lock);
        yield* call(wake_up_q(k, wake_q));
        yield* spin_lock(k, sem + RW_SEMAPHORE.wait_lock);
      }
    }
  } else {
    yield k.fetch_or(countp, RWSEM_FLAG_WAITERS, ORDER_RELAXED);
  }

  // Wait until we successfully acquire the lock.
  yield* set_current_state(k, TASK_UNINTERRUPTIBLE);
  while (!(yield* call(rwsem_try_write_lock(k, sem, wstate)))) {
    yield* spin_unlock(k, sem + RW_SEMAPHORE.wait_lock);
    // Block until there are no active lockers.
    for (;;) {
      yield* schedule(k);
      yield* set_current_state(k, TASK_UNINTERRUPTIBLE);
      if (wstate === WRITER_HANDOFF) break;
      if (
        wstate === WRITER_NOT_FIRST &&
        (yield list_first(k, sem + RW_SEMAPHORE.wait_list)) === waiter
      ) {
        wstate = WRITER_FIRST;
      }
      if (!((yield k.READ_ONCE(countp)) & RWSEM_LOCK_MASK)) break;
      // RWSEM_WAIT_TIMEOUT (4 ms of jiffies in the kernel) is one sleep here,
      // so that the explorer reaches the hand-off in a few steps: we have
      // just slept once, so a first writer always times out.
      if (wstate === WRITER_FIRST) {
        wstate = WRITER_HANDOFF;
        break;
      }
    }
    yield* spin_lock(k, sem + RW_SEMAPHORE.wait_lock);
  }
  yield* __set_current_state(k, TASK_RUNNING);
  yield* list_del_init(k, sem + RW_SEMAPHORE.wait_list, waiter);
  yield* spin_unlock(k, sem + RW_SEMAPHORE.wait_lock);
}

/* Wait_lock is taken here after the lock was released: see the header comment. */
function* rwsem_wake(k: KernelContext, sem: number, wake_type: number): KGen {
  const wake_q: number[] = [];
  yield* spin_lock(k, sem + RW_SEMAPHORE.wait_lock);
  if ((yield list_first(k, sem + RW_SEMAPHORE.wait_list)) !== 0)
    yield* call(rwsem_mark_wake(k, sem, wake_type, wake_q));
  yield* spin_unlock(k, sem + RW_SEMAPHORE.wait_lock);
  yield* call(wake_up_q(k, wake_q));
}

export function* down_read(k: KernelContext, sem: number): KGen {
  const old = yield k.fetch_add(sem + RW_SEMAPHORE.count, RWSEM_READER_BIAS, ORDER_ACQUIRE);
  if ((old + RWSEM_READER_BIAS) & RWSEM_READ_FAILED_MASK)
    yield* call(rwsem_down_read_slowpath(k, sem));
  else yield rwsem_set_reader_owned(k, sem);
  if (k.lockdep) yield k.lock_acquire(sem + RW_SEMAPHORE.dep_map, LOCK_READ, false);
}

export function* down_read_trylock(k: KernelContext, sem: number): KGen<boolean> {
  const countp = sem + RW_SEMAPHORE.count;
  let tmp = yield k.READ_ONCE(countp);
  while (!(tmp & RWSEM_READ_FAILED_MASK)) {
    const old = yield k.cmpxchg(countp, tmp, tmp + RWSEM_READER_BIAS, ORDER_ACQUIRE);
    if (old === tmp) {
      yield rwsem_set_reader_owned(k, sem);
      if (k.lockdep) yield k.lock_acquire(sem + RW_SEMAPHORE.dep_map, LOCK_READ, true);
      return true;
    }
    tmp = old;
  }
  return false;
}

export function* up_read(k: KernelContext, sem: number): KGen {
  if (k.lockdep) yield k.lock_release(sem + RW_SEMAPHORE.dep_map);
  const old = yield k.fetch_add(sem + RW_SEMAPHORE.count, -RWSEM_READER_BIAS, ORDER_RELEASE);
  if ((old & RWSEM_READER_MASK) === 0)
    throw new KernelBug('BUG', `up_read() of an rw_semaphore not read-locked (cpu ${k.cpu})`);
  // The lock is released here; the rest still touches *sem (seed 000).
  const tmp = old - RWSEM_READER_BIAS;
  if ((tmp & (RWSEM_LOCK_MASK | RWSEM_FLAG_WAITERS)) === RWSEM_FLAG_WAITERS) {
    // clear_nonspinnable()
    if ((yield k.READ_ONCE(sem + RW_SEMAPHORE.owner)) & RWSEM_NONSPINNABLE) {
      yield k.fetch_and(sem + RW_SEMAPHORE.owner, ~RWSEM_NONSPINNABLE, ORDER_RELAXED);
    }
    yield* call(rwsem_wake(k, sem, RWSEM_WAKE_ANY));
  }
}

export function* down_write(k: KernelContext, sem: number): KGen {
  if ((yield k.cmpxchg(sem + RW_SEMAPHORE.count, 0, RWSEM_WRITER_LOCKED, ORDER_ACQUIRE)) !== 0) {
    yield* call(rwsem_down_write_slowpath(k, sem));
  } else {
    yield k.WRITE_ONCE(sem + RW_SEMAPHORE.owner, k.current);
  }
  if (k.lockdep) yield k.lock_acquire(sem + RW_SEMAPHORE.dep_map, LOCK_WRITE, false);
}

export function* up_write(k: KernelContext, sem: number): KGen {
  if (k.lockdep) yield k.lock_release(sem + RW_SEMAPHORE.dep_map);
  if ((yield k.READ_ONCE(sem + RW_SEMAPHORE.owner)) !== k.current) {
    throw new KernelBug(
      'BUG',
      `up_write() of an rw_semaphore this task does not own (cpu ${k.cpu})`,
    );
  }
  yield k.WRITE_ONCE(sem + RW_SEMAPHORE.owner, 0);
  const old = yield k.fetch_add(sem + RW_SEMAPHORE.count, -RWSEM_WRITER_LOCKED, ORDER_RELEASE);
  if (old & RWSEM_FLAG_WAITERS) yield* call(rwsem_wake(k, sem, RWSEM_WAKE_ANY));
}

/** downgrade_write(): the write lock becomes a read lock; queued readers at the front join. */
export function* downgrade_write(k: KernelContext, sem: number): KGen {
  if (k.lockdep) {
    yield k.lock_release(sem + RW_SEMAPHORE.dep_map);
    yield k.lock_acquire(sem + RW_SEMAPHORE.dep_map, LOCK_READ, false);
  }
  const old = yield k.fetch_add(
    sem + RW_SEMAPHORE.count,
    -RWSEM_WRITER_LOCKED + RWSEM_READER_BIAS,
    ORDER_RELEASE,
  );
  yield rwsem_set_reader_owned(k, sem);
  if (old & RWSEM_FLAG_WAITERS) yield* call(rwsem_wake(k, sem, RWSEM_WAKE_READ_OWNED));
}

/** rwsem_assert_held(): the caller holds `sem`, for read or write. */
export function* rwsem_assert_held(k: KernelContext, sem: number): KGen {
  yield* lockdep_assert_held(k, sem + RW_SEMAPHORE.dep_map);
}

/** rwsem_assert_held_write() */
export function* rwsem_assert_held_write(k: KernelContext, sem: number): KGen {
  yield* lockdep_assert_held_write(k, sem + RW_SEMAPHORE.dep_map);
}
