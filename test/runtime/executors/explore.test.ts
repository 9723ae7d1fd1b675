import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config } from '../../../src/check/kernel.js';
import { RandomWalk } from '../../../src/check/strategy.js';
import { kzalloc } from '../../../src/kernel/slab.js';
import { KernelBug, type KernelContext } from '../../../src/runtime/ops.js';
import { scenario as selftest } from '../../../src/scenarios/races/lock_selftest.js';
import {
  scenario as broken,
  CRASH,
  DEADLOCK,
  LIVELOCK,
  LOST_WAKEUP,
  USE_AFTER_FREE,
} from '../../fixtures/broken.js';
import { explore, run_kernel } from '../../helpers.js';

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

/* A kmalloc object of 8 words with word 3 set, scanned by `scan`; what the scan returned, relative to the object. */
function memchr_inv_in_object(scan: (k: KernelContext, obj: number) => number): number {
  return run_kernel(function* (k) {
    const obj = yield kzalloc(k, 8, 'test');
    yield k.store(obj + 3, 7);
    const found = yield scan(k, obj);
    return found === 0 ? -1 : found - obj;
  });
}

test('memchr_inv returns the first word that is not the value, or 0 when none is', () => {
  assert.equal(
    memchr_inv_in_object((k, obj) => k.memchr_inv(obj, 0, 8)),
    3,
  );
  assert.equal(
    memchr_inv_in_object((k, obj) => k.memchr_inv(obj, 0, 3)),
    -1,
  );
  assert.equal(
    memchr_inv_in_object((k, obj) => k.memchr_inv(obj + 3, 7, 5)),
    4,
  );
});

test('KASAN checks the words memchr_inv read: up to the first that differs, not past it', () => {
  // Stops at word 3: the 100 words asked for run past the object, but are not read.
  assert.equal(
    memchr_inv_in_object((k, obj) => k.memchr_inv(obj, 0, 100)),
    3,
  );
  assert.throws(
    () => memchr_inv_in_object((k, obj) => k.memchr_inv(obj + 4, 0, 100)),
    (e: unknown) => e instanceof KernelBug && /KASAN/.test(e.message),
  );
});
