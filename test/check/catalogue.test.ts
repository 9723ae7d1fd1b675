/*
 * The catalogue, the explorer's acceptance test: every seed variant is
 * found where the catalogue says, and the fixed kernel stays clean on the
 * same budget.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CATALOGUE, run_catalogue } from '../../src/check/catalogue.js';
import { SEED_VARIANTS } from '../../src/scenarios/common.js';

test('the catalogue has every seed variant', () => {
  assert.deepEqual(
    CATALOGUE.map((c) => c.variant),
    [...SEED_VARIANTS],
  );
});

test('every seed bug is found, with the class its review describes, and every fix holds', () => {
  // The catalogue's own budget: seed 001 takes 8,792 DFS schedules since fault-vs-munmap records the order its CPUs saw.
  const cat = run_catalogue({ seeds: 1, schedules: 10_000, time_ms: 15_000 });
  const expect: Record<string, RegExp> = {
    '000': /use-after-free/,
    '001': /use-after-free|wakeup/,
    '002': /data-race|mm-invariant|use-after-free|BUG/,
    '003': /lockdep|BUG/,
    '004': /BUG/,
  };
  for (const e of cat.entries) {
    assert.equal(e.found, true, `${e.variant} not found`);
    assert.equal(e.found_seeds, 1);
    assert.match(e.class!, expect[e.seed_doc]!, `${e.variant}: ${e.class}`);
    assert.ok(e.replay?.startsWith(`m1:${e.scenario}:`));
    assert.equal(e.fixed_clean, true, `${e.variant}: the fixed kernel failed`);
    // At least what finding it took, or the whole search within the bound.
    assert.ok(e.fixed_schedules >= e.worst_schedules || e.fixed_proved_bound === 3);
  }
  assert.ok(cat.schedules_per_s > 0);
});
