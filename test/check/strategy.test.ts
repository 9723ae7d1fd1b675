import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { Directed, Pct, PhaseNotReached, parse_phases } from '../../src/check/strategy.js';
import { Op } from '../../src/runtime/ops.js';
import { scenario as fault_vs_munmap } from '../../src/scenarios/races/fault_vs_munmap.js';

test('phases parse into until, steps and drain', () => {
  assert.deepEqual(parse_phases('1:fetch_add:vm_refcnt,0:+2,2:*'), [
    { task: 1, until: { op: Op.FETCH_ADD, at: 'vm_refcnt' } },
    { task: 0, steps: 2 },
    { task: 2, drain: true },
  ]);
  assert.throws(() => parse_phases('1:frob:x'), /unknown op 'frob'/);
  assert.throws(() => parse_phases('x:*'), /expected TASK:OP:NAME/);
});

test("phases naming a task the run does not have are refused, with the run's tasks", () => {
  const tasks = ['cpu0', 'cpu1', 'rcu_gp_kthread'];
  assert.equal(parse_phases('2:*', tasks).length, 1);
  assert.throws(() => parse_phases('0:+1,5:load:vm_lock_seq', tasks), {
    message: "phase 2 '5:load:vm_lock_seq': no task 5 (tasks: 0 cpu0, 1 cpu1, 2 rcu_gp_kthread)",
  });
});

/* fault-vs-munmap under vma-rwsem, cpu0 the faulter, directed by `phases`. */
function directed(phases: string) {
  const ex = new Explorer(fault_vs_munmap, make_config(fault_vs_munmap, { policy: 'vma-rwsem' }));
  return ex.check(new Directed(parse_phases(phases)));
}

test('a directed schedule that follows its phases to the end runs once, clean', () => {
  const r = directed('0:fetch_add:vm_lock.count,1:*,0:*');
  assert.equal(r.bug, null);
  assert.equal(r.schedules, 1);
  // Step and drain phases left when every task has ended are over: their tasks ran out.
  assert.equal(directed('0:+2,1:+100000,0:*,1:*').bug, null);
});

test('a directed schedule that never reaches a phase says which, rather than clean', () => {
  assert.throws(() => directed('0:fetch_add:vm_lock.count,1:*,0:*,1:load:vm_lock.count'), {
    name: 'PhaseNotReached',
    message:
      "phase 4 '1:load:vm_lock.count' was never reached: task 1 made no load of an address whose name contains 'vm_lock.count' while another task could run",
  });
  assert.throws(() => directed('1:store:no_such_field,0:*'), PhaseNotReached);
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

/* A view of `n` tasks for a strategy driven by hand. */
const view_of = (n: number, step: number, last: number) => ({
  step,
  last,
  nr_tasks: n,
  pending_op: () => 0,
  pending_addr: () => 0,
  describe: () => '',
  dependent: () => true,
  footprint: () => {},
  epoch: 0,
});

/* The tasks PCT picks over `decisions` choices, every one of `n` tasks always runnable. */
function pct_picks(pct: Pct, n: number, decisions: number): number[] {
  const all = [...Array(n).keys()];
  const picks: number[] = [];
  for (let i = 0; i < decisions; i++) picks.push(pct.pick(all, view_of(n, i, picks.at(-1) ?? -1)));
  return picks;
}

test('PCT: each of the d - 1 change points lowers a task, so a schedule switches exactly d - 1 times', () => {
  // Change points are distinct decisions of 1 .. k (k = 64 before any run is longer):
  // two on one decision, or one on decision 0 with no task run yet, would lower fewer.
  for (let seed = 1; seed <= 300; seed++) {
    const pct = new Pct(seed, 1, 5);
    pct.begin(0);
    const picks = pct_picks(pct, 5, 100);
    const switches = picks.filter((t, i) => i > 0 && t !== picks[i - 1]).length;
    assert.equal(switches, 4, `seed ${seed}: ${picks.join('')}`);
  }
});

test('PCT: a task first seen late takes a random place among the others, which keep their order', () => {
  let late_first = 0;
  const seeds = 300;
  for (let seed = 1; seed <= seeds; seed++) {
    const pct = new Pct(seed, 1, 1);
    pct.begin(0);
    const first = pct.pick([0, 1], view_of(2, 0, -1));
    const then = pct.pick([0, 1, 2], view_of(3, 1, first));
    if (then === 2) late_first++;
    else assert.equal(then, first, `seed ${seed}: task 2 came, and task ${first} lost to ${then}`);
  }
  // Uniform ranks: the late task is the highest of three about a third of the time.
  assert.ok(late_first > seeds * 0.2 && late_first < seeds * 0.47, `${late_first} of ${seeds}`);
});
