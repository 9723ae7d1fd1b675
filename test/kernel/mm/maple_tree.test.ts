/*
 * The VMA index past one node: thousands of ranges stored, split, erased
 * and looked up against a plain page map; a root that splits grows a
 * branch level (and a branch that splits, another); an emptied tree comes
 * back to one leaf; and a reader under RCU that races a store splitting
 * the leaf it walks never touches a freed node (KASAN, under the explorer).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config } from '../../../src/check/kernel.js';
import { Pct } from '../../../src/check/strategy.js';
import {
  MAPLE_NODE,
  mt_entries,
  mt_find,
  mt_lookup,
  mt_prev,
  mt_root,
  mt_store_range,
} from '../../../src/kernel/mm/maple_tree.js';
import { MM_STRUCT, MT_NODE_BRANCH, MT_SLOTS } from '../../../src/kernel/mm/mm_types.js';
import { RCU_GP_KTHREAD } from '../../../src/kernel/rcu/tree.js';
import { kmem_cache_zalloc } from '../../../src/kernel/slab.js';
import { KernelBug, type KernelContext, type KGen } from '../../../src/runtime/ops.js';
import type { Scenario } from '../../../src/runtime/scenario.js';
import { Rng } from '../../../src/scenarios/random.js';
import { run_kernel } from '../../helpers.js';

const MEMORY_WORDS = 1 << 24;

function* new_mm(k: KernelContext): KGen<number> {
  return yield kmem_cache_zalloc(k, k.sys.mm.mm_cachep, 'maple_tree.test');
}

function* store(k: KernelContext, mm: number, start: number, end: number, vma: number): KGen {
  assert.ok(yield* mt_store_range(k, mm, start, end, vma), `store ${start}-${end}`);
}

/* Levels of the tree: 1 for a lone leaf, following each branch's first child. */
function* depth(k: KernelContext, mm: number): KGen<number> {
  let enode = yield* mt_root(k, mm);
  let levels = 1;
  while (enode & MT_NODE_BRANCH) {
    enode = yield k.load((enode & ~MT_NODE_BRANCH) + MAPLE_NODE.slot);
    levels++;
  }
  return levels;
}

type Entry = { start: number; end: number; vma: number };

/*
 * The reference: one VMA id per page. Each store uses a fresh id, so the
 * index's entries are exactly the runs of one id.
 */
function runs(pages: Int32Array): Entry[] {
  const out: Entry[] = [];
  for (let p = 0; p < pages.length; p++) {
    const vma = pages[p]!;
    if (vma === 0) continue;
    const last = out.at(-1);
    if (last !== undefined && last.end === p && last.vma === vma) last.end = p + 1;
    else out.push({ start: p, end: p + 1, vma });
  }
  return out;
}

function* agrees(k: KernelContext, mm: number, pages: Int32Array, rng: Rng): KGen {
  const want = runs(pages);
  assert.deepEqual(
    (yield* mt_entries(k, mm)).map((e) => ({ ...e })),
    want,
    'mt_entries',
  );
  for (let n = 0; n < 300; n++) {
    const page = rng.below(pages.length + 10);
    assert.equal(yield* mt_lookup(k, mm, page), pages[page] ?? 0, `mt_lookup(${page})`);
    const next = want.find((e) => e.end > page) ?? null;
    assert.deepEqual(yield* mt_find(k, mm, page), next, `mt_find(${page})`);
    const prev = want.findLast((e) => e.end <= page) ?? null;
    assert.deepEqual(yield* mt_prev(k, mm, page), prev, `mt_prev(${page})`);
  }
}

test('thousands of ranges stored, overwritten and erased agree with a page map, and the tree shrinks back to a leaf', () => {
  run_kernel(function* (k) {
    const mm = yield* new_mm(k);
    const pages = new Int32Array(30_000);
    const rng = new Rng(7);
    let id = 1;
    for (let round = 0; round < 8; round++) {
      for (let n = 0; n < 1000; n++) {
        const start = rng.below(pages.length - 40);
        const erase = rng.below(5) === 0;
        const end = start + 1 + rng.below(erase ? 40 : 4);
        const vma = erase ? 0 : id++;
        yield* store(k, mm, start, end, vma);
        pages.fill(vma, start, end);
      }
      yield* agrees(k, mm, pages, rng);
    }
    assert.ok(runs(pages).length > 4 * MT_SLOTS, `${runs(pages).length} ranges`);
    assert.equal(yield* depth(k, mm), 2, 'one branch level over the leaves');
    // Erase all but the first 100 ranges, in pieces: leaves empty, the branch goes.
    const keep = runs(pages)[100]!.start;
    for (let p = keep; p < pages.length; p += 997) {
      yield* store(k, mm, p, Math.min(p + 997, pages.length), 0);
      pages.fill(0, p, p + 997);
      if (p % 9 === 0) yield* agrees(k, mm, pages, rng);
    }
    yield* agrees(k, mm, pages, rng);
    assert.equal(yield* depth(k, mm), 1, 'one leaf again');
  }, MEMORY_WORDS);
});

