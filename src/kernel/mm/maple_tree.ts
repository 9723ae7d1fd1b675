/*
 * The VMA index (lib/maple_tree.c in spirit): ranges [start, end) mapped to
 * VMAs, readable under RCU while a writer replaces it. A node is immutable
 * once published: a writer builds a new node (copying the untouched runs
 * in one memcpy each), publishes it with rcu_assign_pointer() and frees the
 * old one after a grace period, so a lockless reader always walks a
 * consistent node. As in the maple tree, the node is the authority on
 * ranges: a VMA's own vm_start/vm_end may be mid-update under its write
 * lock, which is why lock_vma_under_rcu() re-checks them after locking.
 *
 * One node holds up to MT_SLOTS ranges, sorted; lookups binary-search it.
 */
import { defineStruct } from '../../runtime/layout.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import { spin_lock, spin_unlock } from '../locking/spinlock.js';
import { call_rcu, RCU_HEAD, rcu_callback } from '../rcu/tree.js';
import { kmem_cache_alloc, kmem_cache_free } from '../slab.js';
import { MM_STRUCT, MT_SLOTS } from './mm_types.js';
import { POLICY_RANGE } from './policy.js';

export const MAPLE_NODE = defineStruct('maple_node', {
  nr: 'immutable once published: ranges in use',
  start: [MT_SLOTS, 'immutable once published: first page of each range'],
  end: [MT_SLOTS, 'immutable once published: first page past each range'],
  slot: [MT_SLOTS, 'immutable once published: the VMA of each range'],
  rcu: [RCU_HEAD.$, "the queueing CPU's rcu_data_cb.nocb_lock while a free is queued"],
});

const mt_free_rcu = rcu_callback('mt_free_rcu', function* (k, head) {
  yield kmem_cache_free(k, k.sys.mm.maple_node_cachep, head - MAPLE_NODE.rcu, 'mt_free_rcu');
});

/** The current node: rcu_dereference(mm->mm_mt). Needs the mmap lock or RCU. */
export function* mt_root(k: KernelContext, mm: number): KGen<number> {
  return yield k.load_acquire(mm + MM_STRUCT.mm_mt);
}

