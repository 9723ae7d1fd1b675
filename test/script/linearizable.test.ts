import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelBug } from '../../src/runtime/ops.js';
import { parse_concurrent, print_concurrent } from '../../src/script/concurrent.js';
import {
  allowed_outcomes,
  check_linearizable,
  serial_orders_of,
} from '../../src/script/linearizable.js';

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

test('a word racing a write may hold bytes of each value (user memory goes a byte at a time), no other', () => {
  const race = parse_concurrent(
    'file f 1\nmmap 0x10000 1 rw- shared file=f fixed\ncpu 0:\n  write 0x10004 5\ncpu 1:\n  read 0x10004\n',
  );
  const text = print_concurrent(race);
  const a = allowed_outcomes(race, text, CFG);
  assert.deepEqual(a.outcomes.map((o) => o.outcome.cpus[1]![0]).sort(), [
    '= 0x00000005',
    '= 0x10000001',
  ]);
  const { outcome } = a.outcomes[0]!;
  const read = (r: string) => ({ ...outcome, cpus: [outcome.cpus[0]!, [r]] });
  // Three bytes of the file's word 0x10000001 and the top byte of the write's 5.
  check_linearizable(race, text, CFG, read('= 0x00000001'));
  assert.throws(
    () => check_linearizable(race, text, CFG, read('= 0x00000007')),
    /printed = 0x00000007/,
  );
  assert.throws(() => check_linearizable(race, text, CFG, read('SIGSEGV')), /printed SIGSEGV/);
});
