/*
 * VMA manipulation (mm/vma.c): allocation, split, merge of a new range
 * with its neighbours (vma_merge_new_range()), merge of a modified range
 * (vma_merge_existing_range() for mprotect and madvise), and removal.
 * Every VMA that changes is write-locked first, neighbours included.
 */
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import { lock_class } from '../locking/lockdep.js';
import { RW_SEMAPHORE } from '../locking/rwsem.js';
import { call_rcu, rcu_callback } from '../rcu/tree.js';
import { refcount_set } from '../refcount.js';
import { kmem_cache_alloc, kmem_cache_free } from '../slab.js';
import { fput, get_file } from './filemap.js';
import { mt_find, mt_lookup, mt_store_range } from './maple_tree.js';
import {
  MM_STRUCT,
  VM_AREA_STRUCT as V,
  VM_DONTDUMP,
  VM_OPS,
  VM_OPS_SECRETMEM,
  VM_SPECIAL,
} from './mm_types.js';
import {
  mmap_assert_locked,
  mmap_assert_write_locked,
  vma_assert_detached,
  vma_assert_write_locked,
  vma_mark_attached,
  vma_mark_detached,
  vma_start_write,
} from './mmap_lock.js';
import { POLICY_RANGE, POLICY_VMA_RWSEM } from './policy.js';
import { anon_vma_clone, unlink_anon_vmas } from './rmap.js';

const VM_LOCK_CLASS = lock_class('vma->vm_lock');

/** sysctl_max_map_count */
export const MAX_MAP_COUNT = 65530;

export const ENOMEM = 12;
export const EINVAL = 22;

/** The fields merge decisions look at, read once. */
interface VmaInfo {
  readonly vma: number;
  readonly start: number;
  readonly end: number;
  readonly flags: number;
  readonly pgoff: number;
  readonly file: number;
  readonly ops: number;
  readonly anon_vma: number;
  readonly chain: number;
}

export function* vma_info(k: KernelContext, vma: number): KGen<VmaInfo> {
  return {
    vma,
    start: yield k.load(vma + V.vm_start),
    end: yield k.load(vma + V.vm_end),
    flags: yield k.load(vma + V.vm_flags),
    pgoff: yield k.load(vma + V.vm_pgoff),
    file: yield k.load(vma + V.vm_file),
    ops: yield k.load(vma + V.vm_ops),
    anon_vma: yield k.load(vma + V.anon_vma),
    chain: yield k.load(vma + V.anon_vma_chain),
  };
}

/*
 * vma_is_secretmem() (mm/secretmem.c), given the vm_flags the caller
 * read: its vm_ops are secretmem's. Only secretmem's mmap sets VM_DONTDUMP
 * in the model and nothing clears it (mm_types.ts), so any other VMA is
 * told without the load.
 */
export function* vma_is_secretmem(k: KernelContext, vma: number, vm_flags: number): KGen<boolean> {
  if (!(vm_flags & VM_DONTDUMP)) return false;
  return (yield k.load(vma + V.vm_ops)) === VM_OPS_SECRETMEM;
}

/**
 * vm_area_alloc(): a VMA of the SLAB_TYPESAFE_BY_RCU cache, cleared whole
 * as vma_init() clears it (memset(vma, 0, sizeof(*vma))), vm_lock_seq and
 * vm_refcnt included, although a lockless vma_start_read() may be reading
 * them right now: Linux has that race, and KCSAN reports it (benign; the
 * triage in docs/explorer.md). vm_refcnt is 0 before as after: a freed VMA
 * is detached.
 */
export function* vm_area_alloc(k: KernelContext, mm: number): KGen<number> {
  const vma = yield kmem_cache_alloc(k, k.sys.mm.vm_area_cachep, 'vm_area_alloc');
  if (vma === 0) return 0;
  yield k.memset(vma + V.vm_start, 0, V.vm_lock - V.vm_start);
  yield k.WRITE_ONCE(vma + V.vm_mm, mm);
  yield k.WRITE_ONCE(vma + V.vm_lock_seq, -1);
  yield k.store(vma + V.detached, 1);
  // vma_lock_init(): the 2023 design's rw_semaphore (its lockdep word serves both designs).
  if (k.policy === POLICY_VMA_RWSEM) yield k.memset(vma + V.vm_lock, 0, RW_SEMAPHORE.$.size);
  yield k.store(vma + V.vm_lock + RW_SEMAPHORE.dep_map, VM_LOCK_CLASS);
  return vma;
}

