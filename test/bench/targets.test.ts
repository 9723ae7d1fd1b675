import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alone_target_met,
  DEVIATION_LIMIT,
  deviation,
  within_limit,
} from '../../src/bench/targets.js';

test('a figure is judged by its deviation from the measured one, relative to the measured', () => {
  assert.equal(deviation(125, 100), 0.25);
  assert.equal(deviation(75, 100), -0.25);
  // Relative to what it is checked against, not symmetric: 100 against 125 is -20%.
  assert.equal(deviation(100, 125), -0.2);
  assert.ok(within_limit(deviation(125, 100)) && within_limit(deviation(75, 100)));
  assert.ok(!within_limit(deviation(126, 100)) && !within_limit(deviation(74, 100)));
  assert.equal(DEVIATION_LIMIT, 0.25);
});

test('fault-vs-mprotect: per-VMA policies must stay near alone, mmap-lock must not', () => {
  assert.equal(alone_target_met('vma-rwsem', 1.5), true);
  assert.equal(alone_target_met('vma-refcnt', 1.51), false);
  assert.equal(alone_target_met('mmap-lock', 10), true);
  assert.equal(alone_target_met('mmap-lock', 9.9), false);
  assert.equal(alone_target_met('range', 3), null);
});
