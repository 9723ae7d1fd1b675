import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { search_strategy } from '../../src/check/strategy.js';
import { VARIANT_PUT_WITHOUT_MMGRAB } from '../../src/kernel/mm/mmap_lock.js';
import { find_scenario } from '../../src/scenarios/index.js';

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
