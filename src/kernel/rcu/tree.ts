/*
 * RCU (kernel/rcu/tree.c, non-preemptible flavour, much simplified):
 * readers mark their critical sections per CPU; a grace-period kthread
 * waits until every CPU has been outside a read-side critical section since
 * the grace period began, then runs the callbacks queued before it.
 *
 * The reader side is two executor ops (rcu_read_lock/unlock) over each
 * CPU's rcu_data (src/runtime/rcu_reader.ts). The writer side is ordinary
 * kernel code and so is explored like any other.
 *
 * Callbacks are queued per CPU, as CONFIG_RCU_NOCB_CPU queues them: each
 * CPU's rcu_data.cblist under its own rdp->nocb_lock, which the
 * grace-period kthread (standing in for the rcuog kthreads) takes to empty
 * the list; no line is shared between CPUs calling call_rcu() but the
 * kthread's wake-up word.
 */
import { cacheline_aligned, defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { RCU_DATA } from '../../runtime/rcu_reader.js';
import type { Kthread } from '../../runtime/scenario.js';
import { COMPLETION, complete, init_completion, wait_for_completion } from '../completion.js';
import { name_hash } from '../locking/lockdep.js';
import { SPINLOCK, spin_lock, spin_lock_init, spin_unlock } from '../locking/spinlock.js';
import { assert_stack_slot, TASK_STRUCT } from '../sched.js';

export const RCU_STATE = defineStruct('rcu_state', {
  gp_seq: cacheline_aligned(
    'WRITE_ONCE by the grace-period kthread: even when idle, odd during a grace period',
  ),
  gp_waiting: 'atomic: the kthread is waiting for quiescent states (readers must wake it)',
  kick: 'atomic futex word: bumped by call_rcu() and kthread_stop()',
  stop: 'WRITE_ONCE by kthread_stop()',
  // Its own line, never written after boot: this_cpu_ptr()'s per-CPU base, which shares no line with the kick.
  rcu_data_cb: cacheline_aligned("constant: address of CPU 0's rcu_data_cb; each task has one"),
});

/*
 * The callback half of a CPU's struct rcu_data (kernel/rcu/tree.h): the
 * reader half lives with the executors (RCU_DATA). A task's own line.
 */
export const RCU_DATA_CB = defineStruct('rcu_data_cb', {
  nocb_lock: cacheline_aligned(SPINLOCK.$),
  cblist_head: 'nocb_lock: oldest queued rcu_head (rcu_segcblist.head)',
  cblist_tail: 'nocb_lock: newest queued rcu_head',
});

export const RCU_HEAD = defineStruct('rcu_head', {
  next: "the queueing CPU's rcu_data_cb.nocb_lock",
  func: 'constant once queued: id of the callback',
});

export function rcu_init(
  m: KernelMemory,
  nr_tasks: number,
): { rcu_state: number; rcu_data: number[] } {
  m.bump(0, 16);
  const rsp = m.boot_alloc(RCU_STATE.$, 'rcu_state');
  const cb0 = m.boot_alloc(RCU_DATA_CB.$, 'rcu_data_cb', nr_tasks);
  m.words[rsp + RCU_STATE.rcu_data_cb] = cb0;
  for (let i = 0; i < nr_tasks; i++)
    spin_lock_init(m, cb0 + i * RCU_DATA_CB.$.size + RCU_DATA_CB.nocb_lock, 'rcu_data.nocb_lock');
  const rdp0 = m.boot_alloc(RCU_DATA.$, 'rcu_data', nr_tasks);
  const rcu_data: number[] = [];
  for (let i = 0; i < nr_tasks; i++) rcu_data.push(rdp0 + i * RCU_DATA.$.size);
  return { rcu_state: rsp, rcu_data };
}

/* ---- callbacks ---- */

type RcuCallback = (k: KernelContext, head: number) => KGen;
const callbacks = new Map<number, { name: string; fn: RcuCallback }>();

/** Give a callback an id that every worker thread computes alike. */
export function rcu_callback(name: string, fn: RcuCallback): number {
  const id = name_hash(name);
  const had = callbacks.get(id);
  if (had && had.name !== name)
    throw new Error(`RCU callbacks '${had.name}' and '${name}' collide`);
  callbacks.set(id, { name, fn });
  return id;
}

/* Task `cpu`'s rcu_data_cb. */
function* rcu_data_cb(k: KernelContext, cpu: number): KGen<number> {
  const base = yield k.load(k.sys.rcu_state + RCU_STATE.rcu_data_cb);
  return base + cpu * RCU_DATA_CB.$.size;
}

/** call_rcu(): run `func` on `head` after a grace period; queued on this CPU's list. */
export function* call_rcu(k: KernelContext, head: number, func: number): KGen {
  const rsp = k.sys.rcu_state;
  const rdp = yield* rcu_data_cb(k, k.cpu);
  yield k.store(head + RCU_HEAD.next, 0);
  yield k.store(head + RCU_HEAD.func, func);
  yield* spin_lock(k, rdp + RCU_DATA_CB.nocb_lock);
  const tail = yield k.load(rdp + RCU_DATA_CB.cblist_tail);
  if (tail === 0) yield k.WRITE_ONCE(rdp + RCU_DATA_CB.cblist_head, head);
  else yield k.store(tail + RCU_HEAD.next, head);
  yield k.store(rdp + RCU_DATA_CB.cblist_tail, head);
  yield* spin_unlock(k, rdp + RCU_DATA_CB.nocb_lock);
  yield k.fetch_add(rsp + RCU_STATE.kick, 1);
  yield k.futex_wake(rsp + RCU_STATE.kick, 1);
}

/** struct rcu_synchronize, on the task's stack: wakeme_after_rcu() completes it. */
const RCU_SYNCHRONIZE = defineStruct('rcu_synchronize', {
  head: [RCU_HEAD.$, 'rcu_data_cb.nocb_lock while queued'],
  completion: COMPLETION.$,
});
assert_stack_slot('rcu_synchronize', 12, RCU_SYNCHRONIZE.$.size);

const wakeme_after_rcu = rcu_callback('wakeme_after_rcu', function* (k, head) {
  yield* call(complete(k, head - RCU_SYNCHRONIZE.head + RCU_SYNCHRONIZE.completion));
});

/** synchronize_rcu(): wait for a full grace period (wait_rcu_gp()). */
export function* synchronize_rcu(k: KernelContext): KGen {
  const rs = k.current + TASK_STRUCT.rcu_synchronize;
  const x = rs + RCU_SYNCHRONIZE.completion;
  yield k.store(x + COMPLETION.done, 0);
  yield* call(call_rcu(k, rs + RCU_SYNCHRONIZE.head, wakeme_after_rcu));
  yield* call(wait_for_completion(k, x));
}

/** init for the on-stack completion's lock class (done once at boot). */
export function rcu_synchronize_init(m: KernelMemory, task: number): void {
  init_completion(
    m,
    task + TASK_STRUCT.rcu_synchronize + RCU_SYNCHRONIZE.completion,
    'rcu_synchronize.completion',
  );
}

/* ---- the grace-period kthread ---- */

/* Wait until CPU `rdp` is seen outside a read-side section. */
function* rcu_wait_quiescent(k: KernelContext, rdp: number): KGen {
  const snap = yield k.READ_ONCE(rdp + RCU_DATA.qs_seq);
  while ((yield k.READ_ONCE(rdp + RCU_DATA.nesting)) !== 0) {
    if ((yield k.futex_wait(rdp + RCU_DATA.qs_seq, snap)) !== 0) break;
  }
}

/* Whether any task's callback list holds a callback (read locklessly, as nocb_gp_wait() does). */
function* rcu_any_queued(k: KernelContext): KGen<boolean> {
  const cb0 = yield k.load(k.sys.rcu_state + RCU_STATE.rcu_data_cb);
  for (let cpu = 0; cpu < k.sys.rcu_data.length; cpu++) {
    if ((yield k.READ_ONCE(cb0 + cpu * RCU_DATA_CB.$.size + RCU_DATA_CB.cblist_head)) !== 0)
      return true;
  }
  return false;
}

/*
 * Take every task's queued callbacks, one list of them in CPU order
 * (rcu_nocb_gp_get()); a list read empty is not locked.
 */
function* rcu_take_callbacks(k: KernelContext): KGen<number> {
  const cb0 = yield k.load(k.sys.rcu_state + RCU_STATE.rcu_data_cb);
  let first = 0;
  let last = 0;
  for (let cpu = 0; cpu < k.sys.rcu_data.length; cpu++) {
    const rdp = cb0 + cpu * RCU_DATA_CB.$.size;
    if ((yield k.READ_ONCE(rdp + RCU_DATA_CB.cblist_head)) === 0) continue;
    yield* spin_lock(k, rdp + RCU_DATA_CB.nocb_lock);
    // Only this kthread empties a list: read non-empty, it is non-empty still.
    const head = yield k.load(rdp + RCU_DATA_CB.cblist_head);
    const tail = yield k.load(rdp + RCU_DATA_CB.cblist_tail);
    yield k.WRITE_ONCE(rdp + RCU_DATA_CB.cblist_head, 0);
    yield k.store(rdp + RCU_DATA_CB.cblist_tail, 0);
    yield* spin_unlock(k, rdp + RCU_DATA_CB.nocb_lock);
    if (last === 0) first = head;
    else yield k.store(last + RCU_HEAD.next, head);
    last = tail;
  }
  return first;
}

/**
 * rcu_gp_kthread(), with callback invocation folded in: take every queued
 * callback, run one grace period (rcu_gp_init, the quiescent-state scan,
 * rcu_gp_cleanup), invoke them; sleep when none is queued; return once
 * stopped and drained.
 */
export function* rcu_gp_kthread(k: KernelContext): KGen {
  const rsp = k.sys.rcu_state;
  for (;;) {
    for (;;) {
      const kick = yield k.READ_ONCE(rsp + RCU_STATE.kick);
      // stop before the lists: once stop is seen, no CPU queues anything
      // more, so lists read empty after it are empty for good.
      const stop = yield k.READ_ONCE(rsp + RCU_STATE.stop);
      if (yield* call(rcu_any_queued(k))) break;
      if (stop) return;
      yield k.futex_wait(rsp + RCU_STATE.kick, kick);
    }
    let head = yield* call(rcu_take_callbacks(k));

    // rcu_gp_init()
    const gp = yield k.READ_ONCE(rsp + RCU_STATE.gp_seq);
    yield k.WRITE_ONCE(rsp + RCU_STATE.gp_seq, gp + 1);
    yield k.xchg(rsp + RCU_STATE.gp_waiting, 1);
    for (let cpu = 0; cpu < k.sys.rcu_data.length; cpu++) {
      if (cpu !== k.cpu) yield* rcu_wait_quiescent(k, k.sys.rcu_data[cpu]!);
    }
    yield k.xchg(rsp + RCU_STATE.gp_waiting, 0);
    // rcu_gp_cleanup()
    yield k.WRITE_ONCE(rsp + RCU_STATE.gp_seq, gp + 2);

    // rcu_do_batch()
    while (head !== 0) {
      const next = yield k.load(head + RCU_HEAD.next);
      const func = yield k.load(head + RCU_HEAD.func);
      const cb = callbacks.get(func);
      k.BUG_ON(cb === undefined, `rcu_do_batch: unknown callback ${func}`);
      yield* call(cb!.fn(k, head));
      head = next;
    }
  }
}

/** The grace-period kthread, for scenarios that free memory after a grace period. */
export const RCU_GP_KTHREAD: Kthread = {
  name: 'rcu_gp_kthread',
  fn: rcu_gp_kthread,
  stop: (sys) => ({ flag: sys.rcu_state + RCU_STATE.stop, kick: sys.rcu_state + RCU_STATE.kick }),
};
