import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lockdep } from '../../src/check/lockdep.js';
import { lock_class } from '../../src/kernel/locking/lockdep.js';
import { type KernelBug, LOCK_ANY, LOCK_READ, LOCK_WRITE } from '../../src/runtime/ops.js';

const A = lock_class('test.A');
const B = lock_class('test.B');

function lockdep() {
  const l = new Lockdep((t) => `cpu${t}`);
  l.reset(2);
  return l;
}

const klass = (c: string) => (e: KernelBug) => e.bug_class === c;

test('A then B on one CPU and B then A on another: a possible circular dependency', () => {
  const l = lockdep();
  l.acquire(0, 100, A, LOCK_WRITE, false);
  l.acquire(0, 200, B, LOCK_WRITE, false);
  l.release(0, 200);
  l.release(0, 100);
  l.acquire(1, 200, B, LOCK_WRITE, false);
  assert.throws(
    () => l.acquire(1, 100, A, LOCK_WRITE, false),
    (e: KernelBug) => klass('lockdep')(e) && /test\.A -> test\.B/.test(e.message),
  );
});

test('a trylock adds no dependency', () => {
  const l = lockdep();
  l.acquire(0, 100, A, LOCK_WRITE, false);
  l.acquire(0, 200, B, LOCK_WRITE, true);
  l.release(0, 200);
  l.release(0, 100);
  l.acquire(1, 200, B, LOCK_WRITE, false);
  l.acquire(1, 100, A, LOCK_WRITE, false);
});

test('readers share, a writer excludes everyone', () => {
  const l = lockdep();
  l.acquire(0, 100, A, LOCK_READ, false);
  l.acquire(1, 100, A, LOCK_READ, false);
  l.release(1, 100);
  assert.throws(() => l.acquire(1, 100, A, LOCK_WRITE, false), klass('exclusion'));
});

test('bad unlock balance, recursion and locks held at exit', () => {
  const l = lockdep();
  assert.throws(() => l.release(0, 100), /bad unlock balance/);
  l.acquire(0, 100, A, LOCK_WRITE, false);
  assert.throws(() => l.acquire(0, 100, A, LOCK_WRITE, false), /recursive locking/);
  assert.throws(() => l.task_exit(0), /ended still holding test\.A \(write\)/);
});

test('lockdep_assert_held: held in the right mode passes, anything else is reported', () => {
  const l = lockdep();
  assert.throws(
    () => l.assert_held(0, 100, A, LOCK_ANY),
    /cpu0 must hold test\.A and does not hold it/,
  );
  l.acquire(0, 100, A, LOCK_READ, false);
  l.assert_held(0, 100, A, LOCK_ANY);
  l.assert_held(0, 100, A, LOCK_READ);
  assert.throws(
    () => l.assert_held(0, 100, A, LOCK_WRITE),
    /test\.A for write and holds it for read/,
  );
});
