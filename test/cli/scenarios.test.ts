/*
 * A scenario as a user of mmlab check meets it: its variants and
 * parameters listed with their meaning, its defaults clean on the fixed
 * kernel, values only a native run can take refused, and a directed
 * schedule that does not happen as written reported, not passed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCENARIOS } from '../../src/scenarios/index.js';
import { mmlab } from '../helpers.js';

/** Bad usage: exactly `line` on stderr, exit 2, nothing on stdout. */
function refused(args: string[], line: string): void {
  const r = mmlab(...args);
  assert.equal(r.code, 2, r.err);
  assert.equal(r.out, '');
  assert.equal(r.err, `${line}\n`);
}

test('check --list: every scenario, each variant and parameter with its meaning', () => {
  const r = mmlab('check', '--list');
  assert.equal(r.code, 0, r.err);
  for (const name of SCENARIOS.keys()) assert.match(r.out, new RegExp(`^${name}: `, 'm'));
  assert.match(
    r.out,
    /^ {4}broken-spinlock {2}spin_lock\(\) acquires with a load and then a store, not one atomic step$/m,
  );
  assert.match(r.out, /^ {4}race=0 {2}the race: 0 fault vs munmap .*\(at most 3\)$/m);
  assert.match(r.out, /^ {4}iters=4 {2}.*\(natively 20; 0 runs until stopped, natively only\)$/m);
  const j = JSON.parse(mmlab('check', '--list', '--json').out);
  assert.deepEqual(
    j.scenarios.map((s: { name: string }) => s.name),
    [...SCENARIOS.keys()],
  );
  const fvm = j.scenarios.find((s: { name: string }) => s.name === 'fault-vs-mprotect');
  assert.deepEqual(fvm.params[0], {
    name: 'big_pages',
    default: 8,
    doc: 'pages of the VMA cpu0 populates and mprotects',
    native: 32768,
  });
});

test('check SCENARIO --list: that scenario alone; help check points to the list', () => {
  const r = mmlab('check', 'fault-vs-munmap', '--list');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.match(/^\S/gm)?.length, 1, r.out);
  assert.match(r.out, /^ {4}seed001-put-reads-mm-late {4}seed 001: /m);
  assert.match(r.out, /^ {2}parameters \(--param K=V, defaults shown\): none$/m);
  const help = mmlab('help', 'check');
  assert.match(help.out, /mmlab check --list \(one: mmlab check SCENARIO --list\)\n$/);
  refused(['check', '--list', '--catalogue'], 'mmlab: --list and --catalogue: give one');
});

test("a listed scenario's defaults explore clean on the fixed kernel, whatever the strategy", () => {
  for (const strategy of ['random', 'pct', 'dfs']) {
    const r = mmlab('check', 'fault-vs-mprotect', '--strategy', strategy, '--schedules', '20');
    assert.equal(r.code, 0, `${strategy}: ${r.out}${r.err}`);
    assert.match(r.out, /^clean: fault-vs-mprotect, 20 schedules/);
  }
});

test('values only a native run can take are refused by check, naming mmlab stress', () => {
  refused(
    ['check', 'mm-stress', '--param', 'iters=0'],
    'mmlab: --param iters=0 runs until stopped: natively only (mmlab stress)',
  );
  refused(
    ['check', 'fault-vs-mprotect', '--param', 'mprotects=0', '--json'],
    'mmlab: --param mprotects=0 mprotects until the faulters are done: natively only (mmlab stress)',
  );
});

test('directed phases: a task the run lacks is refused before it, a phase never reached after it', () => {
  const directed = ['check', 'fault-vs-munmap', '--strategy', 'directed', '--phases'];
  refused(
    [...directed, '0:+1,5:load:vm_lock_seq'],
    "mmlab: --phases: phase 2 '5:load:vm_lock_seq': no task 5 (tasks: 0 cpu0, 1 cpu1, 2 rcu_gp_kthread)",
  );
  refused(
    [...directed, '0:+1,1:store:no_such_field,0:*', '--json'],
    "mmlab: --phases: phase 2 '1:store:no_such_field' was never reached: task 1 made no store of an address whose name contains 'no_such_field' while another task could run (tasks: 0 cpu0, 1 cpu1, 2 rcu_gp_kthread)",
  );
  const ok = mmlab(...directed, '0:+1,1:*,0:*');
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /^clean: fault-vs-munmap, 1 schedules/);
});
