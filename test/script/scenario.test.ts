import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import { Sequential, search_strategy } from '../../src/check/strategy.js';
import type { ConcurrentScript } from '../../src/script/ast.js';
import { parse_concurrent } from '../../src/script/concurrent.js';
import { format_result, format_word } from '../../src/script/print.js';
import {
  SCRIPT_VARIANTS,
  type ScriptOutcome,
  script_scenario,
  serial_scenario,
} from '../../src/script/scenario.js';

const SCRIPT = parse_concurrent(`mmap 0x10000 4 rw- private anon fixed
write 0x10000 5
cpu 0:
  munmap 0x10000 1
  fork
  p1 read 0x11000
cpu 1:
  write 0x11000 7
  read 0x10000
  p1 write 0x11000 9
`);

const CFG = { policy: 'vma-refcnt', variant: '', params: {} };

/* One serial order's outcome of `s`, on the serial scenario's one CPU. */
function serial_outcome(s: ConcurrentScript, order: number[]): ScriptOutcome {
  const ex = new Explorer(serial_scenario(s), { ...CFG, cpus: 1 }, { kcsan: false });
  const g = ex.exec.globals as { order: number[]; outcome: ScriptOutcome };
  g.order = order;
  const strategy = new Sequential();
  strategy.begin(0);
  assert.equal(ex.exec.run(strategy).bug, null);
  return g.outcome;
}

/* One serial order's outcome of SCRIPT, its results and words as a run prints them. */
function serial(order: number[]) {
  const o = serial_outcome(SCRIPT, order);
  return {
    ...o,
    cpus: o.cpus.map((c) => c.map(format_result)),
    contents: o.contents.map(format_word),
  };
}

