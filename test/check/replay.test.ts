import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decode_replay, encode_replay } from '../../src/check/replay.js';

test('a replay string round-trips scenario, configuration, schedule and hash', () => {
  const choices = Uint8Array.from([0, 0, 0, 1, 1, 0, 2, 2, 2, 2]);
  const s = encode_replay({
    scenario: 'lock-selftest',
    cpus: 2,
    policy: 'vma-refcnt',
    variant: 'broken-spinlock',
    params: { iters: 3 },
    choices,
    hash: 0xdeadbeef,
  });
  assert.equal(
    s,
    'm1:lock-selftest:c=2,p=vma-refcnt,v=broken-spinlock,iters=3:0x3.1x2.0x1.2x4:deadbeef',
  );
  const r = decode_replay(s);
  assert.equal(r.scenario, 'lock-selftest');
  assert.equal(r.cpus, 2);
  assert.equal(r.policy, 'vma-refcnt');
  assert.equal(r.variant, 'broken-spinlock');
  assert.deepEqual(r.params, { iters: 3 });
  assert.deepEqual([...r.choices], [...choices]);
  assert.equal(r.hash, 0xdeadbeef);
  assert.equal(r.past_triaged, false);
});

test("a run that went past the races triaged as Linux's own says so in its replay string, once", () => {
  const s = encode_replay({
    scenario: 'vma-recycle',
    cpus: 2,
    policy: 'vma-refcnt',
    variant: '',
    params: {},
    choices: Uint8Array.from([0, 1]),
    past_triaged: true,
  });
  assert.equal(s, 'm1:vma-recycle:c=2,p=vma-refcnt,kcsan=past-triaged:0x1.1x1');
  assert.equal(decode_replay(s).past_triaged, true);
  for (const bad of [
    s.replace('past-triaged', 'off'),
    s.replace('past-triaged', '1'),
    s.replace('kcsan=past-triaged', 'kcsan=past-triaged,kcsan=past-triaged'),
  ])
    assert.throws(
      () => decode_replay(bad),
      /bad configuration item 'kcsan=\S+' \(only 'kcsan=past-triaged', once\)/,
    );
});

test('malformed strings are refused with what is wrong', () => {
  assert.throws(() => decode_replay('hello'), /expected 'm1:SCENARIO:CONFIG:SCHEDULE/);
  assert.throws(() => decode_replay('m1:lock-selftest:iters=1:0x3'), /no CPU count/);
  assert.throws(() => decode_replay('m1:lock-selftest:c=2:0x3'), /no policy/);
  assert.throws(
    () => decode_replay('m1:lock-selftest:c=2,p=vma-refcnt:0x3.banana'),
    /bad schedule run 'banana'/,
  );
  assert.throws(() => decode_replay('m1:lock-selftest:c=2,p=vma-refcnt:300x3'), /bad schedule run/);
  assert.throws(() => decode_replay('m1:lock-selftest:c=2,p=vma-refcnt:0x3:xyz'), /bad trace hash/);
  assert.throws(() => decode_replay('m1:Lock Selftest:c=2:0x3'), /bad scenario name/);
});
