/*
 * RCU's reader side, as the executors perform it (rcu_read_lock/unlock
 * are two executor ops): natively a store to the CPU's own rcu_data line,
 * under the explorer also the knowledge of who is inside a read-side
 * section (KASAN and "sleeping function called from invalid context" need
 * it). The grace-period kthread that reads rcu_data, and the rest of RCU,
 * are kernel code (src/kernel/rcu/tree.ts).
 */
import { cacheline_aligned, defineStruct } from './layout.js';

/** Per CPU, on a cache line of its own. */
export const RCU_DATA = defineStruct('rcu_data', {
  nesting: cacheline_aligned('the CPU itself (rcu_read_lock depth); read by the kthread'),
  qs_seq: 'atomic: bumped by the CPU whenever it leaves its outermost read-side section',
});

export function __rcu_read_lock(w: Int32Array, rdp: number): void {
  Atomics.store(w, rdp + RCU_DATA.nesting, w[rdp + RCU_DATA.nesting]! + 1);
}

/**
 * `gp_waiting`: the address of the word that is set while the
 * grace-period kthread waits for quiescent states (rcu_state.gp_waiting).
 * Returns the address the kthread may be sleeping on (to be futex-woken by
 * the executor), or 0. -1 if there was no read-side section.
 */
export function __rcu_read_unlock(w: Int32Array, rdp: number, gp_waiting: number): number {
  const n = w[rdp + RCU_DATA.nesting]! - 1;
  if (n < 0) return -1;
  Atomics.store(w, rdp + RCU_DATA.nesting, n);
  if (n > 0) return 0;
  Atomics.add(w, rdp + RCU_DATA.qs_seq, 1);
  return Atomics.load(w, gp_waiting) ? rdp + RCU_DATA.qs_seq : 0;
}