/**
 * vm_area_dup(): a copy of orig, whose range, anon_vma and chain the
 * caller fixes. Since 6.15 (mm/vma_init.c) vm_area_init_from() copies
 * orig's fields one by one into an object that is not cleared first and
 * leaves vm_lock_seq and vm_refcnt alone: the object is of the
 * SLAB_TYPESAFE_BY_RCU cache, and a lockless vma_start_read() may be
 * reading them right now (a freed VMA's count is 0 already). Then
 * vma_lock_init(new, true) sets both with marked stores. So unlike
 * vm_area_alloc()'s memset, nothing here races such a reader.
 */
export function* vm_area_dup(k: KernelContext, orig: number): KGen<number> {
  if (k.policy === POLICY_VMA_RWSEM) return yield* call(vm_area_dup_2023(k, orig));
  const vma = yield kmem_cache_alloc(k, k.sys.mm.vm_area_cachep, 'vm_area_dup');
  if (vma === 0) return 0;
  // vm_area_init_from(): vm_start to vm_flags, then vm_pgoff to vm_ops.
  yield k.memcpy(vma + V.vm_start, orig + V.vm_start, V.detached - V.vm_start);
  yield k.memcpy(vma + V.vm_pgoff, orig + V.vm_pgoff, V.anon_vma - V.vm_pgoff);
  yield k.store(vma + V.detached, 1);
  // vma_lock_init(new, true)
  yield k.store(vma + V.vm_lock + RW_SEMAPHORE.dep_map, VM_LOCK_CLASS);
  yield refcount_set(k, vma + V.vm_refcnt, 0);
  yield k.WRITE_ONCE(vma + V.vm_lock_seq, -1);
  yield k.store(vma + V.anon_vma, 0);
  yield k.store(vma + V.anon_vma_chain, 0);
  return vma;
}

/*
 * The 2023 design's vm_area_dup(): data_race(memcpy(new, orig)) of the
 * whole object. Its VMAs are freed after a grace period, so no lockless
 * reader can be reading the object it copies into.
 */
function* vm_area_dup_2023(k: KernelContext, orig: number): KGen<number> {
  const vma = yield* vm_area_alloc(k, yield k.load(orig + V.vm_mm));
  if (vma === 0) return 0;
  yield k.memcpy(vma + V.vm_start, orig + V.vm_start, V.vm_refcnt - V.vm_start);
  // vma_lock_init(): the copy is not write-locked, whatever orig is.
  yield k.WRITE_ONCE(vma + V.vm_lock_seq, -1);
  yield k.store(vma + V.anon_vma, 0);
  yield k.store(vma + V.anon_vma_chain, 0);
  return vma;
}

/** vm_area_free() */
const vm_area_free_rcu_cb = rcu_callback('vm_area_free_rcu_cb', function* (k, head) {
  yield kmem_cache_free(k, k.sys.mm.vm_area_cachep, head - V.vm_rcu, 'vm_area_free_rcu_cb');
});

/**
 * vm_area_free(). The 2023 design frees after a grace period (its lockless
 * readers may still be in up_read()); otherwise at once, into a
 * SLAB_TYPESAFE_BY_RCU cache that may hand it out again immediately.
 */
function* vm_area_free(k: KernelContext, vma: number): KGen {
  // The VMA should be detached while being destroyed.
  yield* vma_assert_detached(k, vma);
  if (k.policy === POLICY_VMA_RWSEM) yield* call(call_rcu(k, vma + V.vm_rcu, vm_area_free_rcu_cb));
  else yield kmem_cache_free(k, k.sys.mm.vm_area_cachep, vma, 'vm_area_free');
}

/**
 * vm_flags_reset_once(): new flags for a VMA that faults may be reading
 * under its VMA lock alone: it must be write-locked.
 */
