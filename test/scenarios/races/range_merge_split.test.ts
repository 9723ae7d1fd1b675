/*
 * range-merge-split: concurrent splits and merges leave the right VMAs and
 * a well-formed index under every policy, for disjoint and neighbouring
 * ranges; without the VMA index's own lock (seed 002) the range policy
 * corrupts it at one preemption. Splits and merges are long (a schedule
 * is about 700 steps before the epilogue's validate_mm()), so the DFS at
 * bound 1 is capped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK } from '../../../src/kernel/mm/maple_tree.js';
import {
  judge,
  LAYOUT_DISJOINT,
  LAYOUT_NEIGHBOURS,
  scenario,
} from '../../../src/scenarios/races/range_merge_split.js';
import { dfs_find, test_clean } from '../scenario_helpers.js';

for (const [name, layout] of [
  ['disjoint', LAYOUT_DISJOINT],
  ['neighbours', LAYOUT_NEIGHBOURS],
] as const) {
  test_clean(`range-merge-split, ${name}`, scenario, {
    params: { layout },
    schedules: 150,
    dfs_schedules: 300,
  });
}

test('range-merge-split: seed 002 corrupts the VMA index of disjoint writers', () => {
  const r = dfs_find(scenario, 'range', VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK, {
    layout: LAYOUT_DISJOINT,
  });
  assert.ok(r.bug, 'found');
  assert.ok(
    ['use-after-free', 'double-free', 'data-race', 'mm-invariant', 'outcome'].includes(r.bug.class),
    `${r.bug.class}: ${r.bug.message}`,
  );
  assert.match(r.bug.message, /maple_node|validate_mm|range-merge-split/);
});

test('range-merge-split: the outcome rule refuses a lost VMA and a wrong protection', () => {
  const X = (1 << 29) + 16;
  const rw = 3; // VM_READ | VM_WRITE
  const entries = [
    [X, X + 1, rw],
    [X + 1, X + 2, 1],
    [X + 2, X + 8, rw],
  ] as const;
  assert.equal(judge({ layout: LAYOUT_NEIGHBOURS, nr: 3, entries }), undefined);
  const lost = judge({ layout: LAYOUT_NEIGHBOURS, nr: 2, entries: entries.slice(0, 2) });
  assert.match(lost ?? '', /ends with 2 VMAs/);
  const prot = judge({
    layout: LAYOUT_NEIGHBOURS,
    nr: 3,
    entries: [entries[0], [X + 1, X + 2, rw], entries[2]],
  });
  assert.match(prot ?? '', /ends with 3 VMAs \[.*, 536870929-536870930 rw, .*\], not/);
});
