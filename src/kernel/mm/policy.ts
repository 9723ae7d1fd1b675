/*
 * The address-space locking designs a run can choose (--policy). Kernel
 * code asks the CPU's context which one is in force, at the places where
 * the designs differ: how a fault locks its VMA, how a writer excludes
 * readers, how a VMA is freed.
 */

/** No per-VMA lock: every fault takes mmap_lock for read (the baseline). */
export const POLICY_MMAP_LOCK = 'mmap-lock';
/** The 2023 per-VMA lock: an rw_semaphore per VMA and vm_lock_seq (seed 000). */
export const POLICY_VMA_RWSEM = 'vma-rwsem';
/** The 2025 per-VMA lock: vm_refcnt with a writer flag and rcuwait (seed 001). */
export const POLICY_VMA_REFCNT = 'vma-refcnt';

/**
 * mmap_sem as a range lock (the 2017 proposal, seed 002): faults lock their
 * page, munmap and mprotect the VMAs they touch (and the neighbours a merge
 * may change); the VMA index keeps a lock of its own.
 */
export const POLICY_RANGE = 'range';

export const POLICIES: readonly string[] = [
  POLICY_MMAP_LOCK,
  POLICY_VMA_RWSEM,
  POLICY_VMA_REFCNT,
  POLICY_RANGE,
];
export const DEFAULT_POLICY = POLICY_VMA_REFCNT;

/** CONFIG_PER_VMA_LOCK: whether the policy has per-VMA locks (vma-rwsem, vma-refcnt). */
export function per_vma_lock(policy: string): boolean {
  return policy === POLICY_VMA_RWSEM || policy === POLICY_VMA_REFCNT;
}