export function* vm_flags_reset_once(k: KernelContext, vma: number, flags: number): KGen {
  yield* vma_assert_write_locked(k, vma);
  yield k.WRITE_ONCE(vma + V.vm_flags, flags);
}

/** vma_start_write() on each of `vmas` (before they leave the index). */
export function* vma_start_write_range(k: KernelContext, vmas: readonly number[]): KGen {
  for (const vma of vmas) yield* call(vma_start_write(k, vma));
}

function* set_range(
  k: KernelContext,
  vma: number,
  start: number,
  end: number,
  pgoff: number,
): KGen {
  yield k.WRITE_ONCE(vma + V.vm_start, start);
  yield k.WRITE_ONCE(vma + V.vm_end, end);
  yield k.WRITE_ONCE(vma + V.vm_pgoff, pgoff);
}

function* map_count_add(k: KernelContext, mm: number, d: number): KGen {
  yield k.fetch_add(mm + MM_STRUCT.map_count, d);
}

/** vma_link(): a new VMA, write-locked before it becomes visible. */
export function* vma_link(k: KernelContext, mm: number, vma: number): KGen<boolean> {
  yield* call(vma_start_write(k, vma));
  const start = yield k.load(vma + V.vm_start);
  const end = yield k.load(vma + V.vm_end);
  if (!(yield* call(mt_store_range(k, mm, start, end, vma)))) return false;
  yield* call(vma_mark_attached(k, vma));
  yield* map_count_add(k, mm, 1);
  return true;
}

/** remove_vma(): ->close, drop the file and anon_vma, free. Already out of the index. */
export function* remove_vma(k: KernelContext, vma: number): KGen {
  const file = yield k.load(vma + V.vm_file);
  if (file !== 0) yield* call(fput(k, file));
  yield* call(unlink_anon_vmas(k, vma));
  yield* call(vm_area_free(k, vma));
}

/**
 * __split_vma(): cut `vma` at `addr`; the new VMA takes the part below
 * (new_below) or above. Returns the new VMA, or 0 on ENOMEM.
 */
export function* __split_vma(
  k: KernelContext,
  vma: number,
  addr: number,
  new_below: boolean,
): KGen<number> {
  const v = yield* vma_info(k, vma);
  k.BUG_ON(addr <= v.start || addr >= v.end, `__split_vma at ${addr} outside ${v.start}-${v.end}`);
  const mm = yield k.load(vma + V.vm_mm);
  const fresh = yield* call(vm_area_dup(k, vma));
  if (fresh === 0) return 0;
  if (new_below) yield k.store(fresh + V.vm_end, addr);
  else yield* set_range(k, fresh, addr, v.end, v.pgoff + (addr - v.start));
  yield* call(anon_vma_clone(k, fresh, vma));
  if (v.file !== 0) yield* call(get_file(k, v.file));
  yield* call(vma_start_write(k, vma));
  yield* call(vma_start_write(k, fresh));
  if (new_below) yield* set_range(k, vma, addr, v.end, v.pgoff + (addr - v.start));
  else yield k.WRITE_ONCE(vma + V.vm_end, addr);
  const [fs, fe] = new_below ? [v.start, addr] : [addr, v.end];
  if (!(yield* call(mt_store_range(k, mm, fs, fe, fresh))))
    throw new KernelBug('BUG', '__split_vma: VMA index full');
  yield* call(vma_mark_attached(k, fresh));
  yield* map_count_add(k, mm, 1);
  return fresh;
}

/** split_vma(): as __split_vma(), refused at sysctl_max_map_count. */
export function* split_vma(
  k: KernelContext,
  vma: number,
  addr: number,
  new_below: boolean,
): KGen<number> {
  const mm = yield k.load(vma + V.vm_mm);
  // READ_ONCE: under the range policy writers of disjoint ranges split VMAs
  // at the same time and count them with atomics; the limit check is racy.
  if ((yield k.READ_ONCE(mm + MM_STRUCT.map_count)) >= MAX_MAP_COUNT) return 0;
  return yield* call(__split_vma(k, vma, addr, new_below));
}

