/* mmlab demo as a newcomer runs it beside the README's commands. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mmlab } from '../helpers.js';

test("the demo's seed 000 search is the README's mmlab check: the same schedules to the bug and to the fix's proof", () => {
  const demo = mmlab('demo');
  assert.equal(demo.code, 0, demo.err);
  const found = /found after (\d+) schedules .*\(2\)/.exec(demo.out);
  const proved = /clean, every schedule with at most 2 preemptions \((\d+) schedules/.exec(
    demo.out,
  );
  assert.ok(found && proved, demo.out);
  const seed000 = ['fault-vs-munmap', '--policy', 'vma-rwsem', '--strategy', 'dfs', '--json'];
  const bug = JSON.parse(
    mmlab('check', ...seed000, '--variant', 'seed000-up-read-without-rcu').out,
  );
  const fix = JSON.parse(mmlab('check', ...seed000, '--bound', '2').out);
  assert.equal(Number(found[1]), bug.schedules);
  assert.equal(Number(proved[1]), fix.schedules);
});
