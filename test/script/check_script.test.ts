import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { WHOLE } from '../../src/check/dfs.js';
import { decode_replay } from '../../src/check/replay.js';
import type { CheckOptions } from '../../src/check/search.js';
import { VARIANT_STACK_EXPAND_UNDER_READ_LOCK } from '../../src/kernel/arch/fault.js';
import { check_script } from '../../src/script/check_script.js';
import { parse_concurrent, print_concurrent } from '../../src/script/concurrent.js';

const STACKROT = parse_concurrent(
  readFileSync(new URL('../../docs/examples/scripts/stackrot.txt', import.meta.url), 'utf8'),
);
const DFS: CheckOptions = {
  strategy: 'dfs',
  seed: 1,
  schedules: 300,
  depth: 3,
  bound: 3,
  shard: WHOLE,
  jobs: 1,
};
const CFG = { policy: 'mmap-lock', variant: VARIANT_STACK_EXPAND_UNDER_READ_LOCK };

test('check_script finds StackRot from a script, and its replay string carries the script', async () => {
  const r = await check_script(STACKROT, CFG, DFS);
  assert.equal(r.bug?.class, 'use-after-free');
  const rec = decode_replay(r.bug.replay);
  assert.equal(rec.scenario, 'script');
  assert.equal(rec.variant, VARIANT_STACK_EXPAND_UNDER_READ_LOCK);
  assert.equal(rec.cpus, 2);
  assert.equal(rec.source, print_concurrent(STACKROT));
});

test('worker threads make the script again from its text', async () => {
  const r = await check_script(STACKROT, CFG, { ...DFS, schedules: 600, jobs: 2 });
  assert.equal(r.bug?.class, 'use-after-free');
});

test('the fixed kernel runs the same script clean', async () => {
  const r = await check_script(STACKROT, { ...CFG, variant: '' }, { ...DFS, schedules: 100 });
  assert.equal(r.bug, null);
  assert.equal(r.schedules, 100);
});

test('an unknown variant is refused before any work', async () => {
  await assert.rejects(
    check_script(STACKROT, { ...CFG, variant: 'no-such' }, DFS),
    /script: unknown variant 'no-such'/,
  );
});

test('a script built by hand is held to what the parser holds a text to', async () => {
  const [first] = STACKROT.cpus;
  const stray = { line: 40, pid: 3, cmd: { op: 'read', addr: 0 } as const };
  await assert.rejects(
    check_script({ ...STACKROT, cpus: [first!, [stray]] }, CFG, DFS),
    /line 40: p3 does not exist \(no fork creates it/,
  );
  await assert.rejects(
    check_script({ ...STACKROT, cpus: [first!] }, CFG, DFS),
    /has 2 to 4 sections, not 1/,
  );
});
