import { readFileSync } from 'node:fs';
/*
 * A recorded schedule replayed: the bug it recorded, with the hash it
 * recorded; a schedule that does not fit is a mismatch.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { decode_replay, hex32 } from '../../src/check/replay.js';
import { ReplayMismatch, replay_schedule } from '../../src/check/replay_schedule.js';
import { RandomWalk } from '../../src/check/strategy.js';
import { find_scenario } from '../../src/scenarios/index.js';

/* Seed 000's schedule, as README.md prints it (the README's own, so that the two cannot drift apart). */
const SEED_000 = /replay: mmlab replay (m1:fault-vs-munmap:\S+seed000\S+)/.exec(
  readFileSync(new URL('../../README.md', import.meta.url), 'utf8'),
)![1]!;
const SEED_000_HASH = SEED_000.slice(SEED_000.lastIndexOf(':') + 1);

function replay(text: string) {
  const rec = decode_replay(text);
  const s = find_scenario(rec.scenario);
  const cfg = make_config(s, { cpus: rec.cpus, policy: rec.policy, variant: rec.variant });
  return replay_schedule(s, cfg, rec);
}

test('a recorded failure replays to its bug and its hash', () => {
  const r = replay(SEED_000);
  assert.equal(r.bug?.class, 'use-after-free');
  assert.equal(r.hash, SEED_000_HASH);
  assert.equal(r.bug?.replay, SEED_000);
  assert.equal(r.table, null);
});

test('a schedule without a bug replays to its hash and the table of its steps', () => {
  const s = find_scenario('fault-vs-munmap');
  const cfg = make_config(s, { policy: 'vma-rwsem' });
  const walk = new RandomWalk(1, 1);
  walk.begin(0);
  const out = new Explorer(s, cfg).exec.run(walk);
  assert.equal(out.bug, null);
  const r = replay_schedule(s, cfg, { choices: out.choices, hash: out.hash });
  assert.equal(r.bug, null);
  assert.equal(r.steps, out.steps);
  assert.equal(r.hash, hex32(out.hash));
  assert.match(r.table ?? '', /^ {2}step {2}cpu0/);
});

test('an altered hash, or a schedule that does not fit, is a mismatch', () => {
  assert.throws(
    () => replay(`${SEED_000.slice(0, -1)}${SEED_000.endsWith('0') ? '1' : '0'}`),
    (e) => e instanceof ReplayMismatch && /trace hash mismatch/.test(e.message),
  );
  assert.throws(
    // The prologue's choice count cut short: cpu0 runs out of order.
    () => replay(SEED_000.replace(/:2x(\d+)\./, ':2x1.')),
    (e) => e instanceof ReplayMismatch,
  );
});
