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
 * A node holds up to MT_SLOTS sorted entries and is binary-searched. An
 * mm with few VMAs has one node, a leaf (maple_range_64 in a leaf's role).
 * A store that would overflow a leaf splits it and grows a branch level
 * above: a branch is the same node, whose entry i is child i's subtree,
 * start[i] its first page and end[i] (the pivot) the first page past its
 * last range; branches split and grow levels in turn, so the index holds
 * any number of ranges (three levels already hold 340^3 / 8). A branch
 * left with one child is replaced by it; nodes are not merged back when
 * small (lib/maple_tree.c rebalances). Pointers to nodes are encoded as
 * maple_enode is: MT_NODE_BRANCH marks a branch, so a reader of a leaf
 * does exactly what it did when the index was one node.
 *
 * RCU: a writer copies every node on its path (and builds the split
 * ones), all unpublished, then publishes them with one rcu_assign_pointer()
 * of the root; the nodes replaced or cut off are freed after a grace
 * period. A reader under RCU walks root -> child with rcu_dereference() at
 * each level, so it sees one consistent snapshot of the whole tree.
 */
import { defineStruct } from '../../runtime/layout.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import { spin_lock, spin_unlock } from '../locking/spinlock.js';
import { call_rcu, RCU_HEAD, rcu_callback } from '../rcu/tree.js';
import { kmem_cache_alloc, kmem_cache_free } from '../slab.js';
import { MM_STRUCT, MT_NODE_BRANCH, MT_SLOTS } from './mm_types.js';
import { POLICY_RANGE } from './policy.js';

export const MAPLE_NODE = defineStruct('maple_node', {
  nr: 'immutable once published: entries in use',
  start: [MT_SLOTS, 'immutable once published: first page of each range (branch: of each child)'],
  end: [
    MT_SLOTS,
    'immutable once published: first page past each range (branch: pivot of each child)',
  ],
  slot: [MT_SLOTS, 'immutable once published: the VMA of each range (branch: encoded child)'],
  rcu: [RCU_HEAD.$, "the queueing CPU's rcu_data_cb.nocb_lock while a free is queued"],
});

const mt_free_rcu = rcu_callback('mt_free_rcu', function* (k, head) {
  yield kmem_cache_free(k, k.sys.mm.maple_node_cachep, head - MAPLE_NODE.rcu, 'mt_free_rcu');
});

/** The current root, encoded: rcu_dereference(mm->mm_mt). Needs the mmap lock or RCU. */
export function* mt_root(k: KernelContext, mm: number): KGen<number> {
  return yield k.load_acquire(mm + MM_STRUCT.mm_mt);
}

/** mte_to_node(): the node an encoded pointer points at. */
function mte_to_node(enode: number): number {
  return enode & ~MT_NODE_BRANCH;
}

/** !ma_is_leaf(): whether an encoded pointer points at a branch. */
function mte_is_branch(enode: number): boolean {
  return (enode & MT_NODE_BRANCH) !== 0;
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

/** Entry i of a leaf. */
function* mt_entry(k: KernelContext, node: number, i: number): KGen<MtEntry> {
  return {
    start: yield k.load(node + MAPLE_NODE.start + i),
    end: yield k.load(node + MAPLE_NODE.end + i),
    vma: yield k.load(node + MAPLE_NODE.slot + i),
  };
}

/** Entries in use of an encoded node (0: the empty index). */
function* mt_nr(k: KernelContext, enode: number): KGen<number> {
  return enode === 0 ? 0 : yield k.load(mte_to_node(enode) + MAPLE_NODE.nr);
}

/** Child i of a branch: rcu_dereference() of its slot, as a reader under RCU must. */
function* mt_child(k: KernelContext, node: number, i: number): KGen<number> {
  return yield k.load_acquire(node + MAPLE_NODE.slot + i);
}

/*
 * Read the current tree. Under the range policy writers of other ranges may
 * replace (and free, after a grace period) its nodes meanwhile: read it
 * under RCU. Elsewhere the mmap lock or the caller's RCU section keeps it.
 * `read` gets the encoded root, its entry count and `page`; it is a
 * function of the module, not a closure, so that its frames are one
 * kernel function (ops.ts, frame_of()).
 */
function* mt_read<R>(
  k: KernelContext,
  mm: number,
  read: (k: KernelContext, enode: number, nr: number, page: number) => KGen<R>,
  page: number,
): KGen<R> {
  const rcu = k.policy === POLICY_RANGE;
  if (rcu) yield k.rcu_read_lock();
  const node = yield* mt_root(k, mm);
  const result = yield* call(read(k, node, yield* mt_nr(k, node), page));
  if (rcu) yield k.rcu_read_unlock();
  return result;
}

/* mt_find()'s reader: the first entry under `enode` ending above `page`. */
function* mt_find_node(
  k: KernelContext,
  enode: number,
  nr: number,
  page: number,
): KGen<MtEntry | null> {
  let node = enode;
  let n = nr;
  // A branch's pivot is its child's last end: the child past the search holds the entry.
  while (mte_is_branch(node)) {
    const i = yield* mt_search(k, mte_to_node(node), n, page);
    if (i === n) return null;
    node = yield* mt_child(k, mte_to_node(node), i);
    n = yield* mt_nr(k, node);
  }
  const i = yield* mt_search(k, node, n, page);
  return i < n ? yield* mt_entry(k, node, i) : null;
}

/* The last entry under `enode`, a non-empty subtree. */
function* mt_last_entry(k: KernelContext, enode: number): KGen<MtEntry> {
  let node = enode;
  let n = yield* mt_nr(k, node);
  while (mte_is_branch(node)) {
    node = yield* mt_child(k, mte_to_node(node), n - 1);
    n = yield* mt_nr(k, node);
  }
  return yield* mt_entry(k, node, n - 1);
}

/* mt_prev()'s reader: the last entry under `enode` ending at or below `page`. */
function* mt_prev_node(
  k: KernelContext,
  enode: number,
  nr: number,
  page: number,
): KGen<MtEntry | null> {
  let node = enode;
  let n = nr;
  // The branch and index of the subtree just left of the path, whose last entry is next best.
  let left: [node: number, i: number] | null = null;
  while (mte_is_branch(node)) {
    const i = Math.min(yield* mt_search(k, mte_to_node(node), n, page), n - 1);
    if (i > 0) left = [mte_to_node(node), i - 1];
    node = yield* mt_child(k, mte_to_node(node), i);
    n = yield* mt_nr(k, node);
  }
  const i = yield* mt_search(k, node, n, page);
  if (i > 0) return yield* mt_entry(k, node, i - 1);
  return left === null ? null : yield* mt_last_entry(k, yield* mt_child(k, left[0], left[1]));
}

/* mt_entries()' reader: every entry under `enode`, in address order. */
function* mt_entries_node(k: KernelContext, enode: number, nr: number): KGen<MtEntry[]> {
  const out: MtEntry[] = [];
  if (mte_is_branch(enode)) {
    for (let i = 0; i < nr; i++) {
      const child = yield* mt_child(k, mte_to_node(enode), i);
      out.push(...(yield* mt_entries_node(k, child, yield* mt_nr(k, child))));
    }
  } else {
    for (let i = 0; i < nr; i++) out.push(yield* mt_entry(k, enode, i));
  }
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
 * mas_walk() of a maple state that still holds `node` (the root it walked
 * before, no mas_set()): the tree under it is walked first and only then
 * found dead, as in mtree_range_walk(); a dead node (no longer the root)
 * restarts the walk from the root. Safe only while RCU has been held
 * since `node` was walked.
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
 * it overlaps. mmap write lock held. Publishes new nodes; the replaced ones
 * are freed after a grace period. Returns false only when a node cannot be
 * allocated (-ENOMEM), the tree unchanged.
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
 * replaces the index's root: the index needs a lock of its own (what the
 * range-lock series lacked: seed 002). True if taken.
 */
function* mt_lock(k: KernelContext, mm: number): KGen<boolean> {
  if (k.policy !== POLICY_RANGE || k.variant === VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK)
    return false;
  yield* spin_lock(k, mm + MM_STRUCT.mt_lock);
  return true;
}

/** A run of `n` entries of a published node, copied whole into a new one. */
interface Run {
  readonly src: number;
  readonly from: number;
  readonly n: number;
}

/** What a new node is built of, in order: runs of an old node and new entries. */
type Piece = Run | Range;

function piece_len(p: Piece): number {
  return 'src' in p ? p.n : 1;
}

/** One store's nodes: `dead` to free after a grace period, `fresh` (unpublished) at once on -ENOMEM. */
interface MtWrite {
  readonly dead: number[];
  readonly fresh: number[];
}

function* mt_store_locked(
  k: KernelContext,
  mm: number,
  start: number,
  end: number,
  vma: number,
): KGen<boolean> {
  const old = yield* mt_root(k, mm);
  const w: MtWrite = { dead: [], fresh: [] };
  let nodes = yield* mt_store_node(k, old, yield* mt_nr(k, old), [start, end, vma], w, true);
  // A root that split grows a level: a branch over its halves (mas_split()'s new root).
  while (nodes !== false && nodes !== null && nodes.length > 1)
    nodes = yield* mt_build(k, yield* mt_bounds(k, nodes), true, w, false);
  if (nodes === false) {
    for (const node of w.fresh)
      yield kmem_cache_free(k, k.sys.mm.maple_node_cachep, node, 'mt_store_range');
    return false;
  }
  if (nodes === null) return true;
  yield k.store_release(mm + MM_STRUCT.mm_mt, nodes[0] ?? 0);
  for (const node of w.dead) yield* call(call_rcu(k, node + MAPLE_NODE.rcu, mt_free_rcu));
  return true;
}

/*
 * Store `r` under the encoded node `enode` (nr entries): the new nodes
 * that replace it, in order (none when it empties, more than one when it
 * split), null when nothing changed, false on -ENOMEM. The empty index's
 * root is kept as an empty leaf (`root`).
 */
function* mt_store_node(
  k: KernelContext,
  enode: number,
  nr: number,
  r: Range,
  w: MtWrite,
  root: boolean,
): KGen<number[] | null | false> {
  const branch = mte_is_branch(enode);
  const node = mte_to_node(enode);
  const pieces = branch
    ? yield* mt_branch_pieces(k, node, nr, r, w)
    : yield* mt_leaf_pieces(k, node, nr, r);
  if (pieces === null || pieces === false) return pieces;
  if (node !== 0) w.dead.push(node);
  return yield* mt_build(k, pieces, branch, w, root && !branch);
}

/* A leaf's entries after storing r: what r overlaps is trimmed to what sticks out. */
function* mt_leaf_pieces(k: KernelContext, old: number, nr: number, r: Range): KGen<Piece[]> {
  const [start, end, vma] = r;
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
  const mid = [head, vma === 0 ? null : r, tail].filter((p): p is Range => p !== null);
  return [{ src: old, from: 0, n: i0 }, ...mid, { src: old, from: i1, n: nr - i1 }];
}

/*
 * A branch's children after storing r: the children r overlaps are
 * [i0, i1); those strictly inside are cut off whole, the first gets r and
 * the last has r erased. A range in a gap goes to the child after it (the
 * last one, past the end).
 */
function* mt_branch_pieces(
  k: KernelContext,
  old: number,
  nr: number,
  r: Range,
  w: MtWrite,
): KGen<Piece[] | null | false> {
  const [start, end, vma] = r;
  const i0 = yield* mt_search(k, old, nr, start);
  let i1 = i0;
  while (i1 < nr && (yield k.load(old + MAPLE_NODE.start + i1)) < end) i1++;
  if (i0 === i1 && vma === 0) return null;
  const first = i0 === i1 ? Math.min(i0, nr - 1) : i0;
  const last = Math.max(first, i1 - 1);
  for (let i = first + 1; i < last; i++)
    yield* mt_subtree(k, yield k.load(old + MAPLE_NODE.slot + i), w.dead);
  const head = yield* mt_store_child(k, old, first, r, w);
  if (head === false) return false;
  const tail = last > first ? yield* mt_store_child(k, old, last, [start, end, 0], w) : [];
  if (tail === false) return false;
  return [
    { src: old, from: 0, n: first },
    ...head,
    ...tail,
    { src: old, from: last + 1, n: nr - last - 1 },
  ];
}

/* Store r under child i of the branch `old`: the entries that replace the child's. */
function* mt_store_child(
  k: KernelContext,
  old: number,
  i: number,
  r: Range,
  w: MtWrite,
): KGen<Piece[] | false> {
  const child = yield k.load(old + MAPLE_NODE.slot + i);
  const nodes = yield* mt_store_node(k, child, yield* mt_nr(k, child), r, w, false);
  if (nodes === null) return [{ src: old, from: i, n: 1 }];
  return nodes === false ? false : yield* mt_bounds(k, nodes);
}

/* Branch entries for new (unpublished, non-empty) encoded nodes: their first and last pages. */
function* mt_bounds(k: KernelContext, nodes: number[]): KGen<Range[]> {
  const out: Range[] = [];
  for (const enode of nodes) {
    const node = mte_to_node(enode);
    const nr = yield* mt_nr(k, enode);
    const start = yield k.load(node + MAPLE_NODE.start);
    out.push([start, yield k.load(node + MAPLE_NODE.end + nr - 1), enode]);
  }
  return out;
}

/* Every node of the subtree under `enode`, into `dead`. Writers only. */
function* mt_subtree(k: KernelContext, enode: number, dead: number[]): KGen {
  const node = mte_to_node(enode);
  dead.push(node);
  if (!mte_is_branch(enode)) return;
  const nr = yield* mt_nr(k, enode);
  for (let i = 0; i < nr; i++) yield* mt_subtree(k, yield k.load(node + MAPLE_NODE.slot + i), dead);
}

/*
 * New nodes holding `pieces`, split evenly into as few nodes as hold them
 * (mas_split()), encoded. No entries: no node, unless `keep_empty`. A
 * branch of one child is that child (the level is dropped).
 */
function* mt_build(
  k: KernelContext,
  pieces: Piece[],
  branch: boolean,
  w: MtWrite,
  keep_empty: boolean,
): KGen<number[] | false> {
  const total = pieces.reduce((n, p) => n + piece_len(p), 0);
  if (total === 0 && !keep_empty) return [];
  if (branch && total === 1) {
    const p = mt_slice(pieces, 0, 1)[0]!;
    return ['src' in p ? yield k.load(p.src + MAPLE_NODE.slot + p.from) : p[2]];
  }
  const count = Math.max(1, Math.ceil(total / MT_SLOTS));
  const nodes: number[] = [];
  for (let c = 0; c < count; c++) {
    const node = yield kmem_cache_alloc(k, k.sys.mm.maple_node_cachep, 'mt_store_range');
    if (node === 0) return false;
    k.BUG_ON(mte_is_branch(node), `maple_node at ${node} collides with MT_NODE_BRANCH`);
    w.fresh.push(node);
    nodes.push(node);
  }
  for (let c = 0; c < count; c++) {
    const from = Math.floor((c * total) / count);
    const to = Math.floor(((c + 1) * total) / count);
    yield* mt_fill(k, nodes[c]!, mt_slice(pieces, from, to), to - from);
  }
  return branch ? nodes.map((node) => node | MT_NODE_BRANCH) : nodes;
}

/* Entries [from, to) of `pieces`. */
function mt_slice(pieces: Piece[], from: number, to: number): Piece[] {
  const out: Piece[] = [];
  let at = 0;
  for (const p of pieces) {
    const n = piece_len(p);
    const lo = Math.max(from, at);
    const hi = Math.min(to, at + n);
    if (lo < hi) out.push('src' in p ? { src: p.src, from: p.from + lo - at, n: hi - lo } : p);
    at += n;
  }
  return out;
}

/* Fill a new node: each field's runs in one memcpy each, then the new entries, then nr. */
function* mt_fill(k: KernelContext, node: number, pieces: Piece[], nr: number): KGen {
  for (const f of [MAPLE_NODE.start, MAPLE_NODE.end, MAPLE_NODE.slot]) {
    let at = 0;
    for (const p of pieces) {
      if ('src' in p && p.n > 0) yield k.memcpy(node + f + at, p.src + f + p.from, p.n);
      at += piece_len(p);
    }
  }
  let at = 0;
  for (const p of pieces) {
    if (!('src' in p)) {
      yield k.store(node + MAPLE_NODE.start + at, p[0]);
      yield k.store(node + MAPLE_NODE.end + at, p[1]);
      yield k.store(node + MAPLE_NODE.slot + at, p[2]);
    }
    at += piece_len(p);
  }
  yield k.store(node + MAPLE_NODE.nr, nr);
}

/** __mt_destroy(): drop the index of an mm that no one can see any more. */
export function* mt_destroy(k: KernelContext, mm: number): KGen {
  const locked = yield* call(mt_lock(k, mm));
  const old = yield* mt_root(k, mm);
  const dead: number[] = [];
  if (old !== 0) {
    yield* mt_subtree(k, old, dead);
    yield k.store_release(mm + MM_STRUCT.mm_mt, 0);
  }
  if (locked) yield* spin_unlock(k, mm + MM_STRUCT.mt_lock);
  for (const node of dead) yield* call(call_rcu(k, node + MAPLE_NODE.rcu, mt_free_rcu));
}
