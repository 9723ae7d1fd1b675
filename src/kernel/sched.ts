/*
 * The little of kernel/sched/core.c that sleeping locks need: a task's
 * state word, set_current_state(), schedule() and wake_up_process().
 *
 * A task is a CPU's one thread of modelled kernel code (no preemption, no
 * migration). Sleeping is a futex wait on the task's own state word, so the
 * kernel's lost-wake-up rule carries over exactly: a waiter publishes
 * TASK_UNINTERRUPTIBLE *before* it tests its condition, and a waker that
 * changes the condition then calls wake_up_process() either finds the
 * state set (and wakes it) or the waiter sees the condition.
 */
import { cacheline_aligned, defineStruct } from '../runtime/layout.js';
import type { KernelContext, KGen } from '../runtime/ops.js';

export const TASK_RUNNING = 0;
export const TASK_UNINTERRUPTIBLE = 2;

/*
 * The kernel keeps a waiter (struct rwsem_waiter, struct swait_queue,
 * struct rcu_synchronize) on the waiting task's stack. Here each kind has
 * its own slot in the task_struct: a task never waits on two objects of
 * the same kind at once. The users check at load time that they fit.
 */
export const TASK_STRUCT = defineStruct('task_struct', {
  __state: cacheline_aligned('WRITE_ONCE by the task itself; cmpxchg by try_to_wake_up()'),
  cpu: 'constant: the CPU this task runs on',
  rwsem_waiter: [6, 'the task itself: its on-stack struct rwsem_waiter'],
  swait: [4, 'the task itself: its on-stack struct swait_queue'],
  rcu_synchronize: [12, 'the task itself: its on-stack struct rcu_synchronize'],
  mcs: [
    2,
    "the task itself while it waits for a spinlock: its queue node (the kernel's per-CPU qnodes)",
  ],
  vm_events: [7, "the task itself: its CPU's vm_event_states (VMA lock counters)"],
  range_held: [
    4,
    'the task itself: (mm, range_lock request) pairs it holds under the range policy',
  ],
  tlb_mm:
    'WRITE_ONCE by the task itself: the mm of the translation its CPU holds during a user access (0 between them); read by TLB shootdowns',
});
/*
 * task_structs are cache-line aligned, as task_struct_cachep aligns them
 * (L1_CACHE_BYTES): one CPU's task, whose vm_events it bumps on every
 * fault, shares no line with another's. A pointer to one also leaves its
 * low bits free for flags (rw_semaphore.owner's RWSEM_READER_OWNED and
 * RWSEM_NONSPINNABLE).
 */
if (TASK_STRUCT.$.align < 4) throw new Error('task_struct: a pointer to one needs 2 low bits free');

/** Check at load time that an on-stack struct fits its task_struct slot. */
export function assert_stack_slot(slot: string, words: number, size: number): void {
  if (size > words) throw new Error(`task_struct.${slot}: ${size} words do not fit in ${words}`);
}

/** set_current_state(): smp_store_mb(current->__state, state). */
export function* set_current_state(k: KernelContext, state: number): KGen {
  yield k.xchg(k.current + TASK_STRUCT.__state, state);
}

/** __set_current_state(): a plain WRITE_ONCE, no barrier. */
export function* __set_current_state(k: KernelContext, state: number): KGen {
  yield k.WRITE_ONCE(k.current + TASK_STRUCT.__state, state);
}

/**
 * schedule(): sleep until try_to_wake_up() sets us TASK_RUNNING; at once if
 * a waker already did. Callers re-test their condition in a loop, as in the
 * kernel.
 */
export function* schedule(k: KernelContext): KGen {
  yield k.futex_wait(k.current + TASK_STRUCT.__state, TASK_UNINTERRUPTIBLE);
}

/**
 * The kernel's sleep loop: publish TASK_UNINTERRUPTIBLE, then test `cond`,
 * then schedule(), until `cond` holds. The state is set before the test, so
 * a waker that makes `cond` true and then wakes us cannot be missed. Returns
 * with the state still TASK_UNINTERRUPTIBLE: the caller sets TASK_RUNNING.
 */
export function* schedule_until(k: KernelContext, cond: () => KGen<boolean>): KGen {
  for (;;) {
    yield* set_current_state(k, TASK_UNINTERRUPTIBLE);
    // In place, not call(): a closure's frame would be a new function to name at each sleep (ops.ts, frame_of()).
    if (yield* cond()) break;
    yield* schedule(k);
  }
}

/** wake_up_process(): true if the task was asleep (or about to be) and is now running. */
export function* wake_up_process(k: KernelContext, task: number): KGen<boolean> {
  const old = yield k.cmpxchg(task + TASK_STRUCT.__state, TASK_UNINTERRUPTIBLE, TASK_RUNNING);
  if (old !== TASK_UNINTERRUPTIBLE) return false;
  yield k.futex_wake(task + TASK_STRUCT.__state, 1);
  return true;
}

/** wake_up_q(): wake every task a waker collected while holding its lock. */
export function* wake_up_q(k: KernelContext, wake_q: readonly number[]): KGen {
  for (const task of wake_q) yield* wake_up_process(k, task);
}

/* The per-VMA lock's vmstat events (include/linux/vm_event_item.h), and faults handled under mmap_lock. */
export const VMA_LOCK_SUCCESS = 0;
export const VMA_LOCK_ABORT = 1;
export const VMA_LOCK_RETRY = 2;
export const VMA_LOCK_MISS = 3;
export const MMAP_LOCK_FAULT = 4;
/** Faults handled under a range lock of their page alone (the range policy). */
export const RANGE_LOCK_FAULT = 5;
export const VM_EVENT_NAMES = [
  'vma_lock_success',
  'vma_lock_abort',
  'vma_lock_retry',
  'vma_lock_miss',
  'mmap_lock_fault',
  'range_lock_fault',
] as const;

/** count_vm_vma_lock_event(): this CPU's counter, a plain increment (this_cpu_inc()). */
export function* count_vm_event(k: KernelContext, event: number): KGen {
  const slot = k.current + TASK_STRUCT.vm_events + event;
  yield k.store(slot, (yield k.load(slot)) + 1);
}

/** The vm event counters of every task, summed (what /proc/vmstat would show). */
export function vm_events_sum(w: Int32Array, tasks: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  VM_EVENT_NAMES.forEach((name, e) => {
    out[name] = tasks.reduce((sum, t) => sum + w[t + TASK_STRUCT.vm_events + e]!, 0);
  });
  return out;
}
