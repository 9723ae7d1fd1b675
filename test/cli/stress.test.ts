/*
 * mmlab stress as a user drives it: a scenario's native sizes, and errors
 * that suggest only the parameters a scenario has.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mmlab } from '../helpers.js';

/** Bad usage: exactly `line` on stderr, exit 2, nothing on stdout. */
function refused(args: string[], line: string): void {
  const r = mmlab(...args);
  assert.equal(r.code, 2, r.err);
  assert.equal(r.out, '');
  assert.equal(r.err, `${line}\n`);
}

test('a scenario without parameters says so, and suggests none', () => {
  refused(
    ['stress', 'fault-vs-munmap', '--seconds', '1'],
    'mmlab: fault-vs-munmap cannot run for a time: it runs once, to its end (fault-vs-munmap has no parameters)',
  );
  refused(
    ['stress', 'fault-vs-munmap', '--param', 'iters=3'],
    "mmlab: fault-vs-munmap: unknown parameter 'iters' (fault-vs-munmap has no parameters)",
  );
  refused(
    ['stress', 'fault-vs-munmap', '--seed', '3'],
    'mmlab: fault-vs-munmap takes no seed (fault-vs-munmap has no parameters)',
  );
});

test('--seconds suggests iterations only where the scenario has them', () => {
  refused(
    ['stress', 'lock-selftest', '--seconds', '1'],
    'mmlab: lock-selftest cannot run for a time: give its iterations instead (--param iters=N)',
  );
  refused(
    ['stress', 'fault-vs-mremap', '--seconds', '1'],
    'mmlab: fault-vs-mremap cannot run for a time: it runs once, to its end (known: mode)',
  );
});

test('natively a scenario keeps the sizes the explorer cannot afford; the user sets over them', () => {
  const r = mmlab('stress', '--json');
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).params.iters, 20);
  const w = mmlab('stress', 'fault-vs-mprotect', '--param', 'big_pages=64', '--json');
  assert.equal(w.code, 0, w.err);
  assert.deepEqual(JSON.parse(w.out).params, {
    big_pages: 64,
    pages: 4096,
    writer: 1,
    mprotects: 0,
  });
});

test('--seconds runs until stopped: iterations 0, over the native sizes', () => {
  const r = mmlab('stress', '--seconds', '0.2', '--json');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out).params, { iters: 0, seed: 1 });
  refused(
    ['stress', '--seconds', '1', '--param', 'iters=3'],
    'mmlab: --seconds and --param iters both say how long to run: give one',
  );
});
