/*
 * TLB shootdown (arch/x86/mm/tlb.c, asm/tlbflush.h), as much of it as the
 * model's MMU needs. A CPU that has walked the page tables for a user
 * access goes on using that translation until the access is done: the
 * instruction completes before the CPU answers a flush IPI. So a writer
 * that downgrades or clears PTEs and then flushes knows that no access
 * through the old entries is still in flight once the flush returns:
 * fork's write-protection is then seen by every later store, and pages
 * are freed only after the flush (tlb_finish_mmu()).
 *
 * The model's TLB is the translation a CPU holds between its walk and the
 * last byte of its access; task_struct.tlb_mm says which mm it belongs to.
 */
import type { KernelContext, KGen } from '../../runtime/ops.js';
import { TASK_STRUCT } from '../sched.js';

/** The CPU is about to walk `mm`'s page tables for a user access. */
export function enter_user_access(k: KernelContext, mm: number) {
  return k.WRITE_ONCE(k.current + TASK_STRUCT.tlb_mm, mm);
}

/** The CPU's user access is over (or it faults): its translation is dropped. */
export function leave_user_access(k: KernelContext) {
  return k.store_release(k.current + TASK_STRUCT.tlb_mm, 0);
}

/** flush_tlb_mm(): wait until no other CPU holds a translation of `mm`. */
export function* flush_tlb_mm(k: KernelContext, mm: number): KGen {
  for (const task of k.sys.tasks) {
    if (task === k.current) continue;
    const word = task + TASK_STRUCT.tlb_mm;
    let held = yield k.load_acquire(word);
    while (held === mm) held = yield k.cond_load_ne(word, mm);
  }
}
