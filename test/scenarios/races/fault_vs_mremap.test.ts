/*
 * fault-vs-mremap: a write that races a move or a growth of its VMA lands
 * at the VMA's new address or gets SIGSEGV, under every policy and mremap
 * mode. No seed variant applies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  judge,
  KEPT,
  MODE_GROW,
  MODE_GROW_MOVE,
  MODE_MOVE,
  scenario,
  VALUE,
} from '../../../src/scenarios/races/fault_vs_mremap.js';
import { test_clean } from '../scenario_helpers.js';

for (const [name, mode] of [
  ['move', MODE_MOVE],
  ['grow', MODE_GROW],
  ['grow and move', MODE_GROW_MOVE],
] as const) {
  test_clean(`fault-vs-mremap, ${name}`, scenario, { params: { mode } });
}

test('fault-vs-mremap: the outcome rule refuses a lost write, and a result the order forbids', () => {
  const ok = {
    mode: MODE_MOVE,
    moved_to: (1 << 29) + 64,
    wrote: 0,
    at_new: VALUE,
    kept: KEPT,
    at_old: -11,
    remapped_first: false,
    wrote_first: false,
  };
  assert.equal(judge(ok), undefined);
  assert.equal(judge({ ...ok, wrote: -11, at_new: 0, remapped_first: true }), undefined);
  assert.match(judge({ ...ok, at_new: 0 }) ?? '', /the new address holds 0, not 23130/);
  assert.match(judge({ ...ok, remapped_first: true }) ?? '', /the write returned 0, not -11/);
  assert.match(
    judge({ ...ok, wrote: -11, at_new: 0, wrote_first: true }) ?? '',
    /returned -11, not 0/,
  );
  const grow = { ...ok, mode: MODE_GROW, moved_to: (1 << 29) + 16, at_old: VALUE };
  assert.equal(judge(grow), undefined);
  assert.match(judge({ ...grow, wrote: -11, at_new: 0 }) ?? '', /the write returned -11, not 0/);
  assert.match(judge({ ...ok, kept: 0 }) ?? '', /the prologue's page holds 0/);
  assert.match(judge({ ...ok, at_old: VALUE }) ?? '', /the old address still reads/);
  assert.match(
    judge({ ...ok, mode: MODE_GROW_MOVE, moved_to: (1 << 29) + 16 }) ?? '',
    /grew in place/,
  );
});
