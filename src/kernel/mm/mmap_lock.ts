/*
 * The mmap lock (include/linux/mmap_lock.h): mm->mmap_lock, a rw_semaphore,
 * with mm->mm_lock_seq odd while it is write-held. Ending a write section
 * bumps the sequence *before* the rwsem is released: that one increment
 * releases every VMA write lock taken in the section (there is no
 * vma_end_write()).
 */
import type { KernelContext, KGen } from '../../runtime/ops.js';
import {
  down_read,
  down_read_trylock,
  down_write,
  downgrade_write,
  rwsem_assert_held,
  rwsem_assert_held_write,
  up_read,
  up_write,
} from '../locking/rwsem.js';
import { raw_write_seqcount_begin, raw_write_seqcount_end, SEQCOUNT } from '../locking/seqlock.js';
import { MM_STRUCT, VM_AREA_STRUCT as V } from './mm_types.js';

export function* mmap_read_lock(k: KernelContext, mm: number): KGen {
  yield* down_read(k, mm + MM_STRUCT.mmap_lock);
}

export function* mmap_read_trylock(k: KernelContext, mm: number): KGen<boolean> {
  return yield* down_read_trylock(k, mm + MM_STRUCT.mmap_lock);
}

export function* mmap_read_unlock(k: KernelContext, mm: number): KGen {
  yield* up_read(k, mm + MM_STRUCT.mmap_lock);
}

export function* mmap_write_lock(k: KernelContext, mm: number): KGen {
  yield* down_write(k, mm + MM_STRUCT.mmap_lock);
  yield* raw_write_seqcount_begin(k, mm + MM_STRUCT.mm_lock_seq);
}

export function* mmap_write_unlock(k: KernelContext, mm: number): KGen {
  yield* raw_write_seqcount_end(k, mm + MM_STRUCT.mm_lock_seq);
  yield* up_write(k, mm + MM_STRUCT.mmap_lock);
}

export function* mmap_write_downgrade(k: KernelContext, mm: number): KGen {
  yield* raw_write_seqcount_end(k, mm + MM_STRUCT.mm_lock_seq);
  yield* downgrade_write(k, mm + MM_STRUCT.mmap_lock);
}

export function* mmap_assert_locked(k: KernelContext, mm: number): KGen {
  yield* rwsem_assert_held(k, mm + MM_STRUCT.mmap_lock);
}

export function* mmap_assert_write_locked(k: KernelContext, mm: number): KGen {
  yield* rwsem_assert_held_write(k, mm + MM_STRUCT.mmap_lock);
}

/**
 * vma_start_write(): write-lock a VMA for the rest of this mmap write
 * section. The sequential model has no lockless readers yet, so marking
 * vm_lock_seq is the whole of it; the per-VMA lock designs add their
 * reader exclusion here.
 */
export function* vma_start_write(k: KernelContext, vma: number): KGen {
  const mm = yield k.load(vma + V.vm_mm);
  yield* mmap_assert_write_locked(k, mm);
  const seq = yield k.READ_ONCE(mm + MM_STRUCT.mm_lock_seq + SEQCOUNT.sequence);
  if ((yield k.READ_ONCE(vma + V.vm_lock_seq)) === seq) return;
  yield k.WRITE_ONCE(vma + V.vm_lock_seq, seq);
}
