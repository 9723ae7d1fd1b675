/*
 * fork's assertion: copy_page_range() write-protects a COW VMA's PTEs only
 * under that VMA's write lock (vma_assert_write_locked(src_vma)), so that
 * no fault under the VMA lock makes one writable again meanwhile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { copy_page_range } from '../../src/kernel/fork.js';
import { mmap_write_lock } from '../../src/kernel/mm/mmap_lock.js';
import { call } from '../../src/runtime/ops.js';
import { anon_vma_of, tripped } from './mm/tripped.js';

test('copy_page_range() of a COW VMA that is not write-locked trips vma_assert_write_locked(src_vma)', () => {
  const bug = tripped(function* (k, mm, child) {
    const parent = yield* call(anon_vma_of(k, mm, true));
    yield* call(mmap_write_lock(k, mm));
    yield* call(copy_page_range(k, child, parent));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.equal(
    bug!.message,
    'kernel BUG at vma_assert_write_locked: VM_BUG_ON_VMA(!__is_vma_write_locked(vma)) (cpu 0)',
  );
});
