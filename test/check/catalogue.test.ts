/*
 * The catalogue, the explorer's acceptance test: every seed variant and
 * every historical one the strategies reach is found where the catalogue
 * says, and the fixed kernel stays clean on the same budget.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CATALOGUE, type CatalogueEntry, run_catalogue } from '../../src/check/catalogue.js';
import { SEED_VARIANTS } from '../../src/scenarios/common.js';
import { HISTORICAL_VARIANTS } from '../../src/scenarios/historical.js';

test('the catalogue has every seed variant and every historical one', () => {
  assert.deepEqual(
    CATALOGUE.map((c) => c.variant),
    [...SEED_VARIANTS, ...HISTORICAL_VARIANTS],
  );
});

/* Each entry found on its one seed, with the class `expect` says, and its fix clean. */
function assert_found_and_fixed(entries: readonly CatalogueEntry[], expect: RegExp[]): void {
  assert.equal(entries.length, expect.length);
  entries.forEach((e, i) => {
    assert.equal(e.found, true, `${e.variant} not found`);
    assert.equal(e.found_seeds, 1);
    assert.match(e.class!, expect[i]!, `${e.variant}: ${e.class}`);
    assert.ok(e.replay?.startsWith(`m1:${e.scenario}:`));
    assert.equal(e.fixed_clean, true, `${e.variant}: the fixed kernel failed`);
    // At least what finding it took, or the whole search within the bound.
    assert.ok(e.fixed_schedules >= e.worst_schedules || e.fixed_proved_bound === 3);
  });
}

test('every seed bug is found, with the class its review describes, and every fix holds', () => {
  // The catalogue's own budget: seed 001 takes 8,536 DFS schedules.
  const cat = run_catalogue({
    seeds: 1,
    schedules: 10_000,
    time_ms: 15_000,
    variants: SEED_VARIANTS,
  });
  assert_found_and_fixed(cat.entries, [
    /use-after-free/,
    /use-after-free|wakeup/,
    /data-race|mm-invariant|use-after-free|BUG/,
    /lockdep|BUG/,
    /BUG/,
  ]);
  assert.ok(cat.schedules_per_s > 0);
});

test('every historical bug is found as the bug it was, and every fix holds', () => {
  // 9bbffee67ffd's entry raises its own budget to what its search needs (10,000 schedules).
  const cat = run_catalogue({
    seeds: 1,
    schedules: 2_000,
    time_ms: 15_000,
    variants: HISTORICAL_VARIANTS,
  });
  assert.deepEqual(
    cat.entries.map((e) => e.fix),
    [
      'CVE-2023-3269 (StackRot)',
      '9bbffee67ffd (mmgrab() before the put)',
      'mm/mmap_lock: reset maple state on lock_vma_under_rcu() retry',
      "syzbot's userfaultfd move_pages() lockdep report",
      'f8d112a4e657 (Avoid MAP_FIXED gap exposure)',
    ],
  );
  assert_found_and_fixed(cat.entries, [
    /use-after-free/,
    /use-after-free/,
    /use-after-free/,
    /lockdep/,
    /outcome/,
  ]);
  // 9bbffee67ffd's four preemptions, by the strategy aimed at one word.
  const mmgrab = cat.entries[1]!;
  assert.equal(mmgrab.strategy, 'word d=5');
  assert.ok(mmgrab.preemptions! >= 4, `${mmgrab.preemptions} preemptions`);
});
