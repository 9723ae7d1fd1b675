/*
 * The per-VMA lock's assertions, as Linux makes them, trip when what they
 * assert does not hold: vma_start_write() without the mmap write lock
 * (mmap_assert_write_locked(), in __is_vma_write_locked()), vma_mark_attached()
 * of a VMA that is not write-locked (vma_assert_write_locked()), attaching an
 * attached VMA or freeing one (vma_assert_detached()), detaching a detached
 * one (vma_assert_attached()), mmap_write_unlock() without the write lock
 * (vma_end_write_all()), vma_start_read() outside RCU (RCU_LOCKDEP_WARN) and a
 * file fault without the lock its flags name (assert_fault_locked()), an empty
 * range unmapped (unmap_page_range()).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  FAULT_FLAG_VMA_LOCK,
  handle_mm_fault,
  zap_page_range,
} from '../../../src/kernel/mm/memory.js';
import { VM_AREA_STRUCT as V, VM_OPS_FILE } from '../../../src/kernel/mm/mm_types.js';
import {
  mmap_read_lock,
  mmap_write_lock,
  mmap_write_unlock,
  vma_assert_locked,
  vma_end_read,
  vma_mark_attached,
  vma_mark_detached,
  vma_start_read,
  vma_start_write,
} from '../../../src/kernel/mm/mmap_lock.js';
import { remove_vma } from '../../../src/kernel/mm/vma.js';
import { call, type KernelContext, type KGen } from '../../../src/runtime/ops.js';
import { BASE, tripped } from './tripped.js';

test('vma_start_write() without the mmap write lock trips mmap_assert_write_locked()', () => {
  const bug = tripped(function* (k, _mm, vma) {
    yield* call(vma_start_write(k, vma));
  });
  assert.equal(bug?.bug_class, 'lockdep', String(bug));
  assert.match(
    bug!.message,
    /lockdep_assert_held failed: cpu0 must hold mm->mmap_lock for write and does not hold it/,
  );
});

test('vma_mark_attached() of a VMA not write-locked trips vma_assert_write_locked()', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* call(mmap_write_lock(k, mm));
    yield* call(vma_mark_attached(k, vma));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.match(bug!.message, /vma_assert_write_locked/);
});

/* An attached VMA of `mm`, as vma_link() leaves it, with the mmap write lock still held. */
function* attached(k: KernelContext, mm: number, vma: number): KGen {
  yield* call(mmap_write_lock(k, mm));
  yield* call(vma_start_write(k, vma));
  yield* call(vma_mark_attached(k, vma));
}

test('vma_mark_attached() of a VMA not write-locked under the mmap read lock trips mmap_assert_write_locked()', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* call(mmap_read_lock(k, mm));
    yield* call(vma_mark_attached(k, vma));
  });
  assert.equal(bug?.bug_class, 'lockdep', String(bug));
  assert.match(bug!.message, /must hold mm->mmap_lock for write and holds it for read/);
});

test('vma_mark_attached() of an attached VMA trips vma_assert_detached()', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* attached(k, mm, vma);
    yield* call(vma_mark_attached(k, vma));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.match(
    bug!.message,
    /^WARNING: WARN_ON_ONCE\(refcount_read\(&vma->vm_refcnt\)\) in vma_assert_detached\(\)/,
  );
});

test('vma_mark_detached() of a detached VMA trips vma_assert_attached()', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* attached(k, mm, vma);
    yield* call(vma_mark_detached(k, vma));
    yield* call(vma_mark_detached(k, vma));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.match(
    bug!.message,
    /WARN_ON_ONCE\(!refcount_read\(&vma->vm_refcnt\)\) in vma_assert_attached\(\)/,
  );
});

test('freeing an attached VMA trips vma_assert_detached() in vm_area_free()', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* attached(k, mm, vma);
    yield* call(remove_vma(k, vma));
  });
  assert.match(bug?.message ?? '', /in vma_assert_detached\(\)/, String(bug));
});

test('mmap_write_unlock() under the mmap read lock trips vma_end_write_all()', () => {
  const bug = tripped(function* (k, mm) {
    yield* call(mmap_read_lock(k, mm));
    yield* call(mmap_write_unlock(k, mm));
  });
  assert.equal(bug?.bug_class, 'lockdep', String(bug));
  assert.match(bug!.message, /must hold mm->mmap_lock for write and holds it for read/);
});

test('vma_start_read() outside an RCU read section trips RCU_LOCKDEP_WARN()', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* call(vma_start_read(k, mm, vma));
  });
  assert.equal(bug?.bug_class, 'rcu', String(bug));
  assert.match(
    bug!.message,
    /^WARNING: suspicious RCU usage: no rcu lock held, in vma_start_read\(\)/,
  );
});

test('vma_assert_locked() of an attached VMA neither read- nor write-locked trips', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* attached(k, mm, vma);
    yield* call(mmap_write_unlock(k, mm));
    yield* call(mmap_write_lock(k, mm));
    yield* call(vma_assert_locked(k, vma));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.match(bug!.message, /vma_assert_locked: VM_BUG_ON_VMA\(refcount_read/);
});

test('vma_assert_locked() holds for a read-locked VMA and a write-locked one', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* attached(k, mm, vma);
    yield* call(vma_assert_locked(k, vma));
    yield* call(mmap_write_unlock(k, mm));
    yield k.rcu_read_lock();
    assert.equal(yield* call(vma_start_read(k, mm, vma)), vma);
    yield k.rcu_read_unlock();
    yield* call(vma_assert_locked(k, vma));
    yield* call(vma_end_read(k, vma));
  });
  assert.equal(bug, null);
});

/* A file fault at the start of a fresh file VMA, the fault's flags `flags`, with no lock held. */
function* file_fault(k: KernelContext, vma: number, flags: number): KGen {
  yield k.store(vma + V.vm_file, 1);
  yield k.store(vma + V.vm_ops, VM_OPS_FILE);
  yield* call(handle_mm_fault(k, vma, BASE, flags));
}

test('a file fault without the mmap lock trips assert_fault_locked() (mmap_assert_locked())', () => {
  const bug = tripped(function* (k, _mm, vma) {
    yield* file_fault(k, vma, 0);
  });
  assert.equal(bug?.bug_class, 'lockdep', String(bug));
  assert.match(
    bug!.message,
    /lockdep_assert_held failed: cpu0 must hold mm->mmap_lock and does not hold it/,
  );
});

test('a file fault under FAULT_FLAG_VMA_LOCK without the VMA lock trips assert_fault_locked() (vma_assert_locked())', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* attached(k, mm, vma);
    yield* call(mmap_write_unlock(k, mm));
    yield* call(mmap_write_lock(k, mm));
    yield* file_fault(k, vma, FAULT_FLAG_VMA_LOCK);
  });
  assert.match(bug?.message ?? '', /vma_assert_locked: VM_BUG_ON_VMA/, String(bug));
});

test('unmapping an empty range trips unmap_page_range()', () => {
  const bug = tripped(function* (k, _mm, vma) {
    yield* call(zap_page_range(k, vma, BASE + 4, BASE + 4));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.match(bug!.message, /^kernel BUG at unmap_page_range: BUG_ON\(addr >= end\)/);
});
