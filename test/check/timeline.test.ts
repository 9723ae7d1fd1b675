/*
 * What the timeline shows of a traced schedule (the page that draws it is
 * tested in test/report/timeline_html.test.ts): the lanes, the locks held,
 * the RCU sections, the lifetime of the object a bug is about, and the
 * faulty access.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Timeline } from '../../src/check/timeline.js';
import { Op } from '../../src/runtime/ops.js';
import { broken_spinlock, long_trace_without_bug, use_after_free } from './timeline_traces.js';

test('an exclusion bug: both CPUs hold the spinlock for write at the faulty acquire', () => {
  const { ex, bug, trace } = broken_spinlock();
  const t = new Timeline(ex, trace, bug);
  const ran = [...new Set(trace.map((s) => s.task))].sort((a, b) => a - b);
  assert.deepEqual(t.tasks, ran);
  assert.equal(t.task_name(t.bug_task), bug.task);
  assert.equal(t.fault, trace.length - 1, 'the last step is the faulty access');
  assert.equal(trace[t.fault]!.task, t.bug_task);
  assert.match(t.step_text(trace[t.fault]!), new RegExp(`^${bug.task} step \\d+: spin_lock: `));

  const held_at_end = t.locks.filter(
    (s) => s.label === 'lock_selftest.lock (write)' && s.to === trace.length,
  );
  assert.deepEqual(held_at_end.map((s) => t.task_name(s.task)).sort(), ['cpu0', 'cpu1']);
  assert.ok(t.table.split('\n').at(-1)!.includes('!'), "the table marks the bug's step");
});

test('a use-after-free: the freed VMA, its allocation, its free and the stale access', () => {
  const { ex, bug, trace } = use_after_free();
  const t = new Timeline(ex, trace, bug);
  const m = /(vm_area_struct@0x[0-9a-f]+)\.[\w.]+ \(gen (\d+)\) by cpu1/.exec(bug.message);
  assert.ok(m, bug.message);
  const [, vma, gen_text] = m as unknown as [string, string, string];
  const freed_gen = Number(gen_text);

  const [o] = t.objects;
  assert.equal(o?.name, vma, 'the faulty access is to the freed VMA');
  const who = (i: number) => t.task_name(trace[i]!.task);
  assert.deepEqual(
    o.events.map((e) => [e.alloc, e.gen, who(e.i)]),
    [
      [true, freed_gen - 1, 'cpu0'],
      [false, freed_gen, 'rcu_gp_kthread'],
    ],
  );
  assert.equal(o.gen_before, freed_gen - 2, 'counted back from the generation the run ended at');
  assert.equal(t.fault, trace.length - 1);
  assert.equal(o.accesses.at(-1), t.fault, 'the stale access is an access to the VMA');
  assert.ok(t.fault > o.events[1]!.i, 'after the free');
});

test('each lock bar runs from an acquire to its release, each RCU band from lock to unlock', () => {
  const { ex, trace } = long_trace_without_bug();
  const t = new Timeline(ex, trace, null);
  assert.equal(t.bug_task, -1);
  assert.equal(t.fault, -1);
  assert.ok(t.locks.length > 0 && t.rcu.length > 0, `${t.locks.length} locks, ${t.rcu.length} RCU`);
  for (const s of t.locks) {
    const from = trace[s.from]!;
    assert.equal(from.op, Op.LOCK_ACQUIRE);
    assert.equal(from.task, s.task);
    if (s.to === trace.length) continue;
    const to = trace[s.to]!;
    assert.deepEqual([to.op, to.task, to.addr], [Op.LOCK_RELEASE, s.task, from.addr]);
  }
  for (const s of t.rcu) {
    assert.deepEqual([trace[s.from]!.op, trace[s.from]!.task], [Op.RCU_READ_LOCK, s.task]);
    if (s.to < trace.length)
      assert.deepEqual([trace[s.to]!.op, trace[s.to]!.task], [Op.RCU_READ_UNLOCK, s.task]);
  }
  // Nested locks of a task never share a slot while both are held.
  for (const a of t.locks)
    for (const b of t.locks)
      if (a !== b && a.task === b.task && a.slot === b.slot)
        assert.ok(a.to < b.from || b.to < a.from, `${a.label} and ${b.label} overlap`);
});

test("an empty trace: only the bug's lane, no span, no faulty step, no table", () => {
  const { ex, bug } = broken_spinlock();
  const t = new Timeline(ex, [], bug);
  assert.deepEqual(t.tasks, [t.bug_task], "only the bug's task");
  assert.deepEqual([t.locks, t.rcu, t.fault, t.table], [[], [], -1, '']);
});
