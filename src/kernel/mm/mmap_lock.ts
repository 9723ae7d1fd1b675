/*
 * The mmap lock (include/linux/mmap_lock.h): mm->mmap_lock, a rw_semaphore,
 * with mm->mm_lock_seq odd while it is write-held. Ending a write section
 * bumps the sequence *before* the rwsem is released: that one increment
 * releases every VMA write lock taken in the section (there is no
 * vma_end_write()).
 */
import { call, type KernelContext, type KGen, LOCK_READ, LOCK_WRITE } from '../../runtime/ops.js';
import { RANGE_LOCK, range_lock, range_unlock } from '../locking/range_lock.js';
import {
  down_read,
  down_read_trylock,
  down_write,
  downgrade_write,
  RW_SEMAPHORE,
  rwsem_assert_held,
  rwsem_assert_held_write,
  up_read,
  up_write,
} from '../locking/rwsem.js';
import {
  raw_read_seqcount,
  raw_write_seqcount_begin,
  raw_write_seqcount_end,
  read_seqcount_retry,
  SEQCOUNT,
} from '../locking/seqlock.js';
import { rcuwait_wait_event, rcuwait_wake_up } from '../rcuwait.js';
import {
  __refcount_add_not_zero_limited_acquire,
  __refcount_sub_and_test,
  refcount_add_not_zero,
  refcount_dec_and_test,
  refcount_inc,
  refcount_read,
  refcount_sub_and_test,
} from '../refcount.js';
import { count_vm_event, TASK_STRUCT, VMA_LOCK_ABORT, VMA_LOCK_MISS } from '../sched.js';
import { kmem_cache_free } from '../slab.js';
import { mas_walk_from, mt_find, mt_lookup, mt_root } from './maple_tree.js';
import { MM_STRUCT, VM_AREA_STRUCT as V } from './mm_types.js';
import { POLICY_RANGE, POLICY_VMA_REFCNT, POLICY_VMA_RWSEM, per_vma_lock } from './policy.js';

/* ---- the range policy: mmap_sem as a range lock (seed 002) ---- */

/* The task's (mm, request) slots: a task holds at most two mms' locks (fork). */
function* range_held_slot(k: KernelContext, mm: number): KGen<number> {
  const slots = k.current + TASK_STRUCT.range_held;
  for (let i = 0; i < 4; i += 2) if ((yield k.load(slots + i)) === mm) return slots + i;
  return 0;
}

function* range_hold(k: KernelContext, mm: number, req: number): KGen {
  const slots = k.current + TASK_STRUCT.range_held;
  for (let i = 0; i < 4; i += 2) {
    if ((yield k.load(slots + i)) === 0) {
      yield k.store(slots + i, mm);
      yield k.store(slots + i + 1, req);
      return;
    }
  }
  k.BUG_ON(true, 'range lock: a task holds more than two mms');
}

function* range_release(k: KernelContext, mm: number): KGen {
  const slot = yield* range_held_slot(k, mm);
  k.BUG_ON(slot === 0, 'range lock: releasing an mm this task did not lock');
  const req = yield k.load(slot + 1);
  yield k.store(slot, 0);
  yield k.store(slot + 1, 0);
  yield* call(range_unlock(k, mm + MM_STRUCT.mmap_range, req));
}

/**
 * Lock [start, end) of mm's address space for read or write, widened until
 * it covers `need()`, which is computed under the lock (VMA boundaries are
 * not known before the lookup: seed 002); with no `need`, exactly [start, end). Released by mmap_read_unlock() or
 * mmap_write_unlock(). Under the other policies, the whole mmap_lock.
 */
export function* mmap_lock_range(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
  write: boolean,
  need: (() => KGen<readonly [number, number]>) | null,
): KGen {
  if (k.policy !== POLICY_RANGE) {
    yield* call(write ? mmap_write_lock(k, mm) : mmap_read_lock(k, mm));
    return;
  }
  let lo = start;
  let hi = end;
  for (;;) {
    const req = yield* call(range_lock(k, mm + MM_STRUCT.mmap_range, lo, hi, write));
    const [nlo, nhi] = need === null ? [start, end] : yield* call(need());
    if (nlo >= lo && nhi <= hi) {
      yield* range_hold(k, mm, req);
      return;
    }
    yield* call(range_unlock(k, mm + MM_STRUCT.mmap_range, req));
    lo = Math.min(lo, nlo);
    hi = Math.max(hi, nhi);
  }
}

