/*
 * fault-vs-munmap: the outcome rule, driven with forged observations (the
 * scenario's runs are the catalogue's and the README's): each wrong
 * outcome is named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judge } from '../../../src/scenarios/races/fault_vs_munmap.js';

test('fault-vs-munmap: the outcome rule refuses a lost munmap, a stale PTE, a wrong value', () => {
  const ok = { seen: 0, unmapped_first: false, read_first: false, after: -11 };
  assert.equal(judge(ok), undefined);
  assert.equal(judge({ ...ok, seen: -11 }), undefined);
  assert.equal(judge({ ...ok, seen: -11, unmapped_first: true }), undefined);
  assert.match(judge({ ...ok, seen: 1 }) ?? '', /returned 1, not 0 or SIGSEGV/);
  assert.match(
    judge({ ...ok, unmapped_first: true }) ?? '',
    /began after the munmap returned read 0/,
  );
  assert.match(
    judge({ ...ok, seen: -11, read_first: true }) ?? '',
    /before the munmap began got -11/,
  );
  assert.match(judge({ ...ok, after: 0 }) ?? '', /still reads 0 after the munmap/);
});
