/*
 * detach-vs-reader: a fault that holds a VMA's read lock while a merge
 * removes that VMA reads 0 and the mm ends with the merged VMA, under
 * every policy, for a merge by mprotect and one by mmap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  judge,
  MODE_MMAP,
  MODE_MPROTECT,
  scenario,
  WRITTEN,
} from '../../../src/scenarios/races/detach_vs_reader.js';
import { test_clean } from '../scenario_helpers.js';

for (const [name, mode] of [
  ['mprotect', MODE_MPROTECT],
  ['mmap', MODE_MMAP],
] as const) {
  test_clean(`detach-vs-reader, ${name}`, scenario, { params: { mode } });
}

test('detach-vs-reader: the outcome rule refuses a wrong read, a lost page, a wrong merge', () => {
  const P = (1 << 29) + 16;
  const ok = { mode: MODE_MPROTECT, seen: 0, start: P, end: P + 4, kept: WRITTEN, reread: 0 };
  assert.equal(judge(ok), undefined);
  assert.match(judge({ ...ok, seen: -11 }) ?? '', /returned -11, not 0/);
  assert.match(judge({ ...ok, seen: WRITTEN }) ?? '', /returned 55201, not 0/);
  assert.match(judge({ ...ok, end: P + 2 }) ?? '', /spans/);
  assert.match(judge({ ...ok, kept: 0 }) ?? '', /P's first page holds 0 after the merge/);
  assert.match(judge({ ...ok, reread: -11 }) ?? '', /reads -11 through the merged VMA/);
});