function* range_all(k: KernelContext, mm: number, write: boolean): KGen {
  const req = yield* call(
    range_lock(k, mm + MM_STRUCT.mmap_range, 0, yield k.load(mm + MM_STRUCT.task_size), write),
  );
  yield* range_hold(k, mm, req);
}

/* ---- mmap_lock ---- */

export function* mmap_read_lock(k: KernelContext, mm: number): KGen {
  if (k.policy === POLICY_RANGE) yield* call(range_all(k, mm, false));
  else yield* down_read(k, mm + MM_STRUCT.mmap_lock);
}

export function* mmap_read_trylock(k: KernelContext, mm: number): KGen<boolean> {
  k.BUG_ON(k.policy === POLICY_RANGE, 'mmap_read_trylock under the range policy');
  return yield* down_read_trylock(k, mm + MM_STRUCT.mmap_lock);
}

export function* mmap_read_unlock(k: KernelContext, mm: number): KGen {
  if (k.policy === POLICY_RANGE) yield* call(range_release(k, mm));
  else yield* up_read(k, mm + MM_STRUCT.mmap_lock);
}

/*
 * The range policy has no per-VMA locks, so no mm_lock_seq to bump: its
 * writers of disjoint ranges run at the same time.
 */
export function* mmap_write_lock(k: KernelContext, mm: number): KGen {
  if (k.policy === POLICY_RANGE) {
    yield* call(range_all(k, mm, true));
    return;
  }
  yield* down_write(k, mm + MM_STRUCT.mmap_lock);
  yield* raw_write_seqcount_begin(k, mm + MM_STRUCT.mm_lock_seq);
}

/**
 * vma_end_write_all(): drop every VMA write lock of this mmap write
 * section, just before the mmap write lock is released or downgraded.
 */
function* vma_end_write_all(k: KernelContext, mm: number): KGen {
  yield* call(mmap_assert_write_locked(k, mm));
  yield* raw_write_seqcount_end(k, mm + MM_STRUCT.mm_lock_seq);
}

export function* mmap_write_unlock(k: KernelContext, mm: number): KGen {
  if (k.policy === POLICY_RANGE) {
    yield* call(range_release(k, mm));
    return;
  }
  yield* vma_end_write_all(k, mm);
  yield* up_write(k, mm + MM_STRUCT.mmap_lock);
}

/* Under the range policy the write range is kept until the read unlock. */
export function* mmap_write_downgrade(k: KernelContext, mm: number): KGen {
  if (k.policy === POLICY_RANGE) return;
  yield* vma_end_write_all(k, mm);
  yield* call(downgrade_write(k, mm + MM_STRUCT.mmap_lock));
}

/**
 * mmap_lock_speculate_try_begin(): mm_lock_seq, for a lockless reader to
 * check later that no mmap write section ran since; -1 while one is open
 * (waiting for it would be as good as taking the lock).
 */
export function* mmap_lock_speculate_try_begin(k: KernelContext, mm: number): KGen<number> {
  const seq = yield* raw_read_seqcount(k, mm + MM_STRUCT.mm_lock_seq);
  return seq & 1 ? -1 : seq;
}

/** mmap_lock_speculate_retry(): whether an mmap write section began since `seq`. */
export function* mmap_lock_speculate_retry(
  k: KernelContext,
  mm: number,
  seq: number,
): KGen<boolean> {
  return yield* read_seqcount_retry(k, mm + MM_STRUCT.mm_lock_seq, seq);
}

export function* mmap_assert_locked(k: KernelContext, mm: number): KGen {
  if (k.policy === POLICY_RANGE)
    k.BUG_ON((yield* range_held_slot(k, mm)) === 0, 'mmap_assert_locked: no range of this mm held');
  else yield* call(rwsem_assert_held(k, mm + MM_STRUCT.mmap_lock));
}

