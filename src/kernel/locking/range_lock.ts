/*
 * A range read-write lock (the range_lock of Davidlohr Bueso's 2017 series,
 * which Laurent Dufour's mmap_sem conversion used; seed 002). Lockers of
 * overlapping ranges conflict when either writes; others proceed together.
 * Requests queue FIFO under one spinlock; each counts the earlier requests
 * it conflicts with (blocking_ranges) and sleeps until that count is zero;
 * a release decrements the count of every later request it was blocking.
 */
import { defineStruct } from '../../runtime/layout.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { LIST_HEAD, LIST_NODE, list_add_tail, list_del_init, list_first } from '../list.js';
import { __set_current_state, schedule_until, TASK_RUNNING, wake_up_q } from '../sched.js';
import { kfree, kmalloc } from '../slab.js';
import { SPINLOCK, spin_lock, spin_unlock } from './spinlock.js';

export const RANGE_LOCK_TREE = defineStruct('range_lock_tree', {
  lock: SPINLOCK.$,
  requests: [LIST_HEAD.$, 'lock: every request, granted or waiting, in arrival order'],
});

/** One request, allocated per lock operation. */
export const RANGE_LOCK = defineStruct('range_lock', {
  node: [LIST_NODE.$, "the tree's lock"],
  start: 'constant while queued: first page',
  end: 'constant while queued: first page past the range',
  write: 'constant while queued',
  task: 'constant while queued: the requester',
  blocking_ranges:
    "the tree's lock: earlier requests it waits for; the requester reads it to sleep",
});

function* conflicts(
  k: KernelContext,
  e: number,
  start: number,
  end: number,
  write: boolean,
): KGen<boolean> {
  if ((yield k.load(e + RANGE_LOCK.start)) >= end || (yield k.load(e + RANGE_LOCK.end)) <= start)
    return false;
  return write || (yield k.load(e + RANGE_LOCK.write)) !== 0;
}

/** range_lock(): [start, end) for read or write; returns the request to unlock with. */
export function* range_lock(
  k: KernelContext,
  tree: number,
  start: number,
  end: number,
  write: boolean,
): KGen<number> {
  const req = yield kmalloc(k, RANGE_LOCK.$.size, 'range_lock');
  k.BUG_ON(req === 0, 'range_lock: out of memory');
  yield k.store(req + RANGE_LOCK.start, start);
  yield k.store(req + RANGE_LOCK.end, end);
  yield k.store(req + RANGE_LOCK.write, write ? 1 : 0);
  yield k.store(req + RANGE_LOCK.task, k.current);
  yield* spin_lock(k, tree + RANGE_LOCK_TREE.lock);
  let blocking = 0;
  for (
    let e = yield list_first(k, tree + RANGE_LOCK_TREE.requests);
    e !== 0;
    e = yield k.load(e + LIST_NODE.next)
  ) {
    if (yield* conflicts(k, e, start, end, write)) blocking++;
  }
  yield k.store(req + RANGE_LOCK.blocking_ranges, blocking);
  yield* list_add_tail(k, tree + RANGE_LOCK_TREE.requests, req);
  yield* spin_unlock(k, tree + RANGE_LOCK_TREE.lock);
  yield* call(
    schedule_until(k, function* () {
      return (yield k.READ_ONCE(req + RANGE_LOCK.blocking_ranges)) === 0;
    }),
  );
  yield* __set_current_state(k, TASK_RUNNING);
  return req;
}

/** range_unlock(): release `req`, waking the requests it was the last to block. */
export function* range_unlock(k: KernelContext, tree: number, req: number): KGen {
  const start = yield k.load(req + RANGE_LOCK.start);
  const end = yield k.load(req + RANGE_LOCK.end);
  const write = (yield k.load(req + RANGE_LOCK.write)) !== 0;
  const wake: number[] = [];
  yield* spin_lock(k, tree + RANGE_LOCK_TREE.lock);
  // Only requests that arrived after this one counted it.
  for (let e = yield k.load(req + LIST_NODE.next); e !== 0; e = yield k.load(e + LIST_NODE.next)) {
    if (!(yield* conflicts(k, e, start, end, write))) continue;
    const left = (yield k.load(e + RANGE_LOCK.blocking_ranges)) - 1;
    yield k.WRITE_ONCE(e + RANGE_LOCK.blocking_ranges, left);
    if (left === 0) wake.push(yield k.load(e + RANGE_LOCK.task));
  }
  yield* list_del_init(k, tree + RANGE_LOCK_TREE.requests, req);
  yield* spin_unlock(k, tree + RANGE_LOCK_TREE.lock);
  yield* call(wake_up_q(k, wake));
  yield* kfree(k, req, 'range_unlock');
}
