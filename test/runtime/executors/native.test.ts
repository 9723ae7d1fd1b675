import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run_native } from '../../../src/runtime/executors/native.js';
import { make_config } from '../../../src/runtime/scenario.js';
import { scenario as broken, CRASH, LOST_WAKEUP } from '../../fixtures/broken.js';

test('an exception in a CPU is reported with its CPU and stack, and stops every worker', async () => {
  const r = await run_native(broken, make_config(broken, { params: { mode: CRASH } }));
  assert.equal(r.bug?.class, 'exception');
  assert.equal(r.bug?.task, 'cpu1');
  assert.match(r.bug!.message, /deliberate crash/);
  assert.match(r.bug!.stack, /broken\.ts/);
});

test('the watchdog reports no progress, with what each CPU waits on, instead of hanging', async () => {
  const r = await run_native(broken, make_config(broken, { params: { mode: LOST_WAKEUP } }), {
    watchdog_ms: 300,
  });
  assert.equal(r.bug?.class, 'no-progress');
  assert.match(r.bug!.message, /cpu0: blocked in futex_wait on broken\.flag/);
  assert.match(r.bug!.message, /cpu1: done/);
});