export function* mmap_assert_write_locked(k: KernelContext, mm: number): KGen {
  if (k.policy === POLICY_RANGE) {
    const slot = yield* range_held_slot(k, mm);
    k.BUG_ON(
      slot === 0 || !(yield k.load((yield k.load(slot + 1)) + RANGE_LOCK.write)),
      'mmap_assert_write_locked: no write range of this mm held',
    );
  } else {
    yield* call(rwsem_assert_held_write(k, mm + MM_STRUCT.mmap_lock));
  }
}

/* ---- the per-VMA lock (mm/mmap_lock.c) ---- */

/** vm_refcnt's writer flag, and the most readers it may count (2025 design). */
const VMA_LOCK_OFFSET = 0x40000000;
export const VMA_REF_LIMIT = VMA_LOCK_OFFSET - 1;

/** Re-introduced mistake of seed 000: vma_end_read() without the RCU read section. */
export const VARIANT_UP_READ_WITHOUT_RCU = 'seed000-up-read-without-rcu';
/** Re-introduced mistake of seed 001: vma_refcount_put() reads vma->vm_mm after the decrement. */
export const VARIANT_PUT_READS_MM_LATE = 'seed001-put-reads-mm-late';
/**
 * Re-introduced mistake fixed by 9bbffee67ffd ("mm: fix a UAF when vma->mm
 * is freed after vma->vm_refcnt got dropped", 2025): vma_start_read() puts
 * a VMA recycled into another mm without mmgrab() on that mm, whose writer
 * the put wakes after the mm may have been freed.
 */
export const VARIANT_PUT_WITHOUT_MMGRAB = '9bbffee67ffd-put-without-mmgrab';
/**
 * Re-introduced mistake fixed by "mm/mmap_lock: reset maple state on
 * lock_vma_under_rcu() retry" (2025, syzbot): the retry after a detached
 * VMA walks the maple node cached in its maple state, which may have been
 * freed while vma_start_read() had dropped the RCU read lock (0b16f8bed19c).
 */
export const VARIANT_RETRY_WITH_STALE_MAS = 'mas-reset-stale-mas-on-retry';

function mm_lock_seq(k: KernelContext, mm: number): number {
  return k.READ_ONCE(mm + MM_STRUCT.mm_lock_seq + SEQCOUNT.sequence);
}

/** is_vma_writer_only(): the writer flag and nothing (or one attach reference) else. */
function is_vma_writer_only(refcnt: number): boolean {
  return (refcnt & VMA_LOCK_OFFSET) !== 0 && refcnt <= VMA_LOCK_OFFSET + 1;
}

/**
 * vma_refcount_put(): drop a vm_refcnt reference; wake the writer waiting
 * for the last reader. vm_mm is read *before* the decrement: after it the
 * VMA may be freed and reused (SLAB_TYPESAFE_BY_RCU), and its vm_mm then
 * names another mm (seed 001).
 */
function* vma_refcount_put(k: KernelContext, vma: number): KGen {
  const late = k.variant === VARIANT_PUT_READS_MM_LATE;
  let mm = late ? 0 : yield k.READ_ONCE(vma + V.vm_mm);
  if (k.lockdep) yield k.lock_release(vma + V.vm_lock + RW_SEMAPHORE.dep_map);
  const oldcnt = yield* call(__refcount_sub_and_test(k, vma + V.vm_refcnt, 1));
  if (oldcnt !== 1 && is_vma_writer_only(oldcnt - 1)) {
    if (late) mm = yield k.READ_ONCE(vma + V.vm_mm);
    yield* call(rcuwait_wake_up(k, mm + MM_STRUCT.vma_writer_wait));
  }
}

const VMA_READ_DETACHED = -1;

/**
 * vma_start_read(): try to read-lock a VMA found under RCU. Returns the VMA,
 * 0 when it is write-locked (or busy: the caller falls back to mmap_lock),
 * or VMA_READ_DETACHED when it left the tree meanwhile (look it up again).
 * Until the lock is held only vm_mm, vm_lock_seq and the lock itself may
 * be trusted: the VMA may be recycled at any moment.
 */