/* ---- merging ---- */

/** What a merge proposes: a range with the attributes it would have. */
interface MergeProposal {
  readonly start: number;
  readonly end: number;
  readonly flags: number;
  readonly file: number;
  readonly pgoff: number;
  readonly anon_vma: number;
  /** The VMA being changed (vmg->middle), for an existing range. */
  readonly src?: VmaInfo | null;
  /** The VMA mremap copies from (vmg->copied_from). */
  readonly copied_from?: VmaInfo | null;
}

/* is_mergeable_vma(): same flags and file; uffd, policy and names are always equal here. */
function is_mergeable_vma(p: MergeProposal, v: VmaInfo): boolean {
  return v.flags === p.flags && v.file === p.file;
}

/* vma_is_fork_child(): chained to a parent's anon_vma too (its chain is not singular). */
function vma_is_fork_child(v: VmaInfo | null | undefined): boolean {
  return v !== null && v !== undefined && v.anon_vma !== 0 && v.chain !== 1;
}

/*
 * is_mergeable_anon_vma() (mm/vma.c since 6.16): the merged VMA takes
 * whichever anon_vma exists; that is refused only when the one to be
 * shared belongs to a fork child, whose pages other processes may still
 * map. Two different anon_vmas never merge.
 */
function is_mergeable_anon_vma(p: MergeProposal, tgt: VmaInfo): boolean {
  if (tgt.anon_vma === 0 && p.anon_vma !== 0)
    return !vma_is_fork_child(p.src) && !vma_is_fork_child(p.copied_from);
  if (tgt.anon_vma !== 0 && p.anon_vma === 0) return !vma_is_fork_child(tgt);
  return p.anon_vma === tgt.anon_vma;
}

function can_vma_merge_before(p: MergeProposal, next: VmaInfo): boolean {
  return (
    is_mergeable_vma(p, next) &&
    is_mergeable_anon_vma(p, next) &&
    next.pgoff === p.pgoff + (p.end - p.start)
  );
}

function can_vma_merge_after(p: MergeProposal, prev: VmaInfo): boolean {
  return (
    is_mergeable_vma(p, prev) &&
    is_mergeable_anon_vma(p, prev) &&
    prev.pgoff + (prev.end - prev.start) === p.pgoff
  );
}

function can_vma_merge_left(p: MergeProposal, prev: VmaInfo | null): boolean {
  return prev !== null && prev.end === p.start && can_vma_merge_after(p, prev);
}

function can_vma_merge_right(
  p: MergeProposal,
  prev: VmaInfo | null,
  next: VmaInfo | null,
  merge_left: boolean,
): boolean {
  if (next === null || p.end !== next.start || !can_vma_merge_before(p, next)) return false;
  if (!merge_left) return true;
  // Merging both sides removes next: prev and next must share one anon_vma
  // at most, and next must be removable.
  return (
    (prev!.anon_vma === 0 || next.anon_vma === 0 || prev!.anon_vma === next.anon_vma) &&
    can_merge_remove_vma(next)
  );
}

/* can_merge_remove_vma(): a VMA whose vm_ops has ->close is never removed by a merge. */
function can_merge_remove_vma(v: VmaInfo): boolean {
  return !VM_OPS[v.ops]!.close;
}

/** The VMAs just below and from `start` (vma_prev()/vma_next() around a range). */
export function* vma_neighbours(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
): KGen<{ prev: VmaInfo | null; next: VmaInfo | null }> {
  // The range design locks a range and the VMAs touching it (vma_extent()): a VMA
  // past a gap is another writer's to change and free, and cannot merge here anyway;
  // its fields are not read. Mainline reads them under the whole mmap_lock.
  const locked = (touches: boolean) => k.policy !== POLICY_RANGE || touches;
  const before = start > 0 ? yield* call(mt_find(k, mm, start - 1)) : null;
  const prev =
    before !== null && before.start < start && locked(before.end === start)
      ? yield* vma_info(k, before.vma)
      : null;
  const after = yield* call(mt_find(k, mm, end));
  const next =
    after !== null && after.start >= end && locked(after.start === end)
      ? yield* vma_info(k, after.vma)
      : null;
  return { prev, next };
}

