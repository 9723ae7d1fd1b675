/*
 * The kernel's per-CPU lists as the timing executor prices them
 * (src/runtime/executors/timing_percpu.ts): a CPU's allocations and frees
 * touch its own lines, and the shared lock line of the zone or the slab
 * node only once a batch; a lock held by one CPU makes the next wait;
 * rss counters fold at percpu_counter_batch; and the explorer's object
 * identity is not theirs to decide.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { make_config, run_timing } from '../../../src/check/kernel.js';
import { CacheModel } from '../../../src/runtime/executors/cache_model.js';
import { PROFILES } from '../../../src/runtime/executors/timing_costs.js';
import { PerCpuLists, sheaf_capacity } from '../../../src/runtime/executors/timing_percpu.js';
import { __SLAB_PAGE_FRAMES, __SLAB_PAGES, cache_create } from '../../../src/runtime/heap.js';
import { defineStruct } from '../../../src/runtime/layout.js';
import { KernelMemory } from '../../../src/runtime/memory.js';
import { find_workload } from '../../../src/scenarios/workloads/index.js';

const HW = PROFILES.hw;
const OBJ = defineStruct('percpu_test_obj', { a: 'none', b: 'none' });
const FRAME = defineStruct('percpu_test_frame', { data: [1024, 'none'] });

function machine(nr_tasks: number) {
  const m = KernelMemory.create(64 * 1024);
  const gp_seq = m.boot_alloc(OBJ.$, 'gp_seq');
  const pages = cache_create(m, 'page', 1, OBJ.$, __SLAB_PAGES, gp_seq);
  const frames = cache_create(m, 'page_frame', 2, FRAME.$, __SLAB_PAGE_FRAMES, gp_seq);
  const objs = cache_create(m, 'obj', 3, OBJ.$, 0, gp_seq);
  const lists = new PerCpuLists(m, nr_tasks, nr_tasks, HW);
  const cache = new CacheModel(lists.end, nr_tasks, HW);
  return { m, pages, frames, objs, lists, cache };
}

/*
 * The indices, among `n` operations by `op`, of those after the first
 * that cost more than `min_ns` (a shared line, a lock held).
 */
function slow_ops(n: number, op: (t_ns: number) => number, min_ns = 0): number[] {
  const slow: number[] = [];
  let t_ns = op(0);
  for (let i = 1; i < n; i++) {
    const end_ns = op(t_ns);
    if (end_ns - t_ns > min_ns) slow.push(i);
    t_ns = end_ns;
  }
  return slow;
}

/* A batch of pages moved under zone->lock: each page's struct page from memory (vmstat folds cost less). */
const BATCH_NS = 63 * HW.memory_ns;

const gaps = (xs: number[]): number[] => xs.slice(1).map((x, i) => x - xs[i]!);

test('struct pages come off the per-CPU list: zone->lock once every pcp->batch (63) pages', () => {
  const { m, pages, lists, cache } = machine(2);
  const slow = slow_ops(300, (t_ns) => lists.alloc(cache, m.words, 0, pages, t_ns), BATCH_NS);
  assert.ok(slow.length >= 4, `refills at ${slow}`);
  assert.deepEqual(new Set(gaps(slow)), new Set([63]));
});

test('freed pages go back to the per-CPU list, a batch to the zone each time it passes pcp->high', () => {
  const { m, pages, lists, cache } = machine(2);
  const slow = slow_ops(1000, (t_ns) => lists.free(cache, m.words, 0, pages, t_ns), BATCH_NS);
  assert.ok(slow.length >= 5, `drains at ${slow}`);
  assert.deepEqual(new Set(gaps(slow)), new Set([63]));
});

test('a page frame costs nothing of its own: its struct page pays the list', () => {
  const { m, frames, lists, cache } = machine(2);
  for (let i = 0; i < 200; i++) assert.equal(lists.alloc(cache, m.words, 0, frames, 5), 5);
});

