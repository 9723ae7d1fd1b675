/*
 * One native CPU: a worker thread that drives one task's generator and
 * performs its accesses on the shared kernel memory with Atomics. Blocking
 * waits are real (Atomics.wait), in slices, so that an abort from the main
 * thread is seen within one slice.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { KernelSymbols } from '../../kernel/boot.js';
import { __rcu_read_lock, __rcu_read_unlock } from '../../kernel/rcu/tree.js';
import { slab_alloc, slab_free } from '../../kernel/slab.js';
import { KernelMemory } from '../memory.js';
import { KernelContext, type KGen, Op } from '../ops.js';
import type { RunConfig, Scenario } from '../scenario.js';
import {
  CTRL,
  CTRL_ABORT,
  ctrl_base,
  TASK_BLOCKED,
  TASK_DONE,
  TASK_RUNNING,
} from './native_ctrl.js';

export interface WorkerInit {
  readonly sab: SharedArrayBuffer;
  readonly ctrl: SharedArrayBuffer;
  readonly sys: KernelSymbols;
  readonly globals: unknown;
  readonly cfg: RunConfig;
  readonly task: number;
}

/** Milliseconds a blocked worker sleeps before it looks at the abort flag again. */
const WAIT_SLICE_MS = 50;
/** Spins on a word before a spinner starts sleeping in slices. */
const SPIN_LIMIT = 4096;

class Aborted extends Error {}

export function worker_main(scenario: Scenario): void {
  const init = workerData as WorkerInit;
  const m = KernelMemory.attach(init.sab);
  const w = m.words;
  const ctrl = new Int32Array(init.ctrl);
  const t = init.task;
  const base = ctrl_base(t);
  const { sys, cfg } = init;
  const rdp = sys.rcu_data[t]!;
  const k = new KernelContext(sys, t, cfg.variant, false);

  const blocked = (op: number, addr: number) => {
    Atomics.store(ctrl, base + CTRL.op, op);
    Atomics.store(ctrl, base + CTRL.addr, addr);
    Atomics.store(ctrl, base + CTRL.state, TASK_BLOCKED);
  };
  const check_abort = () => {
    if (Atomics.load(ctrl, CTRL_ABORT) !== 0) throw new Aborted();
  };

  function perform(): number {
    const addr = k.addr;
    switch (k.op) {
      case Op.LOAD:
        return w[addr]!;
      case Op.STORE:
        w[addr] = k.a;
        return 0;
      case Op.READ_ONCE:
      case Op.LOAD_ACQUIRE:
        return Atomics.load(w, addr);
      case Op.WRITE_ONCE:
      case Op.STORE_RELEASE:
        Atomics.store(w, addr, k.a);
        return 0;
      case Op.CMPXCHG:
        return Atomics.compareExchange(w, addr, k.a, k.b);
      case Op.XCHG:
        return Atomics.exchange(w, addr, k.a);
      case Op.FETCH_ADD:
        return Atomics.add(w, addr, k.a);
      case Op.FETCH_OR:
        return Atomics.or(w, addr, k.a);
      case Op.FETCH_AND:
        return Atomics.and(w, addr, k.a);
      case Op.COND_LOAD_NE: {
        let v = Atomics.load(w, addr);
        for (let spins = 0; v === k.a; spins++) {
          if (spins === SPIN_LIMIT) blocked(Op.COND_LOAD_NE, addr);
          if (spins >= SPIN_LIMIT) {
            // Let the holder run: on fewer cores than workers it may be descheduled.
            Atomics.wait(w, addr, v, 0.05);
            check_abort();
          }
          v = Atomics.load(w, addr);
        }
        Atomics.store(ctrl, base + CTRL.state, TASK_RUNNING);
        return v;
      }
      case Op.FUTEX_WAIT: {
        if (Atomics.load(w, addr) !== k.a) return 1;
        blocked(Op.FUTEX_WAIT, addr);
        for (;;) {
          const r = Atomics.wait(w, addr, k.a, WAIT_SLICE_MS);
          if (r !== 'timed-out') {
            Atomics.store(ctrl, base + CTRL.state, TASK_RUNNING);
            return r === 'ok' ? 0 : 1;
          }
          check_abort();
        }
      }
      case Op.FUTEX_WAKE:
        return Atomics.notify(w, addr, k.a);
      case Op.RCU_READ_LOCK:
        __rcu_read_lock(w, rdp);
        return 0;
      case Op.RCU_READ_UNLOCK: {
        const wake = __rcu_read_unlock(w, rdp, sys.rcu_state);
        if (wake < 0) throw new Error('rcu_read_unlock() without rcu_read_lock()');
        if (wake > 0) Atomics.notify(w, wake);
        return 0;
      }
      case Op.LOCK_ACQUIRE:
      case Op.LOCK_RELEASE:
        return 0;
      case Op.ALLOC:
        return slab_alloc(m, addr, k.a);
      case Op.FREE:
        slab_free(m, addr, k.a, t);
        return 0;
      default:
        throw new Error(`unknown op ${k.op}`);
    }
  }

  const gen: KGen =
    t < cfg.cpus ? scenario.cpu(k, init.globals, cfg) : scenario.kthreads[t - cfg.cpus]!.fn(k);
  try {
    let steps = 0;
    let r = gen.next();
    while (!r.done) {
      r = gen.next(perform());
      if ((++steps & 1023) === 0) {
        Atomics.store(ctrl, base + CTRL.steps, steps);
        check_abort();
      }
    }
    Atomics.store(ctrl, base + CTRL.steps, steps);
    Atomics.store(ctrl, base + CTRL.state, TASK_DONE);
    parentPort!.postMessage({ type: 'done' });
  } catch (e) {
    if (e instanceof Aborted) return;
    const err = e as Error & { bug_class?: string };
    Atomics.store(ctrl, base + CTRL.op, k.op);
    Atomics.store(ctrl, base + CTRL.addr, k.addr);
    parentPort!.postMessage({
      type: 'bug',
      bug_class: err.bug_class ?? 'exception',
      message: err.message,
      stack: err.stack ?? '',
    });
  }
}
