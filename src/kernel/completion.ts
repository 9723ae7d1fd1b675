/*
 * struct completion (kernel/sched/completion.c) over a simple wait queue:
 * complete() counts one "done" and wakes the first waiter;
 * wait_for_completion() sleeps until done is non-zero and consumes one.
 */
import { defineStruct } from '../runtime/layout.js';
import type { KernelMemory } from '../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../runtime/ops.js';
import {
  LIST_HEAD,
  LIST_NODE,
  list_add_tail,
  list_del_init,
  list_first,
  list_node_empty,
} from './list.js';
import { SPINLOCK, spin_lock, spin_lock_init, spin_unlock } from './locking/spinlock.js';
import {
  __set_current_state,
  assert_stack_slot,
  schedule,
  TASK_RUNNING,
  TASK_STRUCT,
  TASK_UNINTERRUPTIBLE,
  wake_up_process,
} from './sched.js';

export const COMPLETION = defineStruct('completion', {
  done: 'wait_lock',
  wait_lock: SPINLOCK.$,
  task_list: [LIST_HEAD.$, 'wait_lock'],
});

/** struct swait_queue, on the waiting task's stack. */
const SWAIT_QUEUE = defineStruct('swait_queue', {
  task_list: [LIST_NODE.$, "the queue's wait_lock"],
  task: 'the waiting task itself, before queueing',
});

assert_stack_slot('swait', 4, SWAIT_QUEUE.$.size);

const UINT_MAX = -1;

export function init_completion(m: KernelMemory, x: number, name: string): void {
  m.words[x + COMPLETION.done] = 0;
  spin_lock_init(m, x + COMPLETION.wait_lock, `${name}.wait.lock`);
  m.words[x + COMPLETION.task_list + LIST_HEAD.first] = 0;
  m.words[x + COMPLETION.task_list + LIST_HEAD.last] = 0;
}

/** swake_up_locked(): wake the first waiter and take it off the queue. */
function* swake_up_locked(k: KernelContext, x: number): KGen {
  const curr = yield list_first(k, x + COMPLETION.task_list);
  if (curr === 0) return;
  yield* wake_up_process(k, yield k.load(curr + SWAIT_QUEUE.task));
  yield* list_del_init(k, x + COMPLETION.task_list, curr);
}

export function* complete(k: KernelContext, x: number): KGen {
  yield* spin_lock(k, x + COMPLETION.wait_lock);
  const done = yield k.load(x + COMPLETION.done);
  if (done !== UINT_MAX) yield k.store(x + COMPLETION.done, done + 1);
  yield* call(swake_up_locked(k, x));
  yield* spin_unlock(k, x + COMPLETION.wait_lock);
}

export function* wait_for_completion(k: KernelContext, x: number): KGen {
  const wait = k.current + TASK_STRUCT.swait;
  yield* spin_lock(k, x + COMPLETION.wait_lock);
  if ((yield k.load(x + COMPLETION.done)) === 0) {
    yield k.store(wait + SWAIT_QUEUE.task, k.current);
    yield k.store(wait + LIST_NODE.next, wait);
    do {
      // __prepare_to_swait(): queue once; the waker dequeues us.
      if (yield* list_node_empty(k, wait)) yield* list_add_tail(k, x + COMPLETION.task_list, wait);
      yield* __set_current_state(k, TASK_UNINTERRUPTIBLE);
      yield* spin_unlock(k, x + COMPLETION.wait_lock);
      yield* schedule(k);
      yield* spin_lock(k, x + COMPLETION.wait_lock);
    } while ((yield k.load(x + COMPLETION.done)) === 0);
    // __finish_swait()
    yield* __set_current_state(k, TASK_RUNNING);
    if (!(yield* list_node_empty(k, wait))) yield* list_del_init(k, x + COMPLETION.task_list, wait);
  }
  const done = yield k.load(x + COMPLETION.done);
  if (done !== UINT_MAX) yield k.store(x + COMPLETION.done, done - 1);
  yield* spin_unlock(k, x + COMPLETION.wait_lock);
}
