/*
 * Every primitive, contended: explored over at least 10,000 schedules with
 * its invariants checked at every step, and stressed natively on worker
 * threads with exact outcomes. One lock-selftest case selects each.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { make_config, run_native } from '../../../src/check/kernel.js';
import {
  CASE_COMPLETION,
  CASE_RANGE,
  CASE_RCU,
  CASE_RCUWAIT,
  CASE_RWSEM,
  CASE_SEQCOUNT,
  CASE_SPINLOCK,
  scenario as selftest,
} from '../../../src/scenarios/races/lock_selftest.js';
import { explore } from '../../helpers.js';

const CASES: [string, number][] = [
  ['spinlock', CASE_SPINLOCK],
  ['rw_semaphore', CASE_RWSEM],
  ['seqcount', CASE_SEQCOUNT],
  ['RCU with refcount_t, call_rcu and synchronize_rcu', CASE_RCU],
  ['completion', CASE_COMPLETION],
  ['rcuwait', CASE_RCUWAIT],
  ['range lock', CASE_RANGE],
];

for (const [name, cases] of CASES) {
  describe(name, () => {
    test('explored: 10,000 schedules on 2 CPUs keep every invariant', () => {
      const r = explore(selftest, { params: { cases, iters: 2 } }, 10_000);
      assert.equal(r.bug, null, r.bug ? `${r.bug.class}: ${r.bug.message}\n${r.bug.table}` : '');
      assert.equal(r.schedules, 10_000);
    });

    test('explored on 3 CPUs', () => {
      const r = explore(selftest, { cpus: 3, params: { cases, iters: 1 } }, 2_000, 7);
      assert.equal(r.bug, null, r.bug ? `${r.bug.class}: ${r.bug.message}\n${r.bug.table}` : '');
    });

    test('stressed natively on 2 worker threads: counts come out exact', async () => {
      const r = await run_native(
        selftest,
        make_config(selftest, { params: { cases, iters: 3000 } }),
        { watchdog_ms: 20_000 },
      );
      assert.equal(r.bug, null, r.bug ? `${r.bug.class}: ${r.bug.message}` : '');
      // Every iteration takes at least one access on each CPU (an rcuwait
      // reader that finds the writer's flag takes exactly one).
      assert.ok(r.steps[0]! >= 3000 && r.steps[1]! >= 3000, `both CPUs ran: ${r.steps}`);
    });
  });
}

test('all primitives together, natively on 3 worker threads', async () => {
  const r = await run_native(selftest, make_config(selftest, { cpus: 3, params: { iters: 2000 } }));
  assert.equal(r.bug, null, r.bug ? `${r.bug.class}: ${r.bug.message}` : '');
});
