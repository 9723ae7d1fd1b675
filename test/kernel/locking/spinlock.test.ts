import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config, run_timing } from '../../../src/check/kernel.js';
import { decode_replay } from '../../../src/check/replay.js';
import { VARIANT_BROKEN_SPINLOCK } from '../../../src/kernel/locking/spinlock.js';
import { PROFILES } from '../../../src/runtime/executors/timing_costs.js';
import { CASE_SPINLOCK, scenario as selftest } from '../../../src/scenarios/races/lock_selftest.js';
import { explore } from '../../helpers.js';

test('a spinlock whose acquire is a load then a store is caught, for every seed', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const r = explore(selftest, { variant: VARIANT_BROKEN_SPINLOCK }, 10_000, seed);
    assert.ok(r.bug, `seed ${seed}: found`);
    assert.ok(
      // Two CPUs inside one critical section also race on what it protects (KCSAN).
      ['exclusion', 'BUG', 'outcome', 'data-race'].includes(r.bug.class),
      `seed ${seed}: ${r.bug.class}: ${r.bug.message}`,
    );
  }
});

test('its replay string reproduces the same failure bit for bit', () => {
  const r = explore(selftest, { variant: VARIANT_BROKEN_SPINLOCK }, 10_000, 3);
  assert.ok(r.bug);
  const rec = decode_replay(r.bug.replay);
  assert.equal(rec.scenario, 'lock-selftest');
  assert.equal(rec.variant, VARIANT_BROKEN_SPINLOCK);
  // A fresh explorer, as `mmlab replay` would build from the string alone.
  const fresh = new Explorer(
    selftest,
    make_config(selftest, { cpus: rec.cpus, variant: rec.variant, params: rec.params }),
  );
  const { outcome } = fresh.trace(rec.choices, rec.hash);
  assert.equal(outcome.bug?.bug_class, r.bug.class);
  assert.equal(outcome.bug?.message, r.bug.message);
  assert.equal(outcome.hash.toString(16).padStart(8, '0'), r.bug.hash);
});

test('three and four CPUs contend through the pending bit and the MCS queue: exclusion holds, no count is lost', () => {
  for (const cpus of [3, 4]) {
    const r = explore(selftest, { cpus, params: { cases: CASE_SPINLOCK, iters: 2 } }, 10_000);
    assert.equal(r.bug, null, `${cpus} CPUs: ${r.bug?.message}`);
  }
});

test('a contended spinlock costs the same line transfers per handover from 4 to 16 CPUs (queued)', () => {
  const transfers_per_lock = (cpus: number) => {
    const iters = 50;
    const cfg = make_config(selftest, { cpus, params: { cases: CASE_SPINLOCK, iters } });
    const r = run_timing(selftest, cfg, { profile: PROFILES.hw });
    assert.equal(r.bug, null);
    return r.cache.transfers / (cpus * iters);
  };
  // A test-and-set lock's waiters would each re-read the line at every release: 4x the CPUs, ~4x the transfers.
  const at4 = transfers_per_lock(4);
  const at16 = transfers_per_lock(16);
  assert.ok(
    at16 < 1.1 * at4,
    `${at4.toFixed(2)} transfers per lock at 4 CPUs, ${at16.toFixed(2)} at 16`,
  );
});
