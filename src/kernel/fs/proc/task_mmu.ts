/*
 * /proc/PID/maps (fs/proc/task_mmu.c, 6.17): a seq_file whose records
 * are the VMAs, one line each. A read() is one pass m_start() .. m_stop()
 * that shows records until the reader's buffer is full; the next read()
 * starts again from the position the last one saved.
 *
 * With per-VMA locks (vma-rwsem, vma-refcnt) a pass walks the index under
 * RCU and read-locks one VMA at a time with lock_next_vma(), so writers
 * elsewhere in the address space go on meanwhile ("mm/maps: read
 * proc/pid/maps under per-vma lock", 6.17). The file has never promised a
 * snapshot (the mmap lock was dropped between read()s already); what it
 * promises is that each VMA is shown either as it was before a concurrent
 * change or as it is after, never torn and never missing
 * (tools/testing/selftests/proc/proc-maps-race.c). Without per-VMA locks
 * (mmap-lock, range) a pass holds the mmap read lock.
 *
 * The gate VMA is not modelled (get_gate_vma() finds none, as on arm64).
 */
import { call, type KernelContext, type KGen } from '../../../runtime/ops.js';
import { mt_find } from '../../mm/maple_tree.js';
import {
  FILE,
  FILE_SHMEM,
  VM_AREA_STRUCT as V,
  VM_EXEC,
  VM_MAYSHARE,
  VM_READ,
  VM_WRITE,
} from '../../mm/mm_types.js';
import { mmget, mmput } from '../../mm/mmap.js';
import {
  EAGAIN,
  lock_next_vma,
  mmap_read_lock,
  mmap_read_unlock,
  vma_end_read,
} from '../../mm/mmap_lock.js';
import { per_vma_lock } from '../../mm/policy.js';

/** m_next()'s positions past the last VMA: the gate VMA's, then the end. */
const SENTINEL_VMA_END = -1;
const SENTINEL_VMA_GATE = -2;

/**
 * The words of one line of the file: the VMA's first page, its end, its
 * MAPS_* flags, its offset in pages (0 without a file) and its struct
 * file (0 for anonymous memory): what show_map_vma() prints. The file's
 * address stands for its device and inode numbers and its path, which
 * Linux prints: a reader compares it and never follows it, since the
 * file may be gone once read() has returned and the VMA's lock with it.
 */
export const MAPS_LINE_WORDS = 5;
/** The line's "rwxs" columns (p when MAPS_SHARED is clear). */
export const MAPS_READ = 1;
export const MAPS_WRITE = 2;
export const MAPS_EXEC = 4;
export const MAPS_SHARED = 8;
/** The file is shmem's: shared anonymous memory, whose path Linux prints as "/dev/zero (deleted)". */
export const MAPS_SHMEM = 16;

/**
 * struct proc_maps_private with its proc_maps_locking_ctx and the
 * seq_file's position: the open file's state, the reading task's alone.
 */
export class ProcMapsPrivate {
  /** seq_file's m->index: where the next record starts (a VMA's end, or a sentinel). */
  ppos = 0;
  /** Where the record at ppos was looked up from: the next read() looks it up again. */
  last_pos = 0;
  /** The VMA read-locked for the record being shown (per-VMA locks), or 0. */
  locked_vma = 0;
  /** The pass holds the mmap read lock (no per-VMA locks, or a fallback). */
  mmap_locked = false;

  constructor(readonly mm: number) {}
}

/* unlock_ctx_vma() */
function* unlock_ctx_vma(k: KernelContext, priv: ProcMapsPrivate): KGen {
  if (priv.locked_vma === 0) return;
  yield* vma_end_read(k, priv.locked_vma);
  priv.locked_vma = 0;
}

/* lock_vma_range(): RCU with per-VMA locks, else the mmap read lock. */
function* lock_vma_range(k: KernelContext, priv: ProcMapsPrivate): KGen {
  if (per_vma_lock(k.policy)) {
    yield k.rcu_read_lock();
    priv.locked_vma = 0;
    priv.mmap_locked = false;
    return;
  }
  yield* call(mmap_read_lock(k, priv.mm));
  priv.mmap_locked = true;
}

/* unlock_vma_range() */
function* unlock_vma_range(k: KernelContext, priv: ProcMapsPrivate): KGen {
  if (priv.mmap_locked) {
    yield* call(mmap_read_unlock(k, priv.mm));
    return;
  }
  yield* unlock_ctx_vma(k, priv);
  yield k.rcu_read_unlock();
}

/* get_next_vma(): the first VMA ending above `last_pos`, locked as the pass locks. */
function* get_next_vma(k: KernelContext, priv: ProcMapsPrivate, last_pos: number): KGen<number> {
  if (priv.mmap_locked) {
    const e = yield* call(mt_find(k, priv.mm, last_pos));
    return e === null ? 0 : e.vma;
  }
  yield* unlock_ctx_vma(k, priv);
  const vma = yield* call(lock_next_vma(k, priv.mm, last_pos));
  if (vma > 0) priv.locked_vma = vma;
  return vma;
}