export function* vma_start_read(k: KernelContext, mm: number, vma: number): KGen<number> {
  k.RCU_LOCKDEP_WARN(!k.rcu_read_lock_held(), 'no rcu lock held, in vma_start_read()');
  if ((yield k.READ_ONCE(vma + V.vm_lock_seq)) === (yield mm_lock_seq(k, mm))) return 0;
  if (k.policy === POLICY_VMA_RWSEM) {
    if (!(yield* down_read_trylock(k, vma + V.vm_lock))) return 0;
    // A writer may have locked it between the check and the trylock.
    if ((yield k.READ_ONCE(vma + V.vm_lock_seq)) === (yield mm_lock_seq(k, mm))) {
      yield* up_read(k, vma + V.vm_lock);
      return 0;
    }
    return vma;
  }
  // The limit sits below the writer flag: a present writer makes this fail too.
  const oldcnt = yield* call(
    __refcount_add_not_zero_limited_acquire(k, vma + V.vm_refcnt, 1, VMA_REF_LIMIT),
  );
  if (oldcnt <= 0) return oldcnt === 0 ? VMA_READ_DETACHED : 0;
  if (k.lockdep) yield k.lock_acquire(vma + V.vm_lock + RW_SEMAPHORE.dep_map, LOCK_READ, true);
  const owner = yield k.READ_ONCE(vma + V.vm_mm);
  if (owner !== mm) {
    // Recycled into another mm: pin that mm so the wake-up in the put cannot touch a freed one.
    const grab = k.variant !== VARIANT_PUT_WITHOUT_MMGRAB;
    yield k.rcu_read_unlock();
    if (grab) yield* call(mmgrab(k, owner));
    yield* call(vma_refcount_put(k, vma));
    if (grab) yield* call(mmdrop(k, owner));
    yield k.rcu_read_lock();
    return 0;
  }
  // ACQUIRE on mm_lock_seq pairs with the release of mmap_write_unlock().
  if (
    (yield k.READ_ONCE(vma + V.vm_lock_seq)) ===
    (yield k.load_acquire(mm + MM_STRUCT.mm_lock_seq + SEQCOUNT.sequence))
  ) {
    yield* call(vma_refcount_put(k, vma));
    return 0;
  }
  return vma;
}

/**
 * vma_end_read(). The 2023 design must hold RCU across up_read(): it may
 * still touch the semaphore after a writer got it and freed the VMA
 * (seed 000); VMAs there are freed after a grace period.
 */
export function* vma_end_read(k: KernelContext, vma: number): KGen {
  if (k.policy === POLICY_VMA_RWSEM) {
    const rcu = k.variant !== VARIANT_UP_READ_WITHOUT_RCU;
    if (rcu) yield k.rcu_read_lock();
    yield* up_read(k, vma + V.vm_lock);
    if (rcu) yield k.rcu_read_unlock();
    return;
  }
  yield* call(vma_refcount_put(k, vma));
}

/*
 * __vma_enter_locked(): set the writer flag (unless detached) and wait
 * until only the attach reference (or, when detaching, nothing) is left.
 * The one writer can wait: it holds mmap_lock for write.
 */
function* __vma_enter_locked(k: KernelContext, vma: number, detaching: boolean): KGen<boolean> {
  const tgt = VMA_LOCK_OFFSET + (detaching ? 0 : 1);
  if ((yield* call(refcount_add_not_zero(k, vma + V.vm_refcnt, VMA_LOCK_OFFSET))) === 0)
    return false;
  const mm = yield k.load(vma + V.vm_mm);
  yield* call(
    rcuwait_wait_event(k, mm + MM_STRUCT.vma_writer_wait, function* () {
      return (yield refcount_read(k, vma + V.vm_refcnt)) === tgt;
    }),
  );
  // Annotated once readers are gone: the explorer checks exclusion at the annotation.
  if (k.lockdep) yield k.lock_acquire(vma + V.vm_lock + RW_SEMAPHORE.dep_map, LOCK_WRITE, false);
  return true;
}

/* __vma_exit_locked(): drop the writer flag; true if that left the VMA detached. */
function* __vma_exit_locked(k: KernelContext, vma: number): KGen<boolean> {
  if (k.lockdep) yield k.lock_release(vma + V.vm_lock + RW_SEMAPHORE.dep_map);
  return yield* call(refcount_sub_and_test(k, vma + V.vm_refcnt, VMA_LOCK_OFFSET));
}

/**
 * __is_vma_write_locked(): whether `vma` is write-locked in this mmap
 * write section, and mm_lock_seq. Only with the mmap write lock held:
 * nothing else can change either sequence.
 */