test("SLUB's sheaves: one CPU freeing and reallocating stays on its own line; a run of allocations takes the node's list_lock once a sheaf", () => {
  const { m, objs, lists, cache } = machine(2);
  const cap = sheaf_capacity(4 * 8, 0);
  assert.equal(cap, 60, 'a small object: 60 a sheaf');
  let t_ns = lists.alloc(cache, m.words, 0, objs, 0);
  for (let i = 0; i < 500; i++) {
    const end_ns = lists.free(cache, m.words, 0, objs, lists.alloc(cache, m.words, 0, objs, t_ns));
    assert.equal(end_ns, t_ns, 'alloc and free on one CPU hit its own sheaf');
    t_ns = end_ns;
  }
  const slow = slow_ops(400, (at) => lists.alloc(cache, m.words, 1, objs, at));
  assert.deepEqual(new Set(gaps(slow)), new Set([cap]));
});

test('calculate_sheaf_capacity(): by size, grown to fill its kmalloc bucket, or what the cache asks', () => {
  assert.equal(sheaf_capacity(4096, 0), 4);
  assert.equal(sheaf_capacity(2048, 0), 12);
  assert.equal(sheaf_capacity(512, 0), 28);
  assert.equal(sheaf_capacity(64, 32), 60);
  assert.equal(sheaf_capacity(4096, 32), 32);
});

test('a lock one CPU holds for its batch makes another CPU wait, and the line is named', () => {
  const { m, pages, lists, cache } = machine(2);
  // Both CPUs empty their lists, then refill at the same moment.
  for (const t of [0, 1]) slow_ops(200, (t_ns) => lists.alloc(cache, m.words, t, pages, t_ns));
  const zone = cache.contended(8).find((l) => lists.describe(l.addr) === 'zone.{lock,nr_moved}');
  assert.ok(zone && zone.stall_ns >= BATCH_NS, "the second CPU waited for the first one's batch");
});

test("add_mm_counter(): folds into the mm's count once every percpu_counter_batch updates (max(32, 2 * CPUs))", () => {
  const { lists, cache } = machine(2);
  const mm = 0x4000;
  const slow = slow_ops(200, (t_ns) => lists.add_mm_counter(cache, 0, mm + 1, 1, t_ns));
  assert.deepEqual(new Set(gaps(slow)), new Set([32]));
  const { lists: many, cache: c64 } = machine(64);
  const slow64 = slow_ops(600, (t_ns) => many.add_mm_counter(c64, 0, mm + 1, 1, t_ns));
  assert.deepEqual(new Set(gaps(slow64)), new Set([128]));
});

test('under hw, pft names its most contended line: the VMA lock line, the zone lock far behind', () => {
  const w = find_workload('pft');
  const cfg = make_config(w.scenario, {
    cpus: 8,
    policy: 'vma-rwsem',
    params: w.params('timing', 8),
  });
  const r = run_timing(w.scenario, cfg, { profile: HW });
  assert.equal(r.bug, null);
  assert.match(
    r.cache.lines[0]!.name,
    /^vm_area_struct@0x[0-9a-f]+\.\{vm_refcnt\.refs,vm_lock\.count/,
  );
  const zone = r.cache.lines.find((l) => l.name.startsWith('zone.'));
  assert.ok(!zone || zone.stall_ns < r.cache.lines[0]!.stall_ns / 10);
});

test("under js, which prices mmlab's own heap, an allocation touches no per-CPU line", () => {
  const w = find_workload('pft');
  const cfg = make_config(w.scenario, { cpus: 2, policy: 'vma-rwsem', params: { pages: 64 } });
  const r = run_timing(w.scenario, cfg, { profile: PROFILES.js });
  assert.equal(r.bug, null);
  assert.ok(
    r.cache.lines.every(
      (l) => !/^(zone|node_barn|kmem_cache_node|mm->rss_stat|per-CPU)/.test(l.name),
    ),
  );
});