/**
 * dup_anon_vma(): the expanding VMA inherits the anon_vma of the one it
 * absorbs, so the anonymous pages it takes over stay reachable. A fault
 * under the VMA lock reads and sets ->anon_vma (anon_vma_prepare()): dst
 * must be write-locked ("mm: lock VMA in dup_anon_vma() before setting
 * ->anon_vma", 6.5; mainline asserts it).
 */
export function* dup_anon_vma(k: KernelContext, dst: VmaInfo, src: VmaInfo): KGen {
  if (src.anon_vma === 0 || dst.anon_vma !== 0) return;
  yield* vma_assert_write_locked(k, dst.vma);
  yield* call(anon_vma_clone(k, dst.vma, src.vma));
}

/**
 * vma_merge_new_range(): can [start, end), about to be mapped with these
 * attributes, be covered by expanding prev and/or next instead of a new
 * VMA? Returns the VMA that now covers it, or 0.
 */
export function* vma_merge_new_range(k: KernelContext, mm: number, p: MergeProposal): KGen<number> {
  yield* call(mmap_assert_write_locked(k, mm));
  if (p.flags & VM_SPECIAL) return 0;
  const { prev, next } = yield* call(vma_neighbours(k, mm, p.start, p.end));
  const merge_left = can_vma_merge_left(p, prev);
  const merge_right = can_vma_merge_right(p, prev, next, merge_left);
  if (!merge_left && !merge_right) return 0;
  const target = merge_left ? prev! : next!;
  const start = merge_left ? prev!.start : p.start;
  const end = merge_right ? next!.end : p.end;
  const pgoff = merge_left ? prev!.pgoff : p.pgoff;
  yield* call(vma_start_write(k, target.vma));
  if (merge_left && merge_right) {
    yield* call(vma_start_write(k, next!.vma));
    yield* call(dup_anon_vma(k, prev!, next!));
  }
  yield* call(
    commit_expand(
      k,
      mm,
      target.vma,
      start,
      end,
      pgoff,
      merge_left && merge_right ? next! : null,
      null,
    ),
  );
  return target.vma;
}

/*
 * Apply a merge: `vma` now spans [start, end) at pgoff; `remove` and
 * `remove2` are swallowed whole. The index is updated before the removed
 * VMAs are detached and freed.
 */
function* commit_expand(
  k: KernelContext,
  mm: number,
  vma: number,
  start: number,
  end: number,
  pgoff: number,
  remove: VmaInfo | null,
  remove2: VmaInfo | null,
): KGen {
  yield* set_range(k, vma, start, end, pgoff);
  if (!(yield* call(mt_store_range(k, mm, start, end, vma))))
    throw new KernelBug('BUG', 'vma merge: VMA index full');
  for (const r of [remove, remove2]) {
    if (r === null) continue;
    yield* call(vma_mark_detached(k, r.vma));
    yield* map_count_add(k, mm, -1);
    yield* call(remove_vma(k, r.vma));
  }
}

/**
 * vma_merge_existing_range(): [start, end) of `middle` is about to get
 * `p.flags`; merge it into prev and/or next if that is possible, shrinking
 * or removing middle. Returns the VMA that now holds the range, or 0 if no
 * merge happened (the caller then splits).
 */