test('sysctl_max_map_count (65530) one-page ranges with gaps fit: a branch splits and a third level grows', () => {
  run_kernel(function* (k) {
    const mm = yield* new_mm(k);
    const count = 65_530;
    for (let i = 0; i < count; i++) {
      yield* store(k, mm, 2 * i, 2 * i + 1, i + 1);
      if (i === MT_SLOTS - 1) assert.equal(yield* depth(k, mm), 1, `${MT_SLOTS} ranges: one leaf`);
      if (i === MT_SLOTS) assert.equal(yield* depth(k, mm), 2, `${MT_SLOTS + 1}: a branch`);
    }
    assert.equal(yield* depth(k, mm), 3);
    assert.equal((yield* mt_entries(k, mm)).length, count);
    for (const i of [0, 169, 170, 340, 341, 57_799, 57_800, 65_529]) {
      assert.equal(yield* mt_lookup(k, mm, 2 * i), i + 1, `page ${2 * i}`);
      assert.equal(yield* mt_lookup(k, mm, 2 * i + 1), 0, `gap ${2 * i + 1}`);
    }
    // One store across every leaf but the first: the subtrees it covers are cut off whole.
    yield* store(k, mm, 100, 2 * count, 9);
    assert.deepEqual((yield* mt_entries(k, mm)).slice(49), [
      { start: 98, end: 99, vma: 50 },
      { start: 100, end: 2 * count, vma: 9 },
    ]);
    assert.equal(yield* depth(k, mm), 1);
  }, MEMORY_WORDS);
});

/* ---- a reader under RCU racing a store that splits its leaf ---- */

interface RaceGlobals {
  readonly mm: number;
}

/*
 * Ranges [2i, 2i + 1) for i < `ranges`, and the writer stores one more past
 * them: MT_SLOTS fill the root leaf; 510 fill the right leaf under a
 * branch (341 split 170 + 171, then 169 more are appended to the right).
 */
const ROOT_LEAF_FULL = MT_SLOTS;
const RIGHT_LEAF_FULL = 510;

/*
 * cpu0 looks up every range and the new one (param rcu: in one
 * RCU read section, or not: the broken reader the test must catch), each
 * lookup a walk from the root; cpu1 stores a range that splits the full
 * leaf and frees it after a grace period, whichever lookup is under way.
 */
export const scenario: Scenario<RaceGlobals> = {
  name: 'maple-split-vs-reader',
  description: 'mt_lookup() under RCU while a store splits the leaf it walks',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 2,
  params: { rcu: 1, ranges: ROOT_LEAF_FULL },
  memory_words: 1 << 22,
  kthreads: [RCU_GP_KTHREAD],
  setup: (m) => ({ mm: m.boot_alloc(MM_STRUCT.$, 'mm') }),
  *prologue(k, g, cfg) {
    const full = cfg.params.ranges!;
    for (let i = 0; i < full; i++) yield* mt_store_range(k, g.mm, 2 * i, 2 * i + 1, i + 1);
    assert.equal(yield* depth(k, g.mm), full > MT_SLOTS ? 2 : 1, 'the tree the split starts from');
  },
  *cpu(k, g, cfg) {
    const full = cfg.params.ranges!;
    if (k.cpu === 1) {
      yield* mt_store_range(k, g.mm, 2 * full, 2 * full + 1, full + 1);
      return;
    }
    const rcu = cfg.params.rcu === 1;
    if (rcu) yield k.rcu_read_lock();
    for (let i = 0; i <= full; i++) {
      const vma = yield* mt_lookup(k, g.mm, 2 * i);
      // The new range may or may not be seen yet; an old one always is.
      if (vma !== i + 1 && !(i === full && vma === 0))
        throw new KernelBug('outcome', `mt_lookup(${2 * i}) = ${vma}`);
    }
    if (rcu) yield k.rcu_read_unlock();
  },
  check: () => {},
};

/* PCT lets the writer and the grace-period kthread run whole while the reader is mid-walk. */
function explore_split(rcu: number, ranges = ROOT_LEAF_FULL) {
  const ex = new Explorer(scenario, make_config(scenario, { params: { rcu, ranges } }));
  return ex.check(new Pct(1, 200, 2));
}

test('a reader under RCU racing a store that splits its leaf never reads a freed node', () => {
  const r = explore_split(1);
  assert.equal(r.bug, null, r.bug?.message);
});

test('a reader under RCU walking root -> branch -> leaf racing a split under the branch never reads a freed node', () => {
  const r = explore_split(1, RIGHT_LEAF_FULL);
  assert.equal(r.bug, null, r.bug?.message);
});

test('the same reader without rcu_read_lock() is caught reading a freed node (the check can fail)', () => {
  const r = explore_split(0);
  assert.equal(r.bug?.class, 'use-after-free', r.bug?.message);
});