test('a serial order runs each command as its CPU thread, forks publishing their child', () => {
  // cpu 0 forks: every read and write is two steps, its fault then its access.
  assert.deepEqual(serial([0, 1, 1, 0, 1, 1, 0, 0, 1, 1]), {
    cpus: [
      ['ok', 'ok', '= 0x00000007'],
      ['ok', 'SIGSEGV', 'ok'],
    ],
    maps: [0, 1].map((pid) => ({
      pid,
      vmas: [{ start: 0x11000, end: 0x14000, perm: 'rw-p', offset: 0, name: '' }],
    })),
    contents: [
      'p0 0x10000 SIGSEGV',
      'p0 0x11000 = 0x00000007',
      'p1 0x10000 SIGSEGV',
      'p1 0x11000 = 0x00000009',
    ],
  });
  // cpu 1 names p1 before cpu 0's fork made it: ESRCH; and it read p0's word before the munmap.
  const early = serial([1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual(early.cpus[1], ['ok', '= 0x00000005', 'ESRCH']);
  assert.equal(early.maps.length, 2);
});

/* `s` searched one CPU a section, every sanitizer on: the explorer, and its result. */
function explore(
  s: ConcurrentScript,
  strategy: 'random' | 'dfs',
  schedules: number,
  bound: number,
) {
  const ex = new Explorer(script_scenario(s), { ...CFG, cpus: s.cpus.length });
  const o = { seed: 1, schedules, depth: 3, bound, shard: { index: 0, count: 1 } };
  return { ex, r: ex.check(search_strategy(strategy, o)) };
}

test('the explorer runs a concurrent script one CPU a section, every sanitizer on', () => {
  const { ex, r } = explore(SCRIPT, 'random', 10, 2);
  assert.equal(r.bug, null);
  assert.equal(r.schedules, 10);
  const { outcome } = ex.exec.globals as { outcome: ScriptOutcome };
  assert.equal(outcome.cpus.length, 2);
  assert.equal(format_result(outcome.cpus[0]![0]!), 'ok');
});

test("a section's exit ends the process: a later command of it on another CPU prints ESRCH, and the process leaves the outcome", () => {
  const s = parse_concurrent(`mmap 0x10000 2 rw- private anon fixed
fork
cpu 0:
  p1 write 0x10000 3
  p1 read 0x10000
cpu 1:
  p1 exit
`);
  const results = (order: number[]) => {
    const o = serial_outcome(s, order);
    return { cpus: o.cpus.map((c) => c.map(format_result)), pids: o.maps.map((m) => m.pid) };
  };
  // The exit first: cpu 0 never finds p1.
  assert.deepEqual(results([1, 0, 0]), { cpus: [['ESRCH', 'ESRCH'], ['ok']], pids: [0] });
  // Between cpu 0's commands: its thread of p1 is killed, and its reference (p1's last) put.
  assert.deepEqual(results([0, 1, 0]), { cpus: [['ok', 'ESRCH'], ['ok']], pids: [0] });
  assert.deepEqual(results([0, 0, 1]), { cpus: [['ok', '= 0x00000003'], ['ok']], pids: [0] });
  // Every interleaving: no sanitizer report, and every mm freed (the scenario's check).
  assert.equal(explore(s, 'dfs', 100_000, 1).r.bug, null);
});

test('a command under way when its process exits finishes on the mm it holds: an access faulted in before the exit reads', () => {
  // The read straddles two pages: the fault of each, then the access (docs/scripts.md).
  const s = parse_concurrent(`mmap 0x10000 2 rw- private anon fixed
fork
cpu 0:
  p1 read 0x10ffe
cpu 1:
  p1 exit
`);
  const first = (order: number[]) => format_result(serial_outcome(s, order).cpus[0]![0]!);
  assert.equal(first([0, 1, 0, 0]), '= 0x00000000');
  assert.equal(first([1, 0, 0, 0]), 'ESRCH');
});

test("a script takes every catalogue scenario's variant", () => {
  assert.ok(SCRIPT_VARIANTS.includes('cve-2023-3269-stackrot'), SCRIPT_VARIANTS.join(' '));
  assert.equal(new Set(SCRIPT_VARIANTS).size, SCRIPT_VARIANTS.length);
});

test("every schedule starts from the setup's pins, whatever the one before left", () => {
  // The first schedule's teardown unpins the setup's pin; the later ones must unpin it too.
  const s = parse_concurrent(`mmap - 1 rw- private anon
pin 0x3ffffff0
cpu 0:
  read 0x3ffffff0
cpu 1:
  read 0x3ffffff4
`);
  const ex = new Explorer(script_scenario(s), { ...CFG, cpus: 2 });
  const strategy = search_strategy('random', { seed: 1, schedules: 5, depth: 0, bound: 0 });
  let runs = 0;
  for (; strategy.begin(runs); runs++) {
    const bug = ex.exec.run(strategy).bug;
    assert.equal(bug, null, bug?.message);
  }
  assert.equal(runs, 5);
});

test("a schedule that ends in a bug leaves a section's pin: the next schedule's teardown does not unpin it", () => {
  // StackRot put back: a use-after-free ends some schedules while cpu 1 holds its pin.
  const s = parse_concurrent(`mmap 0x100000 2 rw- private anon fixed growsdown
mmap 0x110000 2 rw- private anon fixed
write 0x101000 1
write 0x111000 1
cpu 0:
  write 0xfff08 0x57ac0
  read 0xfff08
cpu 1:
  pin 0x111000
  write 0x110008 0x57ac1
  read 0x110008
  unpin 0x111000
`);
  const ex = new Explorer(
    script_scenario(s),
    { policy: 'mmap-lock', variant: 'cve-2023-3269-stackrot', params: {}, cpus: 2 },
    {},
  );
  const strategy = search_strategy('dfs', { seed: 1, schedules: 300, depth: 0, bound: 1 });
  const classes = new Set<string>();
  for (let i = 0; strategy.begin(i); i++) {
    const bug = ex.exec.run(strategy).bug;
    if (bug) classes.add(`${bug.bug_class}: ${bug.message.split('\n')[0]}`);
  }
  const found = [...classes];
  assert.ok(
    found.some((c) => c.startsWith('use-after-free')),
    found.join('\n'),
  );
  assert.deepEqual(
    found.filter((c) => !c.startsWith('use-after-free')),
    [],
  );
});

test("a serial order's population step faults the pages where its mapping step placed them", () => {
  // Populating the writable private mapping copies the file's page: a write to the file after
  // the population is not seen there; one before it (or with no population at all) is.
  const s = parse_concurrent(`file f 1
mmap 0x10000 1 rw- shared file=f fixed
cpu 0:
  mmap - 1 rw- private file=f populate
  read 0x3ffff000
cpu 1:
  write 0x10000 7
`);
  const read = (order: number[]) => format_result(serial_outcome(s, order).cpus[0]![1]!);
  assert.equal(format_result(serial_outcome(s, [0, 0, 0, 1]).cpus[0]![0]!), '0x3ffff000');
  const file_word = read([0, 0, 0, 1]);
  assert.notEqual(file_word, '= 0x00000007');
  assert.equal(read([0, 0, 1, 0]), file_word);
  assert.equal(read([0, 1, 0, 0]), '= 0x00000007');
});
