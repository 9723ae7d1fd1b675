/*
 * detach-vs-reader: a fault that holds a VMA's read lock while a merge
 * removes that VMA reads 0 and the mm ends with the merged VMA, under
 * every policy, for a merge by mprotect and one by mmap.
 */
import {
  MODE_MMAP,
  MODE_MPROTECT,
  scenario,
} from '../../../src/scenarios/races/detach_vs_reader.js';
import { test_clean } from '../scenario_helpers.js';

for (const [name, mode] of [
  ['mprotect', MODE_MPROTECT],
  ['mmap', MODE_MMAP],
] as const) {
  test_clean(`detach-vs-reader, ${name}`, scenario, { params: { mode } });
}
