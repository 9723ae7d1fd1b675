/*
 * The reverse map's lock rules, as mm/rmap.c asserts them: an anon_vma is
 * prepared under the mmap lock (the neighbours it may share one with are
 * stable only there; a fault under the VMA lock alone must take it or
 * retry), cloned under the mmap write lock, unlinked under the mmap lock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_FLAG_WRITE, handle_mm_fault } from '../../../src/kernel/mm/memory.js';
import { VM_AREA_STRUCT as V } from '../../../src/kernel/mm/mm_types.js';
import { mmap_read_lock, mmap_read_unlock } from '../../../src/kernel/mm/mmap_lock.js';
import { anon_vma_clone } from '../../../src/kernel/mm/rmap.js';
import { remove_vma } from '../../../src/kernel/mm/vma.js';
import { call } from '../../../src/runtime/ops.js';
import { ANON, anon_vma_of, tripped } from './tripped.js';

const NOT_HELD = 'lockdep_assert_held failed: cpu0 must hold mm->mmap_lock and does not hold it';

test('a write fault on a fresh anonymous VMA without the mmap lock trips mmap_assert_locked() in __anon_vma_prepare()', () => {
  const bug = tripped(function* (k, mm) {
    const vma = yield* call(anon_vma_of(k, mm, false));
    yield* call(handle_mm_fault(k, vma, ANON, FAULT_FLAG_WRITE));
  });
  assert.equal(bug?.bug_class, 'lockdep', String(bug));
  assert.equal(bug!.message, NOT_HELD);
});

test('the same fault under the mmap read lock prepares the anon_vma', () => {
  const bug = tripped(function* (k, mm) {
    const vma = yield* call(anon_vma_of(k, mm, false));
    yield* call(mmap_read_lock(k, mm));
    assert.equal(yield* call(handle_mm_fault(k, vma, ANON, FAULT_FLAG_WRITE)), 0);
    assert.notEqual(yield k.load(vma + V.anon_vma), 0);
    yield* call(mmap_read_unlock(k, mm));
  });
  assert.equal(bug, null);
});

test('anon_vma_clone() under the mmap read lock trips mmap_assert_write_locked() (check_anon_vma_clone())', () => {
  const bug = tripped(function* (k, mm, fresh) {
    const vma = yield* call(anon_vma_of(k, mm, true));
    yield* call(mmap_read_lock(k, mm));
    yield* call(anon_vma_clone(k, fresh, vma));
  });
  assert.equal(bug?.bug_class, 'lockdep', String(bug));
  assert.equal(
    bug!.message,
    'lockdep_assert_held failed: cpu0 must hold mm->mmap_lock for write and holds it for read',
  );
});

test('freeing a VMA without the mmap lock trips mmap_assert_locked() in unlink_anon_vmas()', () => {
  const bug = tripped(function* (k, _mm, fresh) {
    yield* call(remove_vma(k, fresh));
  });
  assert.equal(bug?.message, NOT_HELD, String(bug));
});
