import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RW_SEMAPHORE } from '../../../src/kernel/locking/rwsem.js';
import { MM_STRUCT, PAGE, VM_AREA_STRUCT as V } from '../../../src/kernel/mm/mm_types.js';
import { L1_CACHE_WORDS } from '../../../src/runtime/layout.js';

/* The cache line of a field's offset in an object that starts a line. */
const line = (offset: number): number => Math.floor(offset / L1_CACHE_WORDS);

test('the per-VMA lock shares no cache line with the fields a fault reads', () => {
  assert.equal(V.$.align, L1_CACHE_WORDS);
  // detached: lock_vma_under_rcu() reads it after the 2023 lock is taken; 6.13's
  // mm_types.h keeps it on the first line, beside vm_lock_seq.
  const read = [V.vm_start, V.vm_end, V.vm_mm, V.vm_flags, V.detached, V.vm_lock_seq];
  read.push(V.vm_pgoff, V.vm_file);
  const read_lines = new Set([...read, V.vm_ops, V.anon_vma].map(line));
  for (const lock of [V.vm_refcnt, V.vm_lock + RW_SEMAPHORE.count, V.vm_lock + RW_SEMAPHORE.owner])
    assert.equal(read_lines.has(line(lock)), false, `word ${lock} of the lock`);
});

test("mmap_lock's count shares no line with the VMA index, the page directory or mm_lock_seq", () => {
  assert.equal(MM_STRUCT.$.align, L1_CACHE_WORDS);
  const count = line(MM_STRUCT.mmap_lock + RW_SEMAPHORE.count);
  for (const f of [MM_STRUCT.mm_mt, MM_STRUCT.pgd, MM_STRUCT.mm_lock_seq])
    assert.notEqual(line(f), count);
});

test('struct page is one cache line, as the memmap has it', () => {
  assert.equal(PAGE.$.size, L1_CACHE_WORDS);
  assert.equal(PAGE.$.align, L1_CACHE_WORDS);
});
