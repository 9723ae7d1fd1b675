/*
 * Traced schedules for the timeline's tests (test/check/timeline.test.ts,
 * test/report/timeline_html.test.ts): real bugs the explorer finds, and a
 * long run without one.
 */

import assert from 'node:assert/strict';
import { type BugReport, Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { decode_replay } from '../../src/check/replay.js';
import { Directed, parse_phases, RandomWalk } from '../../src/check/strategy.js';
import { VARIANT_BROKEN_SPINLOCK } from '../../src/kernel/locking/spinlock.js';
import type { StepRecord, Strategy } from '../../src/runtime/executors/explore.js';
import { scenario as selftest } from '../../src/scenarios/races/lock_selftest.js';
import { scenario as vma_races } from '../../src/scenarios/races/vma_races.js';

/** Explore until a bug; its traced replay, as `mmlab check --html` draws it. */
function found(ex: Explorer, strategy: Strategy): { bug: BugReport; trace: readonly StepRecord[] } {
  const r = ex.check(strategy);
  assert.ok(r.bug, 'the explorer finds the bug');
  const rec = decode_replay(r.bug.replay);
  return { bug: r.bug, trace: ex.trace(rec.choices, rec.hash).trace };
}

export function broken_spinlock() {
  const ex = new Explorer(
    selftest,
    make_config(selftest, { variant: VARIANT_BROKEN_SPINLOCK, params: { cases: 1, iters: 2 } }),
  );
  return { ex, ...found(ex, new RandomWalk(1, 1000)) };
}

// Seed 000: the reader's up_read() outside RCU touches the VMA that the
// RCU callback freed (test/scenarios/races/vma_races.test.ts).
const SEED000 =
  '1:fetch_add:vm_lock.count,0:xchg:task_struct[0].__state,1:+1,1:cmpxchg:vm_lock.wait_lock,0:*,2:*,0:*,1:*';

export function use_after_free() {
  const ex = new Explorer(
    vma_races,
    make_config(vma_races, { policy: 'vma-rwsem', variant: 'seed000-up-read-without-rcu' }),
  );
  return { ex, ...found(ex, new Directed(parse_phases(SEED000))) };
}

/** A run of over 5000 steps that finds no bug, traced. */
export function long_trace_without_bug(): { ex: Explorer; trace: readonly StepRecord[] } {
  const ex = new Explorer(selftest, make_config(selftest, { params: { iters: 40 } }));
  const walk = new RandomWalk(3, 1);
  walk.begin(0);
  const out = ex.exec.run(walk);
  assert.equal(out.bug, null);
  const { trace } = ex.trace(out.choices, out.hash);
  assert.ok(trace.length > 5000, `${trace.length} steps`);
  return { ex, trace };
}