function* __is_vma_write_locked(
  k: KernelContext,
  vma: number,
): KGen<{ locked: boolean; seq: number }> {
  const mm = yield k.load(vma + V.vm_mm);
  yield* call(mmap_assert_write_locked(k, mm));
  const seq = yield mm_lock_seq(k, mm);
  return { locked: (yield k.READ_ONCE(vma + V.vm_lock_seq)) === seq, seq };
}

/**
 * vma_start_write(): write-lock a VMA for the rest of this mmap write
 * section: exclude its readers, then mark vm_lock_seq. mmap_write_unlock()
 * ends it.
 */
export function* vma_start_write(k: KernelContext, vma: number): KGen {
  const { locked: held, seq } = yield* __is_vma_write_locked(k, vma);
  if (held) return;
  if (k.policy === POLICY_VMA_RWSEM) {
    yield* down_write(k, vma + V.vm_lock);
    yield k.WRITE_ONCE(vma + V.vm_lock_seq, seq);
    yield* up_write(k, vma + V.vm_lock);
    return;
  }
  if (!per_vma_lock(k.policy)) {
    yield k.WRITE_ONCE(vma + V.vm_lock_seq, seq);
    return;
  }
  const locked = yield* call(__vma_enter_locked(k, vma, false));
  yield k.WRITE_ONCE(vma + V.vm_lock_seq, seq);
  // The VMA should remain attached.
  if (locked)
    k.WARN_ON_ONCE(
      yield* call(__vma_exit_locked(k, vma)),
      'WARN_ON_ONCE(detached) in __vma_start_write()',
    );
}

/** vma_assert_write_locked() */
export function* vma_assert_write_locked(k: KernelContext, vma: number): KGen {
  k.BUG_ON(
    !(yield* __is_vma_write_locked(k, vma)).locked,
    'vma_assert_write_locked: VM_BUG_ON_VMA(!__is_vma_write_locked(vma))',
  );
}

/**
 * vma_assert_locked(): read- or write-locked. A reader's reference is
 * vm_refcnt above the attach reference; under the 2023 design the
 * semaphore is held; without per-VMA locks, the mmap lock.
 */
export function* vma_assert_locked(k: KernelContext, vma: number): KGen {
  if (!per_vma_lock(k.policy)) {
    yield* call(mmap_assert_locked(k, yield k.load(vma + V.vm_mm)));
    return;
  }
  const read_locked =
    k.policy === POLICY_VMA_RWSEM
      ? (yield k.READ_ONCE(vma + V.vm_lock + RW_SEMAPHORE.count)) !== 0
      : (yield refcount_read(k, vma + V.vm_refcnt)) > 1;
  if (read_locked) return;
  k.BUG_ON(
    !(yield* __is_vma_write_locked(k, vma)).locked,
    'vma_assert_locked: VM_BUG_ON_VMA(refcount_read(&vma->vm_refcnt) <= 1 && !__is_vma_write_locked(vma))',
  );
}

/*
 * vma_assert_attached() / vma_assert_detached(): vm_refcnt holds the
 * attach reference. Only vm_refcnt (2025) tells; reliable under the mmap
 * write lock or on a VMA isolated under it.
 */
export function* vma_assert_attached(k: KernelContext, vma: number): KGen {
  if (k.policy !== POLICY_VMA_REFCNT) return;
  k.WARN_ON_ONCE(
    (yield refcount_read(k, vma + V.vm_refcnt)) === 0,
    'WARN_ON_ONCE(!refcount_read(&vma->vm_refcnt)) in vma_assert_attached()',
  );
}

export function* vma_assert_detached(k: KernelContext, vma: number): KGen {
  if (k.policy !== POLICY_VMA_REFCNT) return;
  k.WARN_ON_ONCE(
    (yield refcount_read(k, vma + V.vm_refcnt)) !== 0,
    'WARN_ON_ONCE(refcount_read(&vma->vm_refcnt)) in vma_assert_detached()',
  );
}

/** vma_mark_attached(): the VMA enters the tree (write-locked). */
export function* vma_mark_attached(k: KernelContext, vma: number): KGen {
  yield* vma_assert_write_locked(k, vma);
  yield* vma_assert_detached(k, vma);
  if (k.policy === POLICY_VMA_REFCNT) yield k.store_release(vma + V.vm_refcnt, 1);
  yield k.WRITE_ONCE(vma + V.detached, 0);
}

