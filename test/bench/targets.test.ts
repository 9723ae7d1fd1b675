import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as targets from '../../src/bench/targets.js';
import { alone_target_met, deviation } from '../../src/bench/targets.js';

test('a figure is set beside the measured one by its deviation, relative to the measured', () => {
  assert.equal(deviation(125, 100), 0.25);
  assert.equal(deviation(75, 100), -0.25);
  // Relative to what it is checked against, not symmetric: 100 against 125 is -20%.
  assert.equal(deviation(100, 125), -0.2);
});

test('the js profile is frozen: no limit judges its predictions of native throughput', () => {
  assert.ok(!('DEVIATION_LIMIT' in targets) && !('within_limit' in targets));
});

test('fault-vs-mprotect: per-VMA policies must stay near alone, mmap-lock must not', () => {
  assert.equal(alone_target_met('vma-rwsem', 1.5), true);
  assert.equal(alone_target_met('vma-refcnt', 1.51), false);
  assert.equal(alone_target_met('mmap-lock', 10), true);
  assert.equal(alone_target_met('mmap-lock', 9.9), false);
  assert.equal(alone_target_met('range', 3), null);
});