function* vma_merge_existing_range(
  k: KernelContext,
  mm: number,
  middle: VmaInfo,
  p: MergeProposal,
): KGen<number> {
  yield* call(mmap_assert_write_locked(k, mm));
  const left_side = p.start === middle.start;
  const right_side = p.end === middle.end;
  if (p.flags & VM_SPECIAL || (!left_side && !right_side)) return 0;
  const { prev, next } = yield* call(vma_neighbours(k, mm, middle.start, middle.end));
  const merge_left = left_side && can_vma_merge_left(p, prev);
  const merge_right = right_side && can_vma_merge_right(p, prev, next, merge_left);
  if (!merge_left && !merge_right) return 0;
  const remove_middle = left_side && right_side;
  if (remove_middle && !can_merge_remove_vma(middle)) return 0;
  yield* call(vma_start_write(k, middle.vma));
  if (merge_right) yield* call(vma_start_write(k, next!.vma));
  if (merge_left) yield* call(vma_start_write(k, prev!.vma));

  if (merge_left && merge_right) {
    yield* call(dup_anon_vma(k, prev!, next!.anon_vma !== 0 ? next! : middle));
    yield* call(
      commit_expand(k, mm, prev!.vma, prev!.start, next!.end, prev!.pgoff, middle, next!),
    );
    return prev!.vma;
  }
  if (merge_left) {
    yield* call(dup_anon_vma(k, prev!, middle));
    // prev grows to end; middle keeps [end, middle.end) or goes.
    if (!remove_middle)
      yield* set_range(k, middle.vma, p.end, middle.end, middle.pgoff + (p.end - middle.start));
    yield* call(
      commit_expand(
        k,
        mm,
        prev!.vma,
        prev!.start,
        p.end,
        prev!.pgoff,
        remove_middle ? middle : null,
        null,
      ),
    );
    return prev!.vma;
  }
  // merge_right: next grows down to start; middle shrinks to [middle.start, start) or goes.
  yield* call(dup_anon_vma(k, next!, middle));
  const next_pgoff = next!.pgoff - (next!.start - p.start);
  if (!remove_middle) yield k.WRITE_ONCE(middle.vma + V.vm_end, p.start);
  yield* call(
    commit_expand(
      k,
      mm,
      next!.vma,
      p.start,
      next!.end,
      next_pgoff,
      remove_middle ? middle : null,
      null,
    ),
  );
  return next!.vma;
}

/**
 * vma_modify(): make [start, end) of `vma` its own VMA (merged into a
 * neighbour when possible, else split off), ready to take `flags`.
 * Returns that VMA, or -ENOMEM.
 */
export function* vma_modify(
  k: KernelContext,
  mm: number,
  vma: number,
  start: number,
  end: number,
  flags: number,
): KGen<number> {
  const v = yield* vma_info(k, vma);
  const merged = yield* call(
    vma_merge_existing_range(k, mm, v, {
      start,
      end,
      flags,
      file: v.file,
      pgoff: v.pgoff + (start - v.start),
      anon_vma: v.anon_vma,
      src: v,
    }),
  );
  if (merged !== 0) return merged;
  if (v.start < start && (yield* call(split_vma(k, vma, start, true))) === 0) return -ENOMEM;
  if (v.end > end && (yield* call(split_vma(k, vma, end, false))) === 0) return -ENOMEM;
  return vma;
}

/** find_vma_intersection(): the first VMA overlapping [start, end), or 0. mmap lock held. */
export function* find_vma_intersection(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
): KGen<number> {
  yield* call(mmap_assert_locked(k, mm));
  const e = yield* call(mt_find(k, mm, start));
  return e !== null && e.start < end ? e.vma : 0;
}

/** vma_lookup() */
export function* vma_lookup(k: KernelContext, mm: number, page: number): KGen<number> {
  return yield* call(mt_lookup(k, mm, page));
}

/**
 * The pages a change of [start, end) must hold under the range policy:
 * whole VMAs it overlaps (a split changes them), and with `neighbours` the
 * VMAs just before and after (a merge changes them too).
 */
export function* vma_extent(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
  neighbours: boolean,
): KGen<readonly [number, number]> {
  let lo = start;
  let hi = end;
  const first = yield* call(mt_find(k, mm, start));
  if (first !== null && first.start < end) lo = Math.min(lo, first.start);
  const last = end > 0 ? yield* call(mt_find(k, mm, end - 1)) : null;
  if (last !== null && last.start < end) hi = Math.max(hi, last.end);
  if (neighbours) {
    const prev = lo > 0 ? yield* call(mt_find(k, mm, lo - 1)) : null;
    if (prev !== null && prev.end === lo) lo = prev.start;
    const next = yield* call(mt_find(k, mm, hi));
    if (next !== null && next.start === hi) hi = next.end;
  }
  return [lo, hi];
}
