import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import { search_strategy } from '../../src/check/strategy.js';
import { KernelBug } from '../../src/runtime/ops.js';
import { parse_concurrent, print_concurrent } from '../../src/script/concurrent.js';
import {
  allowed_outcomes,
  check_linearizable,
  serial_orders_of,
} from '../../src/script/linearizable.js';
import { type ScriptOutcome, script_scenario } from '../../src/script/scenario.js';

const S = parse_concurrent(`mmap 0x10000 1 rw- private anon fixed
cpu 0:
  write 0x10000 1
  munmap 0x10000 1
cpu 1:
  read 0x10000
`);
const TEXT = print_concurrent(S);
const CFG = { policy: 'vma-refcnt', variant: '' };

test('the serial orders keep each CPU its own order', () => {
  assert.deepEqual(
    [...serial_orders_of([2, 1])],
    [
      [0, 0, 1],
      [0, 1, 0],
      [1, 0, 0],
    ],
  );
  assert.equal([...serial_orders_of([2, 2, 1])].length, 30);
});

test("the allowed outcomes are the serial orders' distinct ones", () => {
  const a = allowed_outcomes(S, TEXT, CFG);
  assert.equal(a.bug, false);
  assert.deepEqual(a.outcomes.map((o) => o.outcome.cpus[1]![0]).sort(), [
    '= 0x00000000',
    '= 0x00000001',
    'SIGSEGV',
  ]);
  assert.equal(allowed_outcomes(S, TEXT, CFG), a, 'kept per script, policy and variant');
});

test('an outcome no serial order gives is reported with the command and the closest order', () => {
  const { outcome } = allowed_outcomes(S, TEXT, CFG).outcomes[0]!;
  check_linearizable(S, TEXT, CFG, outcome);
  // The read saw a value no write made.
  const forged = { ...outcome, cpus: [outcome.cpus[0]!, ['= 0x00000002']] };
  assert.throws(
    () => check_linearizable(S, TEXT, CFG, forged),
    (e: Error) =>
      e instanceof KernelBug &&
      e.bug_class === 'non-linearizable' &&
      /^cpu1's command 1 \(read 0x10000\) printed = 0x00000002, which no serial order/.test(
        e.message,
      ) &&
      /observed: cpu0: ok \| ok; cpu1: = 0x00000002/.test(e.message) &&
      /closest serial order \(cpu\d cpu\d cpu\d\): cpu0: ok \| ok; cpu1: /.test(e.message),
  );
  // Each result a serial order's, the address space none's with them.
  const vma = { start: 0x20000, end: 0x21000, perm: 'rw-p', offset: 0, name: '' };
  const moved = { ...outcome, maps: [{ pid: 0, vmas: [vma] }] };
  assert.throws(
    () => check_linearizable(S, TEXT, CFG, moved),
    /every result is a serial order's, but the final address space .*\n {2}observed: .*; maps p0 \[0x20000-0x21000 rw-p\]/,
  );
});

const RACE = parse_concurrent(`mmap 0x10000 1 rw- shared anon fixed
cpu 0:
  write 0x10004 0x11223344
  write 0x1000a 0x11223344
cpu 1:
  write 0x10004 0x55667788
  write 0x1000a 0x55667788
`);
const RACE_TEXT = print_concurrent(RACE);

test('two racing writes of one aligned word leave one of them, never a mix (single-copy atomic)', () => {
  const race = parse_concurrent(
    'mmap 0x10000 1 rw- shared anon fixed\ncpu 0:\n  write 0x10004 0x11223344\ncpu 1:\n  write 0x10004 0x55667788\n',
  );
  const ex = new Explorer(script_scenario(race), { ...CFG, cpus: 2, params: {} });
  const g = ex.exec.globals as { outcome: ScriptOutcome };
  const strategy = search_strategy('dfs', { seed: 1, schedules: 500, depth: 0, bound: 2 });
  const words = new Set<string>();
  let runs = 0;
  for (let i = 0; strategy.begin(i); i++, runs++) {
    assert.equal(ex.exec.run(strategy).bug, null);
    words.add(g.outcome.contents[0]!);
  }
  assert.ok(runs > 10, `${runs} schedules`);
  assert.deepEqual([...words].sort(), ['p0 0x10004 = 0x11223344', 'p0 0x10004 = 0x55667788']);
});

test('a torn aligned word is non-linearizable; an unaligned word may take each part from a value', () => {
  const { outcome } = allowed_outcomes(RACE, RACE_TEXT, CFG).outcomes[0]!;
  const finals = (w4: string, wa: string) => ({
    ...outcome,
    contents: [`p0 0x10004 = 0x${w4}`, `p0 0x1000a = 0x${wa}`],
  });
  check_linearizable(RACE, RACE_TEXT, CFG, finals('55667788', '55667788'));
  // Bytes of each value in the aligned word: no x86 makes it.
  assert.throws(
    () => check_linearizable(RACE, RACE_TEXT, CFG, finals('11227788', '55667788')),
    (e: Error) =>
      e instanceof KernelBug &&
      e.bug_class === 'non-linearizable' &&
      /final address space .*\n {2}observed: .*words p0 0x10004 = 0x11227788/.test(e.message),
  );
  // 0x1000a is two parts, one per word it touches (0x1000a-b, 0x1000c-d): each some write's.
  check_linearizable(RACE, RACE_TEXT, CFG, finals('55667788', '11227788'));
  assert.throws(
    () => check_linearizable(RACE, RACE_TEXT, CFG, finals('55667788', '11667788')),
    /final address space/,
  );
});
