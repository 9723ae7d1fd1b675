/*
 * raw_spinlock_t: a test-and-test-and-set lock (the semantics of
 * arch_spin_lock(); the queued spinlock's fairness is not modelled).
 *
 * Contended waiters spin with smp_cond_load_acquire(), which the explorer
 * turns into one parked step instead of an unbounded spin.
 */
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { type KernelContext, type KGen, LOCK_WRITE, ORDER_ACQUIRE } from '../../runtime/ops.js';
import { lock_class, lockdep_assert_held } from './lockdep.js';

export const SPINLOCK = defineStruct('raw_spinlock_t', {
  locked: 'itself: 0 unlocked, 1 locked',
  dep_map: 'constant after spin_lock_init(): lockdep class',
});

/** Re-introduced mistake: acquire is a load and then a store, not one atomic step. */
export const VARIANT_BROKEN_SPINLOCK = 'broken-spinlock';

export function spin_lock_init(m: KernelMemory, lock: number, name: string): void {
  m.words[lock + SPINLOCK.locked] = 0;
  m.words[lock + SPINLOCK.dep_map] = lock_class(name);
}

export function* spin_lock(k: KernelContext, lock: number): KGen {
  if (k.variant === VARIANT_BROKEN_SPINLOCK) {
    // The bug: the check and the store are two steps; two CPUs can both see 0.
    for (;;) {
      if ((yield k.READ_ONCE(lock + SPINLOCK.locked)) === 0) {
        yield k.WRITE_ONCE(lock + SPINLOCK.locked, 1);
        break;
      }
      yield k.cond_load_ne(lock + SPINLOCK.locked, 1);
    }
  } else {
    while ((yield k.cmpxchg(lock + SPINLOCK.locked, 0, 1, ORDER_ACQUIRE)) !== 0) {
      yield k.cond_load_ne(lock + SPINLOCK.locked, 1);
    }
  }
  if (k.lockdep) yield k.lock_acquire(lock + SPINLOCK.dep_map, LOCK_WRITE, false);
}

export function* spin_unlock(k: KernelContext, lock: number): KGen {
  if (k.lockdep) yield k.lock_release(lock + SPINLOCK.dep_map);
  yield k.store_release(lock + SPINLOCK.locked, 0);
}

/** lockdep_assert_held(&lock) */
export function* spin_assert_held(k: KernelContext, lock: number): KGen {
  yield* lockdep_assert_held(k, lock + SPINLOCK.dep_map);
}