/** Index of the first range with end > page (nr if none). */
function* mt_search(k: KernelContext, node: number, nr: number, page: number): KGen<number> {
  let lo = 0;
  let hi = nr;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((yield k.load(node + MAPLE_NODE.end + mid)) > page) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

type Range = [start: number, end: number, vma: number];

interface MtEntry {
  readonly start: number;
  readonly end: number;
  readonly vma: number;
}

/** Entry i of a node. */
function* mt_entry(k: KernelContext, node: number, i: number): KGen<MtEntry> {
  return {
    start: yield k.load(node + MAPLE_NODE.start + i),
    end: yield k.load(node + MAPLE_NODE.end + i),
    vma: yield k.load(node + MAPLE_NODE.slot + i),
  };
}

function* mt_nr(k: KernelContext, node: number): KGen<number> {
  return node === 0 ? 0 : yield k.load(node + MAPLE_NODE.nr);
}

/*
 * Read the current node. Under the range policy writers of other ranges may
 * replace (and free, after a grace period) the node meanwhile: read it
 * under RCU. Elsewhere the mmap lock or the caller's RCU section keeps it.
 * `read` gets the node, its entry count and `page`; it is a function of
 * the module, not a closure, so that its frames are one kernel function
 * (ops.ts, frame_of()).
 */
function* mt_read<R>(
  k: KernelContext,
  mm: number,
  read: (k: KernelContext, node: number, nr: number, page: number) => KGen<R>,
  page: number,
): KGen<R> {
  const rcu = k.policy === POLICY_RANGE;
  if (rcu) yield k.rcu_read_lock();
  const node = yield* mt_root(k, mm);
  const result = yield* call(read(k, node, yield* mt_nr(k, node), page));
  if (rcu) yield k.rcu_read_unlock();
  return result;
}

/* mt_find()'s reader: the node's first entry ending above `page`. */
function* mt_find_node(
  k: KernelContext,
  node: number,
  nr: number,
  page: number,
): KGen<MtEntry | null> {
  const i = yield* mt_search(k, node, nr, page);
  return i < nr ? yield* mt_entry(k, node, i) : null;
}

/* mt_prev()'s reader: the node's last entry ending at or below `page`. */
function* mt_prev_node(
  k: KernelContext,
  node: number,
  nr: number,
  page: number,
): KGen<MtEntry | null> {
  const i = yield* mt_search(k, node, nr, page);
  return i > 0 ? yield* mt_entry(k, node, i - 1) : null;
}

/* mt_entries()' reader: every entry of the node. */
function* mt_entries_node(k: KernelContext, node: number, nr: number): KGen<MtEntry[]> {
  const out: MtEntry[] = [];
  for (let i = 0; i < nr; i++) out.push(yield* mt_entry(k, node, i));
  return out;
}

/** find_vma(): the first range ending above `page`, or null. */
export function* mt_find(k: KernelContext, mm: number, page: number): KGen<MtEntry | null> {
  return yield* call(mt_read(k, mm, mt_find_node, page));
}

/** mas_prev(): the last range ending at or below `page`, or null. */
export function* mt_prev(k: KernelContext, mm: number, page: number): KGen<MtEntry | null> {
  return yield* call(mt_read(k, mm, mt_prev_node, page));
}

/** mas_walk() / vma_lookup(): the VMA whose range contains `page`, or 0. */
export function* mt_lookup(k: KernelContext, mm: number, page: number): KGen<number> {
  const e = yield* call(mt_find(k, mm, page));
  return e !== null && e.start <= page ? e.vma : 0;
}

/**
 * mas_walk() of a maple state that still holds `node` from an earlier walk
 * (no mas_set()): the node is read first and only then found dead, as in
 * mtree_range_walk(); a dead node (here: no longer the root, the index
 * being one node) restarts the walk from the root. Safe only while RCU
 * has been held since `node` was walked.
 */
export function* mas_walk_from(
  k: KernelContext,
  mm: number,
  node: number,
  page: number,
): KGen<number> {
  const e = yield* call(mt_find_node(k, node, yield* mt_nr(k, node), page));
  if ((yield* mt_root(k, mm)) !== node) return yield* call(mt_lookup(k, mm, page));
  return e !== null && e.start <= page ? e.vma : 0;
}

/** Every entry, in address order (writers and reports; not for hot paths). */
export function* mt_entries(k: KernelContext, mm: number): KGen<MtEntry[]> {
  return yield* call(mt_read(k, mm, mt_entries_node, 0));
}

/**
 * mas_store_gfp(): map [start, end) to `vma` (0 erases), trimming whatever
 * it overlaps. mmap write lock held. Publishes a new node; the old one is
 * freed after a grace period. Returns false when the node is full (-ENOMEM).
 */
export function* mt_store_range(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
  vma: number,
): KGen<boolean> {
  k.BUG_ON(start >= end, `mt_store_range: empty range ${start}-${end}`);
  const locked = yield* call(mt_lock(k, mm));
  const done = yield* call(mt_store_locked(k, mm, start, end, vma));
  if (locked) yield* spin_unlock(k, mm + MM_STRUCT.mt_lock);
  return done;
}

/** Re-introduced mistake of seed 002: range writers update the VMA index without its own lock. */
export const VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK = 'seed002-range-split-without-tree-lock';

/*
 * Under the range policy writers of disjoint ranges run together, and each
 * replaces the one index node: the index needs a lock of its own (what the
 * range-lock series lacked: seed 002). True if taken.
 */
function* mt_lock(k: KernelContext, mm: number): KGen<boolean> {
  if (k.policy !== POLICY_RANGE || k.variant === VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK)
    return false;
  yield* spin_lock(k, mm + MM_STRUCT.mt_lock);
  return true;
}

function* mt_store_locked(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
  vma: number,
): KGen<boolean> {
  const old = yield* mt_root(k, mm);
  const nr = yield* mt_nr(k, old);
  const i0 = yield* mt_search(k, old, nr, start);
  // Entries [i0, i1) overlap [start, end): keep what sticks out on either side.
  let i1 = i0;
  let head: Range | null = null;
  let tail: Range | null = null;
  while (i1 < nr) {
    const e = yield* mt_entry(k, old, i1);
    if (e.start >= end) break;
    if (e.start < start) head = [e.start, start, e.vma];
    if (e.end > end) tail = [end, e.end, e.vma];
    i1++;
  }
  const mid = [head, vma === 0 ? null : ([start, end, vma] as Range), tail].filter(
    (r): r is Range => r !== null,
  );
  const new_nr = i0 + mid.length + (nr - i1);
  if (new_nr > MT_SLOTS) return false;

  const node = yield kmem_cache_alloc(k, k.sys.mm.maple_node_cachep, 'mt_store_range');
  if (node === 0) throw new KernelBug('BUG', 'maple_node allocation failed');
  for (const f of [MAPLE_NODE.start, MAPLE_NODE.end, MAPLE_NODE.slot]) {
    if (i0 > 0) yield k.memcpy(node + f, old + f, i0);
    if (i1 < nr) yield k.memcpy(node + f + i0 + mid.length, old + f + i1, nr - i1);
  }
  for (let j = 0; j < mid.length; j++) {
    const [s, e, v] = mid[j]!;
    yield k.store(node + MAPLE_NODE.start + i0 + j, s);
    yield k.store(node + MAPLE_NODE.end + i0 + j, e);
    yield k.store(node + MAPLE_NODE.slot + i0 + j, v);
  }
  yield k.store(node + MAPLE_NODE.nr, new_nr);
  yield k.store_release(mm + MM_STRUCT.mm_mt, node);
  if (old !== 0) yield* call(call_rcu(k, old + MAPLE_NODE.rcu, mt_free_rcu));
  return true;
}

/** __mt_destroy(): drop the index of an mm that no one can see any more. */
export function* mt_destroy(k: KernelContext, mm: number): KGen {
  const locked = yield* call(mt_lock(k, mm));
  const old = yield* mt_root(k, mm);
  if (old !== 0) yield k.store_release(mm + MM_STRUCT.mm_mt, 0);
  if (locked) yield* spin_unlock(k, mm + MM_STRUCT.mt_lock);
  if (old !== 0) yield* call(call_rcu(k, old + MAPLE_NODE.rcu, mt_free_rcu));
}
