/*
 * The CPU's side of user memory (arch/x86/mm/fault.c): a user access walks
 * the page tables as the MMU does, and a miss enters do_user_addr_fault(),
 * which finds the VMA under the mmap lock (expanding a stack under the
 * write lock), checks the access, and calls handle_mm_fault().
 */
import { call, type KernelContext, type KGen, Unmodelled } from '../../runtime/ops.js';
import { spin_lock, spin_unlock } from '../locking/spinlock.js';
import { mt_find, mt_prev, mt_store_range } from '../mm/maple_tree.js';
import {
  access_error,
  FAULT_FLAG_RANGE,
  FAULT_FLAG_USER,
  FAULT_FLAG_VMA_LOCK,
  FAULT_FLAG_WRITE,
  handle_mm_fault,
  VM_FAULT_COMPLETED,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
} from '../mm/memory.js';
import {
  MM_STRUCT,
  PAGE,
  STACK_GUARD_GAP,
  VM_AREA_STRUCT as V,
  VM_ACCESS_FLAGS,
  VM_GROWSDOWN,
} from '../mm/mm_types.js';
import { RLIMIT_STACK_PAGES } from '../mm/mmap.js';
import {
  lock_vma_under_rcu,
  mmap_lock_range,
  mmap_read_lock,
  mmap_read_unlock,
  mmap_write_downgrade,
  mmap_write_lock,
  mmap_write_unlock,
  vma_end_read,
  vma_start_write,
} from '../mm/mmap_lock.js';
import { pte_access_permitted, pte_page, pte_slot, pte_table } from '../mm/pgtable.js';
import { POLICY_MMAP_LOCK, POLICY_RANGE } from '../mm/policy.js';
import { anon_vma_prepare } from '../mm/rmap.js';
import { PAGE_BYTES } from '../mm/syscalls.js';
import {
  count_vm_event,
  MMAP_LOCK_FAULT,
  RANGE_LOCK_FAULT,
  VMA_LOCK_RETRY,
  VMA_LOCK_SUCCESS,
} from '../sched.js';
import { enter_user_access, leave_user_access } from './tlbflush.js';

export const SIGBUS = 7;
export const SIGSEGV = 11;

/**
 * Re-introduced StackRot (CVE-2023-3269): the stack grows under mmap_lock
 * held for read, as do_user_addr_fault() did before "mm: always expand the
 * stack with the mmap write lock held" (6.5). Expanders serialise on
 * mm->page_table_lock, but the maple node they replace is freed after a
 * grace period while readers that hold only the read lock, outside RCU,
 * still walk it.
 */
export const VARIANT_STACK_EXPAND_UNDER_READ_LOCK = 'cve-2023-3269-stackrot';

/*
 * expand_downwards(): grow a VM_GROWSDOWN VMA down to `page`, keeping
 * stack_guard_gap from an accessible VMA below and within RLIMIT_STACK.
 * mmap write lock held (StackRot: the read lock and page_table_lock).
 * False if it may not grow.
 */
function* expand_downwards(k: KernelContext, mm: number, vma: number, page: number): KGen<boolean> {
  // No VMA lies in [page, start): find_vma(page) found this one. Keep the gap to the one below.
  const prev = yield* call(mt_prev(k, mm, page));
  if (prev !== null) {
    const pflags = yield k.load(prev.vma + V.vm_flags);
    if (!(pflags & VM_GROWSDOWN) && pflags & VM_ACCESS_FLAGS && page - prev.end < STACK_GUARD_GAP)
      return false;
  }
  if (!(yield* call(anon_vma_prepare(k, vma)))) return false;
  // 6.1 had no VMA lock to take; its expanders excluded each other with page_table_lock.
  const stackrot = k.variant === VARIANT_STACK_EXPAND_UNDER_READ_LOCK;
  if (stackrot) yield* spin_lock(k, mm + MM_STRUCT.page_table_lock);
  else yield* call(vma_start_write(k, vma));
  // Read under the lock that serialises expansions: under StackRot another may have grown it.
  const start = yield k.load(vma + V.vm_start);
  const end = yield k.load(vma + V.vm_end);
  const grow = start - page;
  const ok = end - page <= RLIMIT_STACK_PAGES && grow <= (yield k.load(vma + V.vm_pgoff));
  if (ok && grow > 0) {
    yield k.WRITE_ONCE(vma + V.vm_start, page);
    yield k.WRITE_ONCE(vma + V.vm_pgoff, (yield k.load(vma + V.vm_pgoff)) - grow);
    yield* call(mt_store_range(k, mm, page, end, vma));
    yield k.fetch_add(mm + MM_STRUCT.total_vm, grow);
  }
  if (stackrot) yield* spin_unlock(k, mm + MM_STRUCT.page_table_lock);
  return ok;
}

