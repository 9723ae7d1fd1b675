/*
 * The per-VMA lock's assertions, as Linux makes them, trip when what they
 * assert does not hold: vma_start_write() without the mmap write lock
 * (mmap_assert_write_locked(), in __is_vma_write_locked()), vma_mark_attached()
 * of a VMA that is not write-locked (vma_assert_write_locked()), vma_start_read()
 * outside RCU (RCU_LOCKDEP_WARN), an empty range unmapped (unmap_page_range()).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zap_page_range } from '../../../src/kernel/mm/memory.js';
import { mm_alloc } from '../../../src/kernel/mm/mmap.js';
import {
  mmap_write_lock,
  vma_mark_attached,
  vma_start_read,
  vma_start_write,
} from '../../../src/kernel/mm/mmap_lock.js';
import { vm_area_alloc } from '../../../src/kernel/mm/vma.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../../src/runtime/ops.js';
import { run_kernel } from '../../helpers.js';

const BASE = 1 << 29;

/* The bug `body` trips on a fresh VMA of a fresh mm, or null. */
function tripped(body: (k: KernelContext, mm: number, vma: number) => KGen): KernelBug | null {
  try {
    run_kernel(function* (k) {
      const mm = yield* call(mm_alloc(k, BASE + (1 << 18), 1 << 30, BASE));
      yield* call(body(k, mm, yield* call(vm_area_alloc(k, mm))));
    });
  } catch (e) {
    if (e instanceof KernelBug) return e;
    throw e;
  }
  return null;
}

test('vma_start_write() without the mmap write lock trips mmap_assert_write_locked()', () => {
  const bug = tripped(function* (k, _mm, vma) {
    yield* call(vma_start_write(k, vma));
  });
  assert.equal(bug?.bug_class, 'lockdep', String(bug));
  assert.match(bug!.message, /lockdep_assert_held failed: cpu0 must hold a lock for write/);
});

test('vma_mark_attached() of a VMA not write-locked trips vma_assert_write_locked()', () => {
  const bug = tripped(function* (k, mm, vma) {
    yield* call(mmap_write_lock(k, mm));
    yield* call(vma_mark_attached(k, vma));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.match(bug!.message, /vma_assert_write_locked/);
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

test('unmapping an empty range trips unmap_page_range()', () => {
  const bug = tripped(function* (k, _mm, vma) {
    yield* call(zap_page_range(k, vma, BASE + 4, BASE + 4));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.match(bug!.message, /^kernel BUG at unmap_page_range: BUG_ON\(addr >= end\)/);
});