/**
 * vma_mark_detached(): the VMA left the tree (write-locked). With vm_refcnt,
 * readers that took a transient reference are waited out with the writer
 * flag, as vma_start_write() does.
 */
export function* vma_mark_detached(k: KernelContext, vma: number): KGen {
  yield* vma_assert_write_locked(k, vma);
  yield* vma_assert_attached(k, vma);
  yield k.WRITE_ONCE(vma + V.detached, 1);
  if (k.policy !== POLICY_VMA_REFCNT) return;
  if (yield* refcount_dec_and_test(k, vma + V.vm_refcnt)) return;
  if (yield* call(__vma_enter_locked(k, vma, true)))
    k.WARN_ON_ONCE(
      !(yield* call(__vma_exit_locked(k, vma))),
      'WARN_ON_ONCE(!detached) in vma_mark_detached()',
    );
}

/** mmgrab() / mmdrop(): references to the struct itself. */
export function* mmgrab(k: KernelContext, mm: number): KGen {
  yield* refcount_inc(k, mm + MM_STRUCT.mm_count);
}

export function* mmdrop(k: KernelContext, mm: number): KGen {
  if (yield* refcount_dec_and_test(k, mm + MM_STRUCT.mm_count)) {
    yield kmem_cache_free(k, k.sys.mm.mm_cachep, mm, 'mmdrop');
  }
}

/**
 * lock_vma_under_rcu(): find the VMA of `page` without mmap_lock and
 * read-lock it; 0 when that cannot be done (the caller takes mmap_lock).
 * Every re-validation of the kernel is here: a VMA that left the tree is
 * looked up again; one that moved (recycled, split) no longer covers page.
 */
export function* lock_vma_under_rcu(k: KernelContext, mm: number, page: number): KGen<number> {
  yield k.rcu_read_lock();
  // The node the maple state holds: 0 (MAS_START) walks from the root.
  const mas = k.variant === VARIANT_RETRY_WITH_STALE_MAS ? yield* mt_root(k, mm) : 0;
  for (;;) {
    const found = yield* call(mas === 0 ? mt_lookup(k, mm, page) : mas_walk_from(k, mm, mas, page));
    if (found === 0) break;
    const vma = yield* call(vma_start_read(k, mm, found));
    if (vma === VMA_READ_DETACHED) {
      // vma_start_read() drops the RCU read lock when it fails; the retry takes it again
      // and walks from the root (mas_set()): nodes seen before may have been freed since.
      yield k.rcu_read_unlock();
      yield* count_vm_event(k, VMA_LOCK_MISS);
      yield k.rcu_read_lock();
      continue;
    }
    if (vma === 0) break;
    // The 2023 design flags a VMA taken out of the tree while we looked.
    if (k.policy === POLICY_VMA_RWSEM && (yield k.READ_ONCE(vma + V.detached))) {
      yield* vma_end_read(k, vma);
      yield* count_vm_event(k, VMA_LOCK_MISS);
      continue;
    }
    // vm_start/vm_end may have changed before we locked it.
    if (
      page < (yield k.READ_ONCE(vma + V.vm_start)) ||
      page >= (yield k.READ_ONCE(vma + V.vm_end))
    ) {
      yield* vma_end_read(k, vma);
      break;
    }
    yield k.rcu_read_unlock();
    return vma;
  }
  yield k.rcu_read_unlock();
  yield* count_vm_event(k, VMA_LOCK_ABORT);
  return 0;
}

/** lock_next_vma()'s "VMA busy, use mmap_lock" (-EAGAIN): a reader count at its limit. */
export const EAGAIN = 11;

/**
 * vma_start_read_locked(): read-lock a VMA found under the mmap read lock,
 * which keeps writers out: it fails only when vm_refcnt's readers are at
 * their limit.
 */
