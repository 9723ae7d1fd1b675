/*
 * Every listed scenario's defaults suit the explorer: the fixed kernel
 * explores clean with them under every policy (no schedule runs into the
 * step limit), and what only a native run can take is refused there. Each
 * parameter and variant is documented, for `mmlab check --list`.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { make_config } from '../../src/check/kernel.js';
import { POLICIES } from '../../src/kernel/mm/policy.js';
import { check_explorable, native_params, type Scenario } from '../../src/runtime/scenario.js';
import { SCENARIOS } from '../../src/scenarios/index.js';
import { scenario as mm_stress } from '../../src/scenarios/races/mm_stress.js';
import { scenario as fault_vs_mprotect } from '../../src/scenarios/workloads/fault_vs_mprotect.js';
import { explore_random } from './scenario_helpers.js';

/* Enough schedules to meet a schedule the defaults cannot finish, few enough for a slow machine. */
const SCHEDULES = 50;

for (const s of SCENARIOS.values()) {
  test(`${s.name}: its defaults explore clean under every policy`, () => {
    for (const policy of POLICIES) {
      const r = explore_random(s, { policy }, SCHEDULES);
      assert.equal(r.bug, null, `${policy}: ${r.bug?.class}: ${r.bug?.message}`);
      assert.equal(r.schedules, SCHEDULES);
    }
  });

  test(`${s.name}: every parameter and variant has its one line`, () => {
    for (const key of Object.keys(s.params))
      assert.ok(s.param_docs?.[key]?.doc, `parameter ${key} has no doc`);
    for (const v of s.variants) assert.ok(s.variant_docs?.[v], `variant ${v} has no doc`);
  });
}

test('a native run keeps the sizes the explorer cannot afford', () => {
  const native = (s: Scenario, params: Record<string, number> = {}) =>
    make_config(s, { params: { ...native_params(s), ...params } }).params;
  assert.deepEqual(native(fault_vs_mprotect), {
    big_pages: 32768,
    pages: 4096,
    writer: 1,
    mprotects: 0,
  });
  assert.deepEqual(native(mm_stress, { seed: 3 }), {
    iters: 20,
    seed: 3,
  });
});

test('values only a native run can take are refused for the explorer', () => {
  assert.throws(
    () => check_explorable(mm_stress, { iters: 0 }),
    /^Error: --param iters=0 runs until stopped: natively only \(mmlab stress\)$/,
  );
  assert.throws(() => check_explorable(fault_vs_mprotect, { mprotects: 0 }), /natively only/);
  check_explorable(mm_stress, { iters: 1 });
  for (const s of SCENARIOS.values()) check_explorable(s, s.params);
});