/**
 * lock_mm_and_find_vma(): the VMA containing `page` with the mmap lock
 * held for read, growing a stack first if `page` is just below one
 * (under the write lock, then downgraded). 0 with no lock held if none.
 */
function* lock_mm_and_find_vma(k: KernelContext, mm: number, page: number): KGen<number> {
  yield* call(mmap_read_lock(k, mm));
  const e = yield* call(mt_find(k, mm, page));
  if (e !== null && e.start <= page) return e.vma;
  if (e === null || !((yield k.load(e.vma + V.vm_flags)) & VM_GROWSDOWN)) {
    yield* call(mmap_read_unlock(k, mm));
    return 0;
  }
  if (k.variant === VARIANT_STACK_EXPAND_UNDER_READ_LOCK) {
    if (yield* call(expand_downwards(k, mm, e.vma, page))) return e.vma;
    yield* call(mmap_read_unlock(k, mm));
    return 0;
  }
  // x86 cannot upgrade the lock: drop it, take it for write, look again.
  yield* call(mmap_read_unlock(k, mm));
  yield* call(mmap_write_lock(k, mm));
  const again = yield* call(mt_find(k, mm, page));
  if (again !== null && again.start <= page) {
    yield* call(mmap_write_downgrade(k, mm));
    return again.vma;
  }
  if (
    again === null ||
    !((yield k.load(again.vma + V.vm_flags)) & VM_GROWSDOWN) ||
    !(yield* call(expand_downwards(k, mm, again.vma, page)))
  ) {
    yield* call(mmap_write_unlock(k, mm));
    return 0;
  }
  yield* call(mmap_write_downgrade(k, mm));
  return again.vma;
}

/** do_user_addr_fault(): 0 when the access may be retried, else SIGSEGV or SIGBUS. */
export function* do_user_addr_fault(
  k: KernelContext,
  mm: number,
  page: number,
  write: boolean,
): KGen<number> {
  k.unmodelled(Unmodelled.FAULT_ENTRY);
  const flags = FAULT_FLAG_USER | (write ? FAULT_FLAG_WRITE : 0);
  if (k.policy === POLICY_RANGE) {
    const done = yield* call(range_fault(k, mm, page, write, flags));
    if (done !== VM_FAULT_RETRY) return done;
  } else if (k.policy !== POLICY_MMAP_LOCK) {
    // The VMA lock first: no mmap_lock unless the fault needs it.
    const vma = yield* call(lock_vma_under_rcu(k, mm, page));
    if (vma !== 0) {
      if (access_error(yield k.load(vma + V.vm_flags), write)) {
        yield* vma_end_read(k, vma);
        yield* count_vm_event(k, VMA_LOCK_SUCCESS);
        return SIGSEGV;
      }
      const fault = yield* call(handle_mm_fault(k, vma, page, flags | FAULT_FLAG_VMA_LOCK));
      // On RETRY or COMPLETED the handler has already dropped the VMA lock.
      if (!(fault & (VM_FAULT_RETRY | VM_FAULT_COMPLETED))) yield* vma_end_read(k, vma);
      if (!(fault & VM_FAULT_RETRY)) {
        yield* count_vm_event(k, VMA_LOCK_SUCCESS);
        return fault_signal(fault);
      }
      yield* count_vm_event(k, VMA_LOCK_RETRY);
    }
  }
  yield* count_vm_event(k, MMAP_LOCK_FAULT);
  const vma = yield* call(lock_mm_and_find_vma(k, mm, page));
  if (vma === 0) return SIGSEGV;
  if (access_error(yield k.load(vma + V.vm_flags), write)) {
    yield* call(mmap_read_unlock(k, mm));
    return SIGSEGV;
  }
  const fault = yield* call(handle_mm_fault(k, vma, page, flags));
  yield* call(mmap_read_unlock(k, mm));
  return fault_signal(fault);
}

/*
 * The range policy's fault: only the page's range of mmap_sem. The VMA
 * holding the page cannot change meanwhile (its writers hold all of it).
 * Anything more (no VMA here: a stack to grow; an anon_vma to prepare)
 * returns VM_FAULT_RETRY with the range released, for the whole-range path.
 */
