import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pct, parse_phases } from '../../src/check/strategy.js';
import { Op } from '../../src/runtime/ops.js';

test('phases parse into until, steps and drain', () => {
  assert.deepEqual(parse_phases('1:fetch_add:vm_refcnt,0:+2,2:*'), [
    { task: 1, until: { op: Op.FETCH_ADD, at: 'vm_refcnt' } },
    { task: 0, steps: 2 },
    { task: 2, drain: true },
  ]);
  assert.throws(() => parse_phases('1:frob:x'), /unknown op 'frob'/);
  assert.throws(() => parse_phases('x:*'), /expected TASK:OP:NAME/);
});

test('PCT: the highest-priority runnable task runs until a change point lowers it', () => {
  const pct = new Pct(7, 10, 1);
  assert.equal(pct.begin(0), true);
  const view = {
    step: 0,
    last: -1,
    nr_tasks: 3,
    pending_op: () => 0,
    pending_addr: () => 0,
    describe: () => '',
  };
  const first = pct.pick([0, 1, 2], view);
  // Depth 1 has no change point: the same task wins every time it can run.
  for (let i = 1; i < 20; i++)
    assert.equal(pct.pick([0, 1, 2], { ...view, step: i, last: first }), first);
  assert.equal(pct.begin(10), false);
  assert.ok(pct.bound(2) > 0 && pct.bound(2) <= 0.5);
});
