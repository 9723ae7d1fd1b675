/*
 * mmlab check as a user drives it, splitting a search: --schedules is the
 * budget of the whole run, whatever --jobs is, and a run repeats itself
 * for a seed and a job count; a DFS stopped by its budget says so.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mmlab } from '../helpers.js';

/* `mmlab check ... --json`, its exit status checked, read back. */
function check_json(code: number, ...args: string[]) {
  const r = mmlab('check', ...args, '--json');
  assert.equal(r.code, code, r.err);
  return JSON.parse(r.out);
}

const DFS = ['fault-vs-munmap', '--policy', 'vma-rwsem', '--strategy', 'dfs'];

test('--jobs 2 --schedules 300 runs 300 schedules in all, the same ones every run', () => {
  const random = ['lock-selftest', '--schedules', '300', '--jobs', '2'];
  const a = check_json(0, ...random);
  const b = check_json(0, ...random);
  assert.equal(a.schedules, 300);
  assert.equal(a.jobs, 2);
  assert.equal(b.schedules, a.schedules);
  assert.equal(b.steps, a.steps);
  const dfs = check_json(0, ...DFS, '--schedules', '300', '--jobs', '2');
  assert.equal(dfs.schedules, 300);
});

test('--jobs 2 finds the same bug after the same count from run to run', () => {
  // One part finds seed 000 while the other runs on to its bound: a race would cut the other short.
  const args = [...DFS, '--variant', 'seed000-up-read-without-rcu', '--jobs', '2'];
  const [a, b] = [1, 2].map(() => check_json(1, ...args));
  assert.equal(a.bug.class, 'use-after-free');
  assert.equal(a.bug.preemptions, 2);
  assert.equal(b.bug.replay, a.bug.replay);
  assert.equal(b.schedules, a.schedules);
  assert.equal(b.steps, a.steps);
});

test('a DFS whose budget runs out before its bound says so, in words and in JSON', () => {
  const r = mmlab('check', ...DFS, '--bound', '3', '--schedules', '20');
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.out.split('\n')[1],
    'every schedule with at most 0 preemptions explored (up to reordering of commuting accesses); the budget of 20 schedules ended the search before bound 1, short of --bound 3 (raise --schedules)',
  );
  const j = check_json(0, ...DFS, '--bound', '3', '--schedules', '20');
  assert.equal(j.bound, 3);
  assert.equal(j.proved_bound, 0);
  assert.equal(j.budget_exhausted, true);
  assert.equal(j.exhausted, 'schedules');
  // Split among jobs, the budget is still the run's: the same words.
  const jobs = mmlab('check', ...DFS, '--bound', '3', '--schedules', '20', '--jobs', '2');
  assert.match(jobs.out, /the budget of 20 schedules ended the search before bound \d/);
});

test('a DFS that reaches its bound says nothing of a budget', () => {
  const r = mmlab('check', 'lock-selftest', '--strategy', 'dfs', '--bound', '0');
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.out.split('\n')[1],
    'every schedule with at most 0 preemptions explored (up to reordering of commuting accesses)',
  );
  const j = check_json(0, 'lock-selftest', '--strategy', 'dfs', '--bound', '0');
  assert.equal(j.proved_bound, 0);
  assert.equal(j.budget_exhausted, false);
  assert.equal('exhausted' in j, false);
});

const SPINLOCK = ['lock-selftest', '--variant', 'broken-spinlock', '--strategy', 'dfs'];

test('--keep-going lists every distinct bug with its replay, the same with --jobs 2', () => {
  const one = check_json(1, ...SPINLOCK, '--bound', '1', '--keep-going');
  const two = check_json(1, ...SPINLOCK, '--bound', '1', '--keep-going', '--jobs', '2');
  const signatures = (j: { bugs: { signature: string }[] }) => j.bugs.map((b) => b.signature);
  assert.ok(one.bugs.length >= 3);
  assert.deepEqual(signatures(one).sort(), signatures(two).sort());
  const { signature, ...first } = one.bugs[0];
  assert.match(signature, /^data-race in /);
  assert.deepEqual(first, one.bug);
  for (const b of one.bugs) {
    assert.match(b.replay, /^m1:lock-selftest:/);
    // Each replays to the bug it names.
    const r = mmlab('replay', b.replay, '--json');
    assert.equal(r.code, 1, r.err);
    assert.equal(JSON.parse(r.out).bug.message, b.message);
  }
  const text = mmlab('check', ...SPINLOCK, '--bound', '1', '--keep-going');
  assert.match(text.out, new RegExp(`\\n${one.bugs.length} distinct bugs in \\d+ schedules`));
});

test('--bug-class: the classes are in --help; an unknown one is one line and exit 2', () => {
  const help = mmlab('check', '--help');
  assert.match(
    help.out.replace(/\s+/g, ' '),
    /use-after-free, double-free, .* data-race, .* outcome, BUG\)/,
  );
  const r = mmlab('check', 'lock-selftest', '--bug-class', 'use-after-fee');
  assert.equal(r.code, 2);
  assert.equal(r.out, '');
  assert.equal(r.err.split('\n').length, 2, r.err);
  assert.match(r.err, /--bug-class: unknown class 'use-after-fee' \(known: use-after-free, /);
});