function* vma_start_read_locked(k: KernelContext, vma: number): KGen<boolean> {
  yield* call(mmap_assert_locked(k, yield k.load(vma + V.vm_mm)));
  if (k.policy === POLICY_VMA_RWSEM) {
    yield* down_read(k, vma + V.vm_lock);
    return true;
  }
  const oldcnt = yield* call(
    __refcount_add_not_zero_limited_acquire(k, vma + V.vm_refcnt, 1, VMA_REF_LIMIT),
  );
  if (oldcnt <= 0) return false;
  // A trylock to lockdep, as __vma_lockdep_acquire_read() annotates it: no mmap_lock -> vm_lock edge.
  if (k.lockdep) yield k.lock_acquire(vma + V.vm_lock + RW_SEMAPHORE.dep_map, LOCK_READ, true);
  return true;
}

/**
 * lock_next_vma_under_mmap_lock(): lock_next_vma()'s fallback: the first
 * VMA ending above `from`, looked up and read-locked under the mmap read
 * lock; 0 when there is none, -EAGAIN when it cannot be read-locked.
 */
function* lock_next_vma_under_mmap_lock(k: KernelContext, mm: number, from: number): KGen<number> {
  yield* call(mmap_read_lock(k, mm));
  const e = yield* call(mt_find(k, mm, from));
  let vma = e === null ? 0 : e.vma;
  if (vma !== 0 && !(yield* call(vma_start_read_locked(k, vma)))) vma = -EAGAIN;
  yield* call(mmap_read_unlock(k, mm));
  return vma;
}

/**
 * lock_next_vma() (mm/mmap_lock.c, 6.17): the first VMA ending above
 * `from`, read-locked, for a reader that walks the tree under RCU
 * (/proc/PID/maps); 0 when there is none, -EAGAIN when the mmap lock must
 * be used. RCU held on entry and on return. What it returns is the VMA as
 * one moment of the address space had it: a VMA found past `from` is kept
 * only if no writer could have shrunk it and installed another ahead of
 * it since the lookup (mmap_lock_speculate_*(), else a second lookup);
 * otherwise, and when the VMA cannot be read-locked, the lookup is redone
 * under the mmap read lock. Each lookup walks from the root: Linux's
 * vma_iterator, which it resets (vma_iter_set()) after a retry and after
 * the fallback, is not modelled, so a missing reset (the class of
 * mas-reset-stale-mas-on-retry) cannot be put back here.
 */
export function* lock_next_vma(k: KernelContext, mm: number, from: number): KGen<number> {
  k.RCU_LOCKDEP_WARN(!k.rcu_read_lock_held(), 'no rcu read lock held, in lock_next_vma()');
  let vma = 0;
  for (;;) {
    const seq = yield* mmap_lock_speculate_try_begin(k, mm);
    const e = yield* call(mt_find(k, mm, from));
    if (e === null) return 0;
    vma = yield* call(vma_start_read(k, mm, e.vma));
    if (vma === VMA_READ_DETACHED) {
      // vma_start_read() dropped RCU: search again from `from` (vma_iter_set()).
      yield k.rcu_read_unlock();
      yield k.rcu_read_lock();
      continue;
    }
    if (vma === 0) break;
    // The 2023 design flags a VMA taken out of the tree while we looked.
    if (k.policy === POLICY_VMA_RWSEM && (yield k.READ_ONCE(vma + V.detached))) {
      yield* vma_end_read(k, vma);
      continue;
    }
    // Not behind the last search position.
    if (from >= (yield k.READ_ONCE(vma + V.vm_end)))
      return yield* lock_next_vma_fallback(k, mm, from, vma);
    // Ahead of it: not shrunk with another VMA installed ahead of it since the lookup.
    if (from < (yield k.READ_ONCE(vma + V.vm_start))) {
      if (seq < 0 || (yield* mmap_lock_speculate_retry(k, mm, seq))) {
        const again = yield* call(mt_find(k, mm, from));
        if (again === null || again.vma !== vma)
          return yield* lock_next_vma_fallback(k, mm, from, vma);
      }
    }
    return vma;
  }
  return yield* lock_next_vma_fallback(k, mm, from, 0);
}

/* lock_next_vma()'s fallback_unlock / fallback labels: `vma` read-locked (or 0). */
function* lock_next_vma_fallback(
  k: KernelContext,
  mm: number,
  from: number,
  vma: number,
): KGen<number> {
  yield k.rcu_read_unlock();
  if (vma !== 0) yield* vma_end_read(k, vma);
  const found = yield* call(lock_next_vma_under_mmap_lock(k, mm, from));
  yield k.rcu_read_lock();
  return found;
}