/* fallback_to_mmap_lock(): a VMA that cannot be read-locked: the rest of the pass under mmap_lock. */
function* fallback_to_mmap_lock(k: KernelContext, priv: ProcMapsPrivate): KGen<boolean> {
  if (priv.mmap_locked) return false;
  yield k.rcu_read_unlock();
  yield* call(mmap_read_lock(k, priv.mm));
  priv.mmap_locked = true;
  return true;
}

/*
 * proc_get_vma(): the record at ppos; ppos moves to its end, so that a
 * VMA merged with the one just shown, found again with the same start,
 * still moves the position on.
 */
function* proc_get_vma(k: KernelContext, priv: ProcMapsPrivate): KGen<number> {
  let vma = yield* call(get_next_vma(k, priv, priv.ppos));
  while (vma === -EAGAIN && (yield* call(fallback_to_mmap_lock(k, priv))))
    vma = yield* call(get_next_vma(k, priv, priv.ppos));
  if (vma < 0) return vma;
  priv.last_pos = priv.ppos;
  if (vma !== 0) priv.ppos = yield k.load(vma + V.vm_end);
  else priv.ppos = SENTINEL_VMA_GATE;
  return vma;
}

/* m_start(): the pass's locks and its first record; null when nothing was locked. */
function* m_start(k: KernelContext, priv: ProcMapsPrivate): KGen<number | null> {
  let last_addr = priv.ppos;
  if (last_addr === SENTINEL_VMA_END) return null;
  yield* call(mmget(k, priv.mm));
  yield* call(lock_vma_range(k, priv));
  // The record at ppos was looked up from last_pos: look it up again.
  if (last_addr > 0) priv.ppos = last_addr = priv.last_pos;
  if (last_addr === SENTINEL_VMA_GATE) return 0;
  return yield* call(proc_get_vma(k, priv));
}

/* m_next() */
function* m_next(k: KernelContext, priv: ProcMapsPrivate): KGen<number> {
  if (priv.ppos === SENTINEL_VMA_GATE) {
    priv.ppos = SENTINEL_VMA_END;
    return 0;
  }
  return yield* call(proc_get_vma(k, priv));
}

/* m_stop() */
function* m_stop(k: KernelContext, priv: ProcMapsPrivate): KGen {
  yield* call(unlock_vma_range(k, priv));
  yield* call(mmput(k, priv.mm));
}

/*
 * show_map_vma(): the line of `vma` (read- or mmap-locked) at `line`.
 * The VMA's lock pins its file (remove_vma()'s fput() comes after the
 * VMA is write-locked and detached), so its path is read here, as
 * get_vma_name() reads it, and nowhere after.
 */
function* show_map_vma(k: KernelContext, vma: number, line: number): KGen {
  const flags = yield k.load(vma + V.vm_flags);
  const file = yield k.load(vma + V.vm_file);
  const shmem = file !== 0 && (yield k.load(file + FILE.kind)) === FILE_SHMEM;
  yield k.store(line, yield k.load(vma + V.vm_start));
  yield k.store(line + 1, yield k.load(vma + V.vm_end));
  yield k.store(
    line + 2,
    (flags & VM_READ ? MAPS_READ : 0) |
      (flags & VM_WRITE ? MAPS_WRITE : 0) |
      (flags & VM_EXEC ? MAPS_EXEC : 0) |
      (flags & VM_MAYSHARE ? MAPS_SHARED : 0) |
      (shmem ? MAPS_SHMEM : 0),
  );
  yield k.store(line + 3, file === 0 ? 0 : yield k.load(vma + V.vm_pgoff));
  yield k.store(line + 4, file);
}

/**
 * One read() of the file into `buf` (MAPS_LINE_WORDS words a line) with
 * room for `max` lines, as seq_read_iter() runs the seq_operations: the
 * first record, then m_next() and show until the buffer is full; the
 * record m_next() found past a full buffer is shown by the next read().
 * Returns the lines read: 0 at the end of the file.
 */
export function* proc_pid_maps_read(
  k: KernelContext,
  priv: ProcMapsPrivate,
  buf: number,
  max: number,
): KGen<number> {
  let vma = yield* call(m_start(k, priv));
  if (vma === null) return 0;
  let n = 0;
  while (vma > 0) {
    yield* call(show_map_vma(k, vma, buf + n * MAPS_LINE_WORDS));
    n++;
    vma = yield* call(m_next(k, priv));
    if (n >= max) break;
  }
  yield* call(m_stop(k, priv));
  return n;
}
