import assert from 'node:assert/strict';
import { test } from 'node:test';
import { host_speed_ratio, probe_host_speed } from '../../src/bench/host_speed.js';
import { PROFILES } from '../../src/runtime/executors/timing_costs.js';

test('the host-speed probe reads a speed: steps per microsecond, finite and positive', () => {
  for (let i = 0; i < 3; i++) {
    const s = probe_host_speed();
    assert.ok(Number.isFinite(s) && s > 0, `probe ${i}: ${s}`);
  }
});

test("a native point's host speed over a profile's scales the profile's prediction; unknown, 1", () => {
  assert.equal(host_speed_ratio({ host_speed: 6 }, { host_speed: 8 }), 0.75);
  assert.equal(host_speed_ratio({}, { host_speed: 8 }), 1, 'a point not measured natively');
  assert.equal(host_speed_ratio({ host_speed: 6 }, PROFILES.hw), 1, 'hw is not this machine');
  assert.ok(PROFILES.js.host_speed! > 0, 'js was calibrated at a known speed');
});