function* range_fault(
  k: KernelContext,
  mm: number,
  page: number,
  write: boolean,
  flags: number,
): KGen<number> {
  yield* call(mmap_lock_range(k, mm, page, page + 1, false, null));
  const e = yield* call(mt_find(k, mm, page));
  if (e === null || e.start > page) {
    yield* call(mmap_read_unlock(k, mm));
    return VM_FAULT_RETRY;
  }
  if (access_error(yield k.load(e.vma + V.vm_flags), write)) {
    yield* call(mmap_read_unlock(k, mm));
    yield* count_vm_event(k, RANGE_LOCK_FAULT);
    return SIGSEGV;
  }
  const fault = yield* call(handle_mm_fault(k, e.vma, page, flags | FAULT_FLAG_RANGE));
  if (fault & VM_FAULT_RETRY) return VM_FAULT_RETRY;
  yield* call(mmap_read_unlock(k, mm));
  yield* count_vm_event(k, RANGE_LOCK_FAULT);
  return fault_signal(fault);
}

/* What a finished fault means for the access: retry it (0), or a signal. */
function fault_signal(fault: number): number {
  if (fault & (VM_FAULT_SIGBUS | VM_FAULT_OOM)) return SIGBUS;
  if (fault & VM_FAULT_SIGSEGV) return SIGSEGV;
  return 0;
}

/* The MMU's walk: the frame of `page` if the access may proceed without a fault, else 0. */
function* mmu_walk(k: KernelContext, mm: number, page: number, write: boolean): KGen<number> {
  const table = yield* call(pte_table(k, mm, page));
  if (table === 0) return 0;
  const pte = yield k.READ_ONCE(pte_slot(table, page));
  if (!pte_access_permitted(pte, write)) return 0;
  return yield k.load(pte_page(pte) + PAGE.frame);
}

/*
 * The frames of pages first..last, with user access entered, after the
 * faults that make each accessible; or -SIGSEGV / -SIGBUS, user access left.
 */
function* user_frames(
  k: KernelContext,
  mm: number,
  first: number,
  last: number,
  write: boolean,
): KGen<number[] | number> {
  for (;;) {
    const frames: number[] = [];
    let missing = -1;
    yield enter_user_access(k, mm);
    for (let p = first; p <= last && missing < 0; p++) {
      const f = yield* call(mmu_walk(k, mm, p, write));
      if (f === 0) missing = p;
      else frames.push(f);
    }
    if (missing < 0) return frames;
    yield leave_user_access(k);
    const sig = yield* call(do_user_addr_fault(k, mm, missing, write));
    if (sig !== 0) return -sig;
  }
}

/**
 * A 32-bit little-endian user access at byte address `addr` (any
 * alignment; it may straddle two pages). Returns the value read (0 for a
 * write), or -SIGSEGV / -SIGBUS. A faulting write stores nothing: every
 * page it touches is made accessible before any byte is stored.
 *
 * x86 makes an aligned 32-bit access single-copy atomic (Intel SDM vol. 3A
 * §9.1.1, "Guaranteed Atomic Operations"): an access within one
 * 4-byte-aligned word is ONE load or ONE store of it, so that no racing
 * access sees it torn and no two racing writes leave a mix. An unaligned
 * access is split into the words it touches, one atomic access a part, as
 * x86 splits an access that crosses a cache line or a page (§9.1.1: such
 * an access is not guaranteed atomic); within one cache line x86 would
 * keep it whole, the model does not. A part of a write stores its bytes
 * only (a cmpxchg() of the merged word), as a byte store leaves its
 * neighbours alone.
 */
export function* user_access(
  k: KernelContext,
  mm: number,
  addr: number,
  write: boolean,
  value: number,
): KGen<number> {
  const first = Math.floor(addr / PAGE_BYTES);
  const frames = yield* user_frames(k, mm, first, Math.floor((addr + 3) / PAGE_BYTES), write);
  if (typeof frames === 'number') return frames;
  let result = 0;
  // One part per word touched: bytes [done, done + bytes) of the access.
  for (let done = 0, bytes = 0; done < 4; done += bytes) {
    const b = addr + done;
    const word = frames[Math.floor(b / PAGE_BYTES) - first]! + ((b % PAGE_BYTES) >> 2);
    const shift = (b & 3) * 8;
    bytes = Math.min(4 - (b & 3), 4 - done);
    const mask = bytes === 4 ? 0xffffffff : (2 ** (bytes * 8) - 1) << shift;
    if (!write) {
      result |= (((yield k.load(word)) & mask) >>> shift) << (done * 8);
    } else if (bytes === 4) {
      yield k.store(word, value >>> 0);
    } else {
      const bits = ((value >>> (done * 8)) << shift) & mask;
      let old = yield k.load(word);
      for (;;) {
        const seen = yield k.cmpxchg(word, old, ((old & ~mask) | bits) >>> 0);
        if (seen === old) break;
        old = seen;
      }
    }
  }
  yield leave_user_access(k);
  return write ? 0 : result >>> 0;
}
