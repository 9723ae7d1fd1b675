/*
 * mmlab bench and mmlab report as a user drives them: the JSON contract
 * ({"results": [...]} with p99_alone_ns for fault-vs-mprotect), the table,
 * and every bad argument as one line on stderr with exit status 2 and
 * nothing on stdout or on disk.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mmlab } from '../helpers.js';

test('bench --json under timing: the contract fields for every policy and CPU count asked for', () => {
  const r = mmlab(
    'bench',
    'pft',
    '--executor',
    'timing',
    '--cpus',
    '1,4',
    '--policy',
    'mmap-lock,vma-refcnt',
    '--json',
  );
  assert.equal(r.code, 0, r.err);
  const { results } = JSON.parse(r.out) as { results: Record<string, unknown>[] };
  assert.deepEqual(
    results.map((x) => [x.policy, x.cpus]),
    [
      ['mmap-lock', 1],
      ['mmap-lock', 4],
      ['vma-refcnt', 1],
      ['vma-refcnt', 4],
    ],
  );
  for (const x of results) {
    assert.equal(x.workload, 'pft');
    assert.equal(x.executor, 'timing');
    for (const f of ['ops_per_s', 'p50_ns', 'p99_ns'] as const) {
      assert.equal(typeof x[f], 'number', f);
      assert.ok((x[f] as number) > 0, `${f} of ${x.policy} at ${x.cpus}`);
    }
    assert.ok((x.p50_ns as number) <= (x.p99_ns as number));
  }
});

test('bench fault-vs-mprotect reports p99_alone_ns: the writer slows mmap-lock faults, not vma-rwsem ones', () => {
  const r = mmlab(
    'bench',
    'fault-vs-mprotect',
    '--executor',
    'timing',
    '--cpus',
    '2',
    '--policy',
    'mmap-lock,vma-rwsem',
    '--json',
  );
  assert.equal(r.code, 0, r.err);
  const { results } = JSON.parse(r.out) as {
    results: { policy: string; p50_ns: number; p99_ns: number; p99_alone_ns: number }[];
  };
  const [mmap, vma] = results;
  // A fault alone has its own tail: one in pcp->batch refills the per-CPU page list under zone->lock.
  assert.ok(mmap!.p99_ns >= 2 * mmap!.p99_alone_ns, JSON.stringify(mmap));
  assert.ok(vma!.p99_ns <= 1.25 * vma!.p99_alone_ns, JSON.stringify(vma));
  // Typically a mmap-lock fault waits out an mprotect; a per-VMA one does not.
  assert.ok(mmap!.p50_ns >= 5 * vma!.p50_ns, JSON.stringify(results));
});

test('bench fault-vs-mprotect counts faults per mprotect: one under mmap-lock, where each waits out an mprotect, more under a per-VMA lock', () => {
  const args = ['bench', 'fault-vs-mprotect', '--executor', 'timing', '--cpus', '1,2'];
  const json = mmlab(...args, '--policy', 'mmap-lock,vma-refcnt', '--json');
  assert.equal(json.code, 0, json.err);
  const { results } = JSON.parse(json.out) as {
    results: { policy: string; cpus: number; p50_ns: number; counters: Record<string, number> }[];
  };
  const per_mprotect = (policy: string, cpus: number) => {
    const c = results.find((x) => x.policy === policy && x.cpus === cpus)!.counters;
    return c.run_ops! / c.interferer_ops!;
  };
  // On one CPU there is no writer: no mprotect to count the faults by.
  assert.equal(results.find((x) => x.cpus === 1)!.counters.interferer_ops, 0);
  const mmap = per_mprotect('mmap-lock', 2);
  assert.ok(mmap >= 0.9 && mmap <= 1.5, `mmap-lock: ${mmap} faults an mprotect`);
  assert.ok(per_mprotect('vma-refcnt', 2) > 1.2 * mmap, JSON.stringify(results));
  // Why: a fault under mmap-lock waits out the mprotect beside it, one under a per-VMA lock does not.
  const p50_ns = (policy: string, cpus: number) =>
    results.find((x) => x.policy === policy && x.cpus === cpus)!.p50_ns;
  assert.ok(p50_ns('mmap-lock', 2) > 3 * p50_ns('mmap-lock', 1), JSON.stringify(results));
  assert.ok(p50_ns('vma-refcnt', 2) < 1.5 * p50_ns('vma-refcnt', 1), JSON.stringify(results));
  // The table names the ratio by the two operations, and has none without a writer.
  const table = mmlab(...args, '--policy', 'mmap-lock');
  assert.equal(table.code, 0, table.err);
  const rows = table.out.trim().split('\n');
  assert.match(rows[1]!, /faults\/mprotect$/);
  assert.match(rows[2]!, / -$/);
  assert.match(rows[3]!, / 1\.\d$/);
});

test('bench prints a table with a row per point, the executor and profile named', () => {
  const r = mmlab('bench', 'mmap-churn', '--executor', 'timing', '--profile', 'js', '--cpus', '1');
  assert.equal(r.code, 0, r.err);
  const rows = r.out.trim().split('\n');
  assert.match(rows[0]!, /^mmap-churn: /);
  assert.equal(rows.length, 2 + 4, r.out);
  for (const row of rows.slice(2)) assert.match(row, /timing\/js +1 /);
});

test('bench --lines under timing: under each row, the lines the CPUs waited for, the VMA lock line first on pft', () => {
  const r = mmlab(
    'bench',
    'pft',
    '--executor',
    'timing',
    '--policy',
    'vma-rwsem',
    '--cpus',
    '8',
    '--lines',
  );
  assert.equal(r.code, 0, r.err);
  const rows = r.out.trim().split('\n');
  assert.match(rows[2]!, /^vma-rwsem +timing\/hw +8 /);
  assert.match(
    rows[3]!,
    /^ +[\d.]+ [nµm]?s waited +[\d.]+ transfers \/op {2}vm_area_struct@0x[0-9a-f]+\.\{vm_refcnt\.refs,/,
  );
});

test('bench and report: bad arguments are one line naming the problem, exit 2, nothing on stdout', () => {
  const cases: [string[], RegExp][] = [
    [['bench', 'nosuch'], /nosuch/],
    [['bench', 'pft', '--executor', 'gpu'], /gpu/],
    [['bench', 'pft', '--cpus', '0'], /--cpus/],
    [['bench', 'pft', '--cpus', '1,x'], /--cpus/],
    [['bench', 'pft', '--executor', 'timing', '--cpus', '512'], /512/],
    [['bench', 'pft', '--policy', 'big-lock'], /big-lock/],
    // pft's 256 native CPUs' pages do not fit its window: refused before 1 CPU runs.
    [['bench', 'pft', '--executor', 'native', '--cpus', '1,256'], /do not fit/],
    [['bench', 'pft', '--profile', 'js'], /--profile/],
    [['bench', 'pft', '--lines'], /--lines/],
    [['bench', 'pft', '--executor', 'timing', '--profile', 'arm'], /arm/],
    [['bench', 'pft', '--frobnicate'], /frobnicate/],
    [['report', '--out', '/nonexistent-dir/r.html'], /nonexistent-dir/],
  ];
  for (const [args, names] of cases) {
    const r = mmlab(...args);
    const what = args.join(' ');
    assert.equal(r.code, 2, `${what}: ${r.err}`);
    assert.equal(r.out, '', what);
    const lines = r.err.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: ${r.err}`);
    assert.match(lines[0]!, names, what);
  }
});

test('report --out a directory: exit 2 and nothing written there', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-report-'));
  try {
    const r = mmlab('report', '--out', dir);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /a directory/);
    assert.deepEqual(readdirSync(dir), []);
    assert.ok(!existsSync(`${dir}.html`));
  } finally {
    rmSync(dir, { recursive: true });
  }
});
