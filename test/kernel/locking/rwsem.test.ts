/*
 * The rw_semaphore keeps the property seed 000 turns on: up_read() still
 * touches the semaphore after down_write() may have returned. Freeing the
 * object right after the write lock is a use-after-free the explorer finds;
 * releasing under RCU and freeing after a grace period is clean.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config } from '../../../src/check/kernel.js';
import { RandomWalk } from '../../../src/check/strategy.js';
import { RWSEM_FLAG_HANDOFF } from '../../../src/kernel/locking/rwsem.js';
import { Op } from '../../../src/runtime/ops.js';
import { CASE_RWSEM, scenario as selftest } from '../../../src/scenarios/races/lock_selftest.js';
import { scenario as rwsem_free } from '../../fixtures/rwsem_free.js';
import { explore } from '../../helpers.js';

test('free after down_write while up_read is in rwsem_wake: use-after-free found', () => {
  const r = explore(rwsem_free, { params: { rcu: 0 } }, 20_000);
  assert.ok(r.bug, 'the explorer finds the use-after-free');
  assert.equal(r.bug.class, 'use-after-free');
  assert.equal(r.bug.task, 'cpu0', 'the reader makes the stale access');
  // The reader touches the freed object inside rwsem_wake(): wait_lock (the queued
  // spinlock's word, which its lock and unlock change with atomics) or the wait list.
  assert.match(
    r.bug.message,
    /(load|cmpxchg|store|read_once|load_acquire|cond_load_ne|fetch_and|fetch_or|fetch_add) of kmalloc-\d+@0x[0-9a-f]+\.data\[[2-5]\]/,
  );
  assert.match(r.bug.message, /freed by cpu1 in rwsem_free writer/);
  assert.match(r.bug.table, /rwsem_wake|up_read|spin_lock/);
});

test('up_read inside rcu_read_lock and free by call_rcu: clean', () => {
  const r = explore(rwsem_free, { params: { rcu: 1 } }, 20_000);
  assert.equal(r.bug, null, r.bug ? `${r.bug.class}: ${r.bug.message}\n${r.bug.table}` : '');
});

test('the writer hand-off is reached, and the rwsem stays correct through it', () => {
  const ex = new Explorer(
    selftest,
    make_config(selftest, { cpus: 3, params: { cases: CASE_RWSEM, iters: 2 } }),
  );
  const s = new RandomWalk(3, 300);
  let handoffs = 0;
  for (let i = 0; s.begin(i); i++) {
    const out = ex.exec.run(s);
    assert.equal(out.bug, null, out.bug?.message);
    const { trace } = ex.trace(out.choices, out.hash);
    // rwsem_try_write_lock() succeeded in setting RWSEM_FLAG_HANDOFF.
    if (
      trace.some(
        (r) =>
          r.op === Op.CMPXCHG &&
          r.where[0] === 'rwsem_try_write_lock' &&
          r.b & RWSEM_FLAG_HANDOFF &&
          r.result === r.a,
      )
    )
      handoffs++;
  }
  assert.ok(handoffs > 0, 'some schedule makes a waiting writer ask for the hand-off');
});
