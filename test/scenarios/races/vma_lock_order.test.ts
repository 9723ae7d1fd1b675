/*
 * vma-lock-order: a fault that needs an anon_vma under the VMA lock only
 * tries mmap_lock, under every policy; blocking on it (the order of
 * syzbot's userfaultfd move_pages() report) is a VMA lock -> mmap_lock
 * dependency against every writer, which lockdep reports.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VARIANT_VMA_LOCK_THEN_MMAP_LOCK } from '../../../src/kernel/mm/memory.js';
import { scenario } from '../../../src/scenarios/races/vma_lock_order.js';
import { dfs_find, test_clean } from '../scenario_helpers.js';

test_clean('vma-lock-order', scenario);

test('vma-lock-order: mmap_read_lock() under the VMA lock is a lock-order inversion', () => {
  const r = dfs_find(scenario, 'vma-refcnt', VARIANT_VMA_LOCK_THEN_MMAP_LOCK);
  assert.equal(r.bug?.class, 'lockdep', r.bug?.message);
  assert.match(r.bug.message, /circular locking dependency.*vma->vm_lock -> mm->mmap_lock/);
});
