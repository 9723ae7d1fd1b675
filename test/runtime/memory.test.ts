import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cacheline_aligned,
  defineStruct,
  field_at,
  L1_CACHE_WORDS,
} from '../../src/runtime/layout.js';
import { DirtyMap, KernelMemory, PAGE_WORDS } from '../../src/runtime/memory.js';

const INNER = defineStruct('inner', { x: 'lock X', y: 'lock Y' });
const OUTER = defineStruct('outer', {
  a: 'mmap_lock',
  arr: [3, 'page_table_lock'],
  in: INNER.$,
  guarded: [INNER.$, 'wait_lock'],
});

test('struct layouts give offsets, sizes and the protection of each field', () => {
  assert.equal(OUTER.a, 0);
  assert.equal(OUTER.arr, 1);
  assert.equal(OUTER.in, 4);
  assert.equal(OUTER.guarded, 6);
  assert.equal(OUTER.$.size, 8);
  assert.deepEqual(field_at(OUTER.$, 2), { name: 'arr[1]', protection: 'page_table_lock' });
  assert.deepEqual(field_at(OUTER.$, 5), { name: 'in.y', protection: 'lock Y' });
  assert.deepEqual(field_at(OUTER.$, 7), { name: 'guarded.y', protection: 'wait_lock' });
  assert.throws(() => defineStruct('bad', { x: [0, 'none'] }), /bad width/);
});

/* A lock word that must not share its line with what readers load, as vm_refcnt. */
const HOT = defineStruct('hot', {
  start: 'mmap_lock',
  end: 'mmap_lock',
  refcnt: cacheline_aligned('atomic'),
  seq: 'the lock',
});

test('____cacheline_aligned_in_smp: the field starts a line, the struct is aligned and padded to lines', () => {
  assert.equal(OUTER.$.align, 1, 'no aligned field: no alignment, no padding');
  assert.equal(HOT.refcnt, L1_CACHE_WORDS);
  assert.equal(HOT.seq, L1_CACHE_WORDS + 1);
  assert.equal(HOT.$.align, L1_CACHE_WORDS);
  assert.equal(HOT.$.size, 2 * L1_CACHE_WORDS);
  assert.equal(field_at(HOT.$, 2), undefined, 'the padding is no field');
  // Embedded, the struct keeps its alignment: so does whatever embeds it.
  const OUTER_HOT = defineStruct('outer_hot', { x: 'none', hot: HOT.$ });
  assert.equal(OUTER_HOT.hot, L1_CACHE_WORDS);
  assert.equal(OUTER_HOT.$.align, L1_CACHE_WORDS);
  assert.equal(OUTER_HOT.$.size, 3 * L1_CACHE_WORDS);
});

test('boot objects of an aligned struct each start a cache line', () => {
  const m = KernelMemory.create(8 * PAGE_WORDS);
  m.boot_alloc(OUTER.$, 'unaligned first');
  const p = m.boot_alloc(HOT.$, 'per_cpu', 3);
  for (let i = 0; i < 3; i++) assert.equal((p + i * HOT.$.size) % L1_CACHE_WORDS, 0);
});

test('kernel memory: NULL is never handed out; boot objects are named', () => {
  const m = KernelMemory.create(8 * PAGE_WORDS);
  const p = m.boot_alloc(OUTER.$, 'the_outer');
  assert.ok(p > 0);
  assert.equal(m.describe_boot(p + OUTER.in + INNER.x), 'the_outer.in.x');
  const q = m.boot_alloc(OUTER.$, 'pair', 2);
  assert.equal(m.describe_boot(q + OUTER.$.size + 1), 'pair[1].arr[0]');
  assert.equal(m.describe_boot(0), undefined);
});

test('slab pages are page aligned and memory exhaustion returns 0', () => {
  const m = KernelMemory.create(4 * PAGE_WORDS);
  const s = m.alloc_slab_pages(1, 123);
  assert.equal(s % PAGE_WORDS, 0);
  assert.equal(m.page_cache(s + 5), 123);
  assert.equal(m.page_slab(s + 5), s);
  assert.equal(m.alloc_slab_pages(8, 123), 0);
  assert.throws(() => KernelMemory.create(1000), /multiple of a page/);
});

test('kernel memory in a reused buffer starts as a new one does: zeroed, the same boot layout', () => {
  const fresh = KernelMemory.create(8 * PAGE_WORDS);
  const sab = new SharedArrayBuffer(8 * PAGE_WORDS * 4);
  new Int32Array(sab).fill(-1);
  const reused = KernelMemory.create(8 * PAGE_WORDS, sab);
  assert.equal(reused.sab, sab);
  assert.deepEqual(reused.words, fresh.words);
  assert.equal(reused.boot_alloc(OUTER.$, 'o'), fresh.boot_alloc(OUTER.$, 'o'));
  assert.throws(() => KernelMemory.create(16 * PAGE_WORDS, sab), /too small for/);
});

test('kernel memory in a larger buffer is its first words, and a worker attaching sees as many', () => {
  const big = new SharedArrayBuffer(12 * PAGE_WORDS * 4);
  const m = KernelMemory.create(8 * PAGE_WORDS, big);
  assert.equal(m.words.length, 8 * PAGE_WORDS);
  assert.equal(m.size, 8 * PAGE_WORDS);
  assert.equal(KernelMemory.attach(big).words.length, 8 * PAGE_WORDS);
});

test('a DirtyMap restores the words marked, whole chunks of them, and only those', () => {
  const snapshot = Int32Array.from({ length: 1000 }, (_, i) => i + 1);
  const w = new Int32Array(1024);
  w.set(snapshot);
  const dirty = new DirtyMap(w.length);
  // Written and marked: a word, a range across chunks, the snapshot's last word.
  for (const [at, n] of [
    [5, 1],
    [100, 200],
    [999, 1],
  ] as const) {
    w.fill(-1, at, at + n);
    dirty.mark_range(at, n);
  }
  w[500] = -2; // written, not marked: a restore leaves it
  w[1010] = -3; // past the snapshot: the caller's to zero
  dirty.restore(w, snapshot);
  const want = Int32Array.from(w.keys(), (i) => (i < 1000 ? i + 1 : 0));
  want[500] = -2;
  want[1010] = -3;
  assert.deepEqual(w, want);
  // The marks are forgotten: a second write and restore starts afresh.
  w[5] = -4;
  dirty.restore(w, snapshot);
  assert.equal(w[5], -4);
});
