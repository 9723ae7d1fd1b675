/*
 * maps-race: /proc/PID/maps read one line a read() while a MAP_FIXED mmap
 * splits or merges the VMA after the first. The outcome rule is exact (each
 * line the next VMA of the address space before or after the mmap, never
 * back); the fixed kernel keeps it under every policy, and an mmap that
 * unmaps before it maps (the variant) shows a VMA past a gap.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAPS_EXEC, MAPS_READ } from '../../../src/kernel/fs/proc/task_mmu.js';
import { VARIANT_MAP_FIXED_GAP } from '../../../src/kernel/mm/mmap.js';
import {
  judge_maps,
  type MapsLine,
  OP_MERGE,
  OP_SHRINK,
  OP_SPLIT,
  scenario,
  states,
} from '../../../src/scenarios/races/maps_race.js';
import { dfs_find, test_clean } from '../scenario_helpers.js';

test_clean('maps-race (merge)', scenario, { params: { op: OP_MERGE } });
test_clean('maps-race (split)', scenario, { params: { op: OP_SPLIT } });
test_clean('maps-race (shrink)', scenario, { params: { op: OP_SHRINK } });
test_clean('maps-race (split, the whole file in one read())', scenario, {
  params: { op: OP_SPLIT, lines: 0 },
});

test('maps-race: the outcome rule takes each state, and a merged VMA met again', () => {
  const [split, whole] = states(OP_MERGE);
  assert.equal(judge_maps(split, [split, whole]), undefined);
  assert.equal(judge_maps(whole, [split, whole]), undefined);
  // A0 shown before the merge, then the merged VMA found from A0's end.
  assert.equal(judge_maps([split[0]!, split[1]!, whole[1]!], [split, whole]), undefined);
});

test('maps-race: the outcome rule refuses a gap, a torn VMA, a step back and an early end', () => {
  const [split, whole] = states(OP_MERGE);
  const [p, a0, a1] = split as [MapsLine, MapsLine, MapsLine];
  assert.match(judge_maps([p, a1], [split, whole])!, /^line 2 is .* where the VMA after/);
  const torn: MapsLine = [a0[0], a1[1], MAPS_READ | MAPS_EXEC];
  assert.match(judge_maps([p, torn], [split, whole])!, /^line 2 is /);
  // The merged VMA (after) and then A1 (before) again: time does not run back.
  assert.match(judge_maps([p, whole[1]!, a1], [split, whole])!, /^line 3 is /);
  assert.match(judge_maps([p], [split, whole])!, /^the file ended after 1 lines/);
});

test('maps-race: an mmap that unmaps before it maps shows the reader a gap', () => {
  const r = dfs_find(scenario, 'vma-refcnt', VARIANT_MAP_FIXED_GAP, { op: OP_MERGE });
  assert.equal(r.bug?.class, 'outcome', r.bug?.message);
  assert.match(
    r.bug.message,
    /^maps-race: line 2 is 0x[0-9a-f]+-0x[0-9a-f]+ r--p, where the VMA after/,
  );
  // With the mmap lock held across the pass the gap never shows.
  assert.equal(dfs_find(scenario, 'mmap-lock', VARIANT_MAP_FIXED_GAP, { op: OP_MERGE }).bug, null);
});
