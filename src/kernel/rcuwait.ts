/*
 * struct rcuwait (include/linux/rcuwait.h, kernel/exit.c): one task waits
 * for a condition; wakers find it under RCU. vm_refcnt's writer waits on
 * mm->vma_writer_wait with it (seed 001).
 */
import { defineStruct } from '../runtime/layout.js';
import { call, type KernelContext, type KGen } from '../runtime/ops.js';
import { __set_current_state, schedule_until, TASK_RUNNING, wake_up_process } from './sched.js';

export const RCUWAIT = defineStruct('rcuwait', {
  task: 'rcu_assign_pointer by the one waiter; read under rcu_read_lock by wakers',
});

/** rcuwait_wait_event(): sleep until `condition` holds. */
export function* rcuwait_wait_event(
  k: KernelContext,
  w: number,
  condition: () => KGen<boolean>,
): KGen {
  yield k.store_release(w + RCUWAIT.task, k.current);
  yield* call(schedule_until(k, condition));
  yield k.WRITE_ONCE(w + RCUWAIT.task, 0);
  yield* __set_current_state(k, TASK_RUNNING);
}

/** rcuwait_wake_up(): wake the waiter, if any. True if one was woken. */
export function* rcuwait_wake_up(k: KernelContext, w: number): KGen<boolean> {
  yield k.rcu_read_lock();
  const task = yield k.load_acquire(w + RCUWAIT.task);
  const woke = task !== 0 && (yield* wake_up_process(k, task));
  yield k.rcu_read_unlock();
  return woke;
}
