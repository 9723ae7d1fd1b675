/*
 * fault-vs-mremap: a write that races a move or a growth of its VMA lands
 * at the VMA's new address or gets SIGSEGV, under every policy and mremap
 * mode. No seed variant applies.
 */
import {
  MODE_GROW,
  MODE_GROW_MOVE,
  MODE_MOVE,
  scenario,
} from '../../../src/scenarios/races/fault_vs_mremap.js';
import { test_clean } from '../scenario_helpers.js';

for (const [name, mode] of [
  ['move', MODE_MOVE],
  ['grow', MODE_GROW],
  ['grow and move', MODE_GROW_MOVE],
] as const) {
  test_clean(`fault-vs-mremap, ${name}`, scenario, { params: { mode } });
}
