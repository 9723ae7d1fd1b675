import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boot } from '../../src/kernel/boot.js';
import { RCU_STATE } from '../../src/kernel/rcu/tree.js';
import { kmem_cache_create } from '../../src/kernel/slab.js';
import {
  __GFP_ZERO,
  cache_active,
  obj_allocated,
  obj_generation,
  SLAB_TYPESAFE_BY_RCU,
  slab_alloc,
  slab_free,
  slab_object,
} from '../../src/runtime/heap.js';
import { cacheline_aligned, defineStruct, L1_CACHE_WORDS } from '../../src/runtime/layout.js';
import { KernelMemory } from '../../src/runtime/memory.js';

const THING = defineStruct('thing', { a: 'none', b: 'none' });

function machine() {
  const m = KernelMemory.create(1 << 17);
  const sys = boot(m, 2);
  const gp = sys.rcu_state + RCU_STATE.gp_seq;
  return { m, sys, gp };
}

test('SLAB_TYPESAFE_BY_RCU: a freed object is reused at once, contents kept, generation bumped', () => {
  const { m, gp } = machine();
  const c = kmem_cache_create(m, 'vm_area_struct', THING.$, SLAB_TYPESAFE_BY_RCU, gp);
  const a = slab_alloc(m, c, 0);
  m.words[a + THING.a] = 42;
  const g1 = obj_generation(m.words, a);
  slab_free(m, a, c, 0);
  assert.equal(obj_allocated(m.words, a), false);
  assert.equal(m.words[a + THING.a], 42, 'a reader under RCU still sees the old contents');
  const b = slab_alloc(m, c, 0);
  assert.equal(b, a, 'recycled eagerly');
  assert.equal(obj_generation(m.words, b), g1 + 2);
});

test('an ordinary cache quarantines a freed object until a grace period has passed', () => {
  const { m, gp } = machine();
  const c = kmem_cache_create(m, 'anon_vma', THING.$, 0, gp);
  const a = slab_alloc(m, c, 0);
  slab_free(m, a, c, 0);
  const b = slab_alloc(m, c, 0);
  assert.notEqual(b, a, 'not reused before a grace period');
  m.words[gp] = 4; // two grace periods later
  const d = slab_alloc(m, c, __GFP_ZERO);
  assert.equal(d, a, 'reused after it');
  assert.equal(cache_active(m.words, c), 2);
});

test('double free and invalid free are reported', () => {
  const { m, gp } = machine();
  const c = kmem_cache_create(m, 'thing', THING.$, 0, gp);
  const a = slab_alloc(m, c, 0);
  slab_free(m, a, c, 0);
  assert.throws(() => slab_free(m, a, c, 1), /double-free/);
  assert.throws(() => slab_free(m, a + 1, c, 1), /invalid-free/);
});

test('slab_object finds the object of an inner address, and nothing in a header', () => {
  const { m, gp } = machine();
  const c = kmem_cache_create(m, 'thing', THING.$, 0, gp);
  const a = slab_alloc(m, c, 0);
  assert.deepEqual(slab_object(m, a + THING.b), { cache: c, obj: a });
  assert.equal(slab_object(m, a - 1), undefined);
});

test('large objects take multi-page slabs', () => {
  const { m, gp } = machine();
  const PAGE = defineStruct('page_data', { data: [1024, 'the page lock'] });
  const c = kmem_cache_create(m, 'page', PAGE.$, 0, gp);
  const a = slab_alloc(m, c, __GFP_ZERO);
  const b = slab_alloc(m, c, __GFP_ZERO);
  assert.ok(a !== 0 && b !== 0, 'both allocated');
  assert.ok(b - a >= 1024 + 3);
  assert.deepEqual(slab_object(m, a + 1023), { cache: c, obj: a });
});

test("under memory pressure the quarantine gives up its oldest object, as KASAN's does", () => {
  const m = KernelMemory.create(1 << 13);
  const sys = boot(m, 1);
  const c = kmem_cache_create(
    m,
    'big',
    defineStruct('big', { data: [500, 'none'] }).$,
    0,
    sys.rcu_state + RCU_STATE.gp_seq,
  );
  const first = slab_alloc(m, c, 0);
  slab_free(m, first, c, 0);
  // No grace period ever ends here: without the fallback this loop runs out of memory.
  for (let i = 0; i < 50; i++) {
    const p = slab_alloc(m, c, 0);
    assert.notEqual(p, 0, `allocation ${i}`);
    slab_free(m, p, c, 0);
  }
});

test("an aligned struct's objects each start a cache line, in every slab, and map back to themselves", () => {
  const { m, gp } = machine();
  const LINED = defineStruct('lined', { lock: cacheline_aligned('atomic'), x: 'lock' });
  const c = kmem_cache_create(m, 'lined', LINED.$, 0, gp);
  // More than one slab's worth: the second slab's objects are aligned too.
  const objs = Array.from({ length: 200 }, () => slab_alloc(m, c, 0));
  for (const obj of objs) {
    assert.equal(obj % L1_CACHE_WORDS, 0);
    assert.deepEqual(slab_object(m, obj + LINED.x), { cache: c, obj });
  }
  assert.equal(new Set(objs.map((o) => Math.floor(o / 1024))).size > 1, true, 'two slabs or more');
  assert.equal(slab_object(m, objs[0]! - 1), undefined, 'a header word is in no object');
});
