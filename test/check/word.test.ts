import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import type { ChangePoints } from '../../src/check/focus.js';
import { make_config } from '../../src/check/kernel.js';
import { Pct, search_strategy } from '../../src/check/strategy.js';
import { WordPoints } from '../../src/check/word.js';
import { VARIANT_PUT_WITHOUT_MMGRAB } from '../../src/kernel/mm/mmap_lock.js';
import type { ExploreView } from '../../src/runtime/executors/explore.js';
import { OP_NAMES, Op } from '../../src/runtime/ops.js';
import { find_scenario } from '../../src/scenarios/index.js';
import type { Rng } from '../../src/scenarios/random.js';

/*
 * 9bbffee67ffd needs four preemptions, each just after an access to the
 * recycled VMA's vm_refcnt: word reaches it within a small budget, where
 * focus and PCT, whose change points spread over every (synchronising)
 * choice, do not.
 */
function search(strategy: 'word' | 'focus' | 'pct', schedules: number) {
  const s = find_scenario('recycle-exit');
  const ex = new Explorer(
    s,
    make_config(s, { policy: 'vma-refcnt', variant: VARIANT_PUT_WITHOUT_MMGRAB }),
  );
  return ex.check(search_strategy(strategy, { seed: 1, schedules, depth: 5, bound: 0 }), {
    bug_class: 'use-after-free',
  });
}

test('word finds 9bbffee67ffd (four preemptions) in recycle-exit within 2,000 schedules', () => {
  const r = search('word', 2_000);
  assert.ok(r.bug, `no bug in ${r.schedules} schedules`);
  assert.match(
    r.bug.message,
    /use-after-free: load_acquire of mm_struct@0x[0-9a-f]+\.vma_writer_wait/,
  );
  assert.ok(r.bug.preemptions >= 4, `${r.bug.preemptions} preemptions`);
});

test('focus and PCT at the same depth and budget do not reach it', () => {
  for (const strategy of ['focus', 'pct'] as const) {
    const r = search(strategy, 2_000);
    assert.equal(r.bug, null, `${strategy} found it: the word test shows nothing`);
  }
});

/* WordPoints, watched over a run: each counted decision checked against the step before it. */
class Watched implements ChangePoints {
  readonly name = 'word';
  readonly every_step = true;
  readonly inner = new WordPoints();
  /** The last step's task, op and address. */
  private step: { op: number; addr: number } | null = null;
  readonly wrong: string[] = [];
  decisions = 0;

  get k(): number {
    return this.inner.k;
  }

  begin(rng: Rng): void {
    this.inner.begin(rng);
    this.step = null;
  }

  decision(runnable: readonly number[], view: ExploreView): number {
    const n = this.inner.decision(runnable, view);
    if (n === 0) return 0;
    this.decisions++;
    const s = this.step!;
    const store = s.op === Op.STORE || s.op === Op.WRITE_ONCE || s.op === Op.STORE_RELEASE;
    if (s.addr !== this.inner.watched || store)
      this.wrong.push(`step ${view.step}: after ${OP_NAMES[s.op]} ${view.describe(s.addr)}`);
    return n;
  }

  picked(t: number, view: ExploreView): void {
    if (this.step?.addr === this.inner.watched && this.step.op !== Op.LOAD)
      this.writer = this.step.t;
    this.step = { op: view.pending_op(t), addr: view.pending_addr(t) };
    this.inner.picked(t, view);
  }

  raise(others: readonly number[], rng: Rng): number {
    return this.inner.raise(others, rng);
  }
}

test('word: its change points fall only just after a read of its word, far fewer than focus', () => {
  const s = find_scenario('recycle-exit');
  const ex = new Explorer(s, make_config(s, { policy: 'vma-refcnt' }));
  const points = new Watched();
  ex.check(new Pct(3, 300, 5, undefined, points), { bug_class: 'use-after-free' });
  assert.ok(points.decisions > 300, `${points.decisions} decisions`);
  assert.deepEqual(points.wrong, []);
  // Focus counts 50 to 60 choices a schedule here.
  assert.ok(points.k < 20, `k = ${points.k}`);
});
