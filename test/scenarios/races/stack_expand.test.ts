/*
 * stack-expand: a stack grown by a fault while another fault looks its VMA
 * up stays consistent under every policy; StackRot (CVE-2023-3269), the
 * stack grown under mmap_lock held for read, frees the maple node the
 * other fault is walking.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VARIANT_STACK_EXPAND_UNDER_READ_LOCK } from '../../../src/kernel/arch/fault.js';
import { scenario } from '../../../src/scenarios/races/stack_expand.js';
import { dfs_find, test_clean } from '../scenario_helpers.js';

test_clean('stack-expand', scenario);

test('stack-expand: StackRot frees the maple node a read-locked find_vma() walks', () => {
  const r = dfs_find(scenario, 'mmap-lock', VARIANT_STACK_EXPAND_UNDER_READ_LOCK);
  assert.equal(r.bug?.class, 'use-after-free', r.bug?.message);
  assert.match(
    r.bug.message,
    /maple_node@0x[0-9a-f]+\.\S+ \(gen \d+\) by cpu1; .*freed by rcu_gp_kthread in mt_free_rcu/,
  );
  assert.equal(r.bug.preemptions, 1);
});
