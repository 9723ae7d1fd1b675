/*
 * One check as `mmlab check` runs it: what it found, retold, proved and
 * left unfinished, in one result.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { WHOLE } from '../../src/check/dfs.js';
import { BUG_CLASSES } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { type CheckOptions, check_scenario, run_tasks } from '../../src/check/search.js';
import { PhaseNotReached, parse_phases } from '../../src/check/strategy.js';
import { VARIANT_UP_READ_WITHOUT_RCU } from '../../src/kernel/mm/mmap_lock.js';
import { scenario as fault_vs_munmap } from '../../src/scenarios/races/fault_vs_munmap.js';
import { scenario as lock_selftest } from '../../src/scenarios/races/lock_selftest.js';

const fixed = make_config(fault_vs_munmap, { policy: 'vma-rwsem' });
const broken = make_config(fault_vs_munmap, {
  policy: 'vma-rwsem',
  variant: VARIANT_UP_READ_WITHOUT_RCU,
});
const search = { seed: 1, schedules: 10_000, depth: 3, bound: 3, shard: WHOLE, jobs: 1 };

test('the tasks a directed schedule numbers are the CPUs, then the kthreads', () => {
  assert.deepEqual(run_tasks(fault_vs_munmap, fixed), ['cpu0', 'cpu1', 'rcu_gp_kthread']);
});

test("PCT's failure is retold with the fewest preemptions DFS finds", async () => {
  const cfg = make_config(lock_selftest, { variant: 'broken-spinlock' });
  const r = await check_scenario(lock_selftest, cfg, { ...search, strategy: 'pct' });
  assert.equal(r.bug?.class, 'data-race');
  // Found with 3; DFS finds the same class with 1 within bound 2 at once.
  assert.equal(r.found_preemptions, 3);
  assert.equal(r.bug?.preemptions, 1);
  assert.equal(r.proved_bound, null);
  assert.equal(r.pct?.tasks, 3);
});

test('a DFS failure is told as found', async () => {
  const r = await check_scenario(fault_vs_munmap, broken, { ...search, strategy: 'dfs' });
  assert.equal(r.bug?.preemptions, 2);
  assert.equal(r.found_preemptions, null);
});

test('a clean DFS cut short by its budget says what it proved and which budget ended it', async () => {
  const options: CheckOptions = { ...search, strategy: 'dfs', schedules: 20 };
  const r = await check_scenario(fault_vs_munmap, fixed, options);
  assert.equal(r.bug, null);
  assert.equal(r.schedules, 20);
  assert.equal(r.proved_bound, 0);
  assert.equal(r.exhausted, 'schedules');
  const whole = await check_scenario(fault_vs_munmap, fixed, { ...options, bound: 0 });
  assert.equal(whole.proved_bound, 0);
  assert.equal(whole.exhausted, null);
});

test("PCT's result carries its probability bound over the run's tasks", async () => {
  const r = await check_scenario(fault_vs_munmap, fixed, {
    ...search,
    strategy: 'pct',
    schedules: 5,
    depth: 1,
  });
  // Depth 1: no change point, so the bound is 1/n whatever the schedules' length.
  assert.deepEqual(r.pct, { probability: 1 / 3, tasks: 3 });
  assert.equal(r.proved_bound, null);
});

test('a directed schedule whose phases are never reached is no clean run', async () => {
  const phases = parse_phases('1:store:no_such_field,0:*', run_tasks(fault_vs_munmap, fixed));
  await assert.rejects(
    check_scenario(fault_vs_munmap, fixed, { strategy: 'directed', phases }),
    (e) => e instanceof PhaseNotReached && /phase 1 '1:store:no_such_field'/.test(e.message),
  );
});

const spinlock = make_config(lock_selftest, { variant: 'broken-spinlock' });
const dfs1 = { ...search, strategy: 'dfs' as const, bound: 1 };

test('--keep-going reports every distinct bug the search meets, each once, the first first', async () => {
  const first = await check_scenario(lock_selftest, spinlock, dfs1);
  const all = await check_scenario(lock_selftest, spinlock, { ...dfs1, keep_going: true });
  assert.equal(first.bugs.length, 1);
  assert.ok(all.bugs.length >= 3, all.bugs.map((b) => b.signature).join('\n'));
  const signatures = all.bugs.map((b) => b.signature);
  assert.equal(new Set(signatures).size, signatures.length);
  assert.equal(all.bug, all.bugs[0]);
  assert.equal(all.bug?.signature, first.bug?.signature);
  // A race is one bug whichever of its accesses comes second: its functions are sorted.
  for (const s of signatures) assert.match(s, /^data-race in (\S+) \/ (\S+) on [\w.[\]]+$/);
  // It runs to its bound, past every bug: what it proved, it says.
  assert.equal(all.proved_bound, 1);
  assert.ok(all.schedules > first.schedules);
});

test('--bug-class searches past bugs of other classes', async () => {
  const r = await check_scenario(fault_vs_munmap, broken, {
    ...search,
    strategy: 'dfs',
    bound: 2,
    bug_class: 'data-race',
    schedules: 300,
  });
  // Seed 000's use-after-free, found at once without the filter, is passed by.
  assert.equal(r.bug, null);
  assert.equal(r.schedules, 300);
});

test('BUG_CLASSES names every class the model and its checkers report', () => {
  const classes = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (path.endsWith('.ts'))
        for (const m of readFileSync(path, 'utf8').matchAll(/KernelBug\(\s*'([^']+)'/g))
          classes.add(m[1]!);
    }
  };
  walk('src');
  assert.ok(classes.size >= 10);
  assert.deepEqual(
    [...classes].filter((c) => !(BUG_CLASSES as readonly string[]).includes(c)),
    [],
  );
});
