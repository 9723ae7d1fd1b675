/*
 * gup-fast-vs-fork: the pinned page stays the parent's under every policy;
 * without write_protect_seq (seed 004) GUP-fast pins a page fork shares,
 * and DFS finds it at one preemption, in four schedules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VARIANT_GUP_FAST_WITHOUT_WP_SEQ } from '../../../src/kernel/fork.js';
import { POLICIES } from '../../../src/kernel/mm/policy.js';
import { AFTER, BEFORE, judge, scenario } from '../../../src/scenarios/races/gup_fast_vs_fork.js';
import { dfs_find, test_clean } from '../scenario_helpers.js';

test_clean('gup-fast-vs-fork', scenario);

test('gup-fast-vs-fork: seed 004 found under every policy', () => {
  for (const policy of POLICIES) {
    const r = dfs_find(scenario, policy, VARIANT_GUP_FAST_WITHOUT_WP_SEQ);
    assert.equal(r.bug?.class, 'outcome', `${policy}: ${r.bug?.message}`);
    assert.match(r.bug.message, /the pinned page stopped being the parent's/);
  }
});

test('gup-fast-vs-fork: the outcome rule refuses no pin, a pinned page nobody maps, a child that shares the parent write', () => {
  const ok = { pinned: AFTER, parent: AFTER, child: BEFORE };
  assert.equal(judge(ok), undefined);
  assert.match(judge({ ...ok, pinned: -1 }) ?? '', /pinned nothing/);
  assert.match(judge({ ...ok, pinned: BEFORE }) ?? '', /holds 0x1, not the parent's 0x5eed/);
  assert.match(judge({ ...ok, parent: BEFORE }) ?? '', /the parent reads 0x1 after writing 0x5eed/);
  assert.match(judge({ ...ok, child: AFTER }) ?? '', /the child reads 0x5eed, not 0x1/);
});
