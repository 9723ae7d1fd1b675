import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config } from '../../../src/check/kernel.js';
import { RandomWalk } from '../../../src/check/strategy.js';
import { scenario as selftest } from '../../../src/scenarios/races/lock_selftest.js';
import {
  scenario as broken,
  CRASH,
  DEADLOCK,
  LIVELOCK,
  LOST_WAKEUP,
  USE_AFTER_FREE,
} from '../../fixtures/broken.js';
import { explore } from '../../helpers.js';

test('the same seed gives the same schedules: equal trace hashes', () => {
  const hashes = (seed: number) => {
    const ex = new Explorer(selftest, make_config(selftest, {}));
    const s = new RandomWalk(seed, 50);
    const out: number[] = [];
    for (let i = 0; s.begin(i); i++) out.push(ex.exec.run(s).hash);
    return out;
  };
  assert.deepEqual(hashes(5), hashes(5));
  assert.notDeepEqual(hashes(5), hashes(6));
});

test('every schedule replays to its own trace hash (determinism self-check)', () => {
  const ex = new Explorer(selftest, make_config(selftest, { params: { iters: 2 } }));
  const s = new RandomWalk(11, 200);
  for (let i = 0; s.begin(i); i++) {
    const out = ex.exec.run(s);
    assert.equal(out.bug, null);
    const again = ex.trace(out.choices, out.hash);
    assert.equal(again.outcome.hash, out.hash);
    assert.equal(again.trace.length, out.steps);
  }
});

test("an ABBA lock order is reported: a deadlock, or lockdep's circular dependency first", () => {
  const r = explore(broken, { params: { mode: DEADLOCK } }, 2000);
  assert.ok(r.bug);
  assert.ok(['deadlock', 'lockdep'].includes(r.bug.class), r.bug.class);
  assert.match(r.bug.message, /broken\.a|broken\.b/);
});

test('a sleeper nobody wakes is a lost wake-up, with what it sleeps on', () => {
  const r = explore(broken, { params: { mode: LOST_WAKEUP } }, 10);
  assert.equal(r.bug?.class, 'lost-wakeup');
  assert.match(r.bug!.message, /cpu0 sleeps in futex_wait on broken\.flag/);
});

test('an exception in kernel code is not swallowed', () => {
  assert.throws(() => explore(broken, { params: { mode: CRASH } }, 10), /deliberate crash/);
});

test('KASAN: a load from a freed object names the allocation and free sites', () => {
  const r = explore(broken, { params: { mode: USE_AFTER_FREE } }, 10);
  assert.equal(r.bug?.class, 'use-after-free');
  assert.match(r.bug!.message, /allocated by cpu0 in broken alloc .*freed by cpu0 in broken free/);
});

test('a schedule that never ends is a livelock, not a hang', () => {
  const ex = new Explorer(broken, make_config(broken, { params: { mode: LIVELOCK } }), {
    max_steps: 5000,
  });
  const r = ex.check(new RandomWalk(1, 1));
  assert.equal(r.bug?.class, 'livelock');
});

test('the report table names kernel functions and the failing step', () => {
  const r = explore(selftest, { variant: 'broken-spinlock' }, 1000);
  assert.ok(r.bug);
  const lines = r.bug.table.split('\n');
  assert.match(lines[0]!, /step\s+cpu0\s+cpu1/);
  assert.ok(
    lines.some((l) => /^\s*\d+ !/.test(l)),
    'the failing step is marked',
  );
  assert.match(r.bug.table, /spin_lock: /);
});
