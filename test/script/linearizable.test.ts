import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import { search_strategy } from '../../src/check/strategy.js';
import { KernelBug } from '../../src/runtime/ops.js';
import {
  parse_concurrent,
  print_concurrent,
  section_steps,
  serial_orders,
} from '../../src/script/concurrent.js';
import {
  allowed_outcomes,
  check_linearizable,
  serial_orders_of,
} from '../../src/script/linearizable.js';
import { format_result, format_word, word_read } from '../../src/script/print.js';
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
  assert.deepEqual(a.outcomes.map((o) => format_result(o.outcome.cpus[1]![0]!)).sort(), [
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
  const forged = { ...outcome, cpus: [outcome.cpus[0]!, [word_read(2)]] };
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
    words.add(format_word(g.outcome.contents[0]!));
  }
  assert.ok(runs > 10, `${runs} schedules`);
  assert.deepEqual([...words].sort(), ['p0 0x10004 = 0x11223344', 'p0 0x10004 = 0x55667788']);
});

test('a torn aligned word is non-linearizable; an unaligned word may take each part from a value', () => {
  const { outcome } = allowed_outcomes(RACE, RACE_TEXT, CFG).outcomes[0]!;
  const finals = (w4: number, wa: number) => ({
    ...outcome,
    contents: [
      { pid: 0, addr: 0x10004, read: word_read(w4) },
      { pid: 0, addr: 0x1000a, read: word_read(wa) },
    ],
  });
  check_linearizable(RACE, RACE_TEXT, CFG, finals(0x55667788, 0x55667788));
  // Bytes of each value in the aligned word: no x86 makes it.
  assert.throws(
    () => check_linearizable(RACE, RACE_TEXT, CFG, finals(0x11227788, 0x55667788)),
    (e: Error) =>
      e instanceof KernelBug &&
      e.bug_class === 'non-linearizable' &&
      /final address space .*\n {2}observed: .*words p0 0x10004 = 0x11227788/.test(e.message),
  );
  // 0x1000a is two parts, one per word it touches (0x1000a-b, 0x1000c-d): each some write's.
  check_linearizable(RACE, RACE_TEXT, CFG, finals(0x55667788, 0x11227788));
  assert.throws(
    () => check_linearizable(RACE, RACE_TEXT, CFG, finals(0x55667788, 0x11667788)),
    /final address space/,
  );
});

/* Every schedule of `s` with at most one preemption: no bug, and the number of schedules run. */
function explore_clean(s: ReturnType<typeof parse_concurrent>, policy = CFG.policy): number {
  const ex = new Explorer(script_scenario(s), { ...CFG, policy, cpus: 2, params: {} });
  const strategy = search_strategy('dfs', { seed: 1, schedules: 2000, depth: 0, bound: 1 });
  let runs = 0;
  for (let i = 0; strategy.begin(i); i++, runs++) {
    const bug = ex.exec.run(strategy).bug;
    assert.equal(bug, null, bug?.message);
  }
  return runs;
}

test("a write across pages faults a page at a time: a stack's mremap between its faults is a serial order's", () => {
  // Its first fault grows the stack a page; the mremap moves the stack's lowest pages away; its
  // second fault grows the rest down again: two VMAs, where a whole-command order leaves one.
  const s = parse_concurrent(`mmap 0x20010000 16 rw- private anon growsdown fixed
cpu 0:
  write 0x2000fffe 0x11223344
cpu 1:
  mremap 0x20010000 4 8 maymove
`);
  assert.deepEqual(section_steps(s), [3, 1]);
  assert.equal(serial_orders(s), 4);
  assert.ok(explore_clean(s) > 100);
});

test("a fork between an access's fault that grew a stack and its store is a serial order's", () => {
  // The child has the grown stack but not the word: the store came after the fork.
  const s = parse_concurrent(`mmap - 1 rw- private anon growsdown
cpu 0:
  fork
cpu 1:
  write 0x3fffa50c 0x12c08161
`);
  assert.deepEqual(section_steps(s), [1, 2]);
  assert.ok(explore_clean(s) > 50);
});

test("two sections' exits of one process may both find it alive, and both end it: each exit's lookup is a step", () => {
  // Found by a fixed-kernel fuzz campaign (seed 11, program 237) when an exit was one step.
  const s = parse_concurrent(`mmap - 9 rw- private anon
cpu 0:
  mremap 0x3fff7000 4 1
  exit
cpu 1:
  read 0x3fff8ffc
  mprotect 0x3fff9000 1 ---
  exit
`);
  assert.deepEqual(section_steps(s), [3, 5]);
  const exits = allowed_outcomes(s, print_concurrent(s), CFG).outcomes.map((o) =>
    [o.outcome.cpus[0]!.at(-1)!, o.outcome.cpus[1]!.at(-1)!].map(format_result).join(' '),
  );
  assert.ok(exits.includes('ok ok'), exits.join(', '));
  assert.ok(exits.includes('ok ESRCH'), exits.join(', '));
  assert.ok(explore_clean(s) > 100);
});

test('a read across pages racing the munmap of its second page is a serial order', () => {
  const s = parse_concurrent(`mmap 0x10000 2 rw- private anon fixed
write 0x10ffc 0x11223344
write 0x11000 0x55667788
cpu 0:
  read 0x10ffe
cpu 1:
  munmap 0x11000 1
`);
  assert.ok(explore_clean(s) > 20);
});

const STRADDLE = parse_concurrent(`mmap 0x10000 2 rw- private anon fixed
cpu 0:
  write 0x10ffe 0xaabbccdd
  read 0x10ffc
cpu 1:
  munmap 0x11000 1
`);
const STRADDLE_TEXT = print_concurrent(STRADDLE);

test('a write across pages that faults stores nothing: its first part kept is non-linearizable', () => {
  const a = allowed_outcomes(STRADDLE, STRADDLE_TEXT, CFG);
  const printed = (o: ScriptOutcome) => o.cpus[0]!.map(format_result).join(' | ');
  assert.deepEqual([...new Set(a.outcomes.map((o) => printed(o.outcome)))].sort(), [
    'SIGSEGV | = 0x00000000',
    'ok | = 0xccdd0000',
  ]);
  const { outcome } = a.outcomes.find((o) => o.outcome.cpus[0]![0]!.kind === 'signal')!;
  const torn = {
    ...outcome,
    cpus: [[outcome.cpus[0]![0]!, word_read(0xccdd0000)], outcome.cpus[1]!],
    contents: outcome.contents.map((w) =>
      w.pid === 0 && w.addr === 0x10ffc ? { ...w, read: word_read(0xccdd0000) } : w,
    ),
  };
  assert.throws(
    () => check_linearizable(STRADDLE, STRADDLE_TEXT, CFG, torn),
    (e: Error) =>
      e instanceof KernelBug &&
      /^cpu0's command 2 \(read 0x10ffc\) printed = 0xccdd0000, which no serial order/.test(
        e.message,
      ) &&
      /closest serial order \([^)]*cpu0:fault 0x10000 [^)]*cpu0:fault 0x11000 [^)]*\)/.test(
        e.message,
      ),
  );
});

const TORN_READ = parse_concurrent(`mmap 0x10000 1 rw- shared anon fixed
cpu 0:
  write 0x1000a 0x11223344
cpu 1:
  write 0x1000a 0x55667788
cpu 2:
  read 0x1000a
`);
const TORN_READ_TEXT = print_concurrent(TORN_READ);

test("an unaligned read's word may take each part from a different write: judged on its value", () => {
  const { outcome } = allowed_outcomes(TORN_READ, TORN_READ_TEXT, CFG).outcomes[0]!;
  const read = (value: number) => ({
    ...outcome,
    cpus: [...outcome.cpus.slice(0, 2), [word_read(value)]],
  });
  // 0x1000a-b from the second write, 0x1000c-d from the first; then from the first and no write yet.
  check_linearizable(TORN_READ, TORN_READ_TEXT, CFG, read(0x11227788));
  check_linearizable(TORN_READ, TORN_READ_TEXT, CFG, read(0x00003344));
  // 0x1000c-d mixes the two writes: no write's part.
  assert.throws(
    () => check_linearizable(TORN_READ, TORN_READ_TEXT, CFG, read(0x11667788)),
    (e: Error) =>
      e instanceof KernelBug &&
      /^cpu2's command 1 \(read 0x1000a\) printed = 0x11667788, which no serial order/.test(
        e.message,
      ),
  );
});

/* Every schedule of `s` to DFS bound 2, none a bug: what cpu 0's first command printed in them (`all`: its every command, joined by ' | '). */
function first_results_clean(s: ReturnType<typeof parse_concurrent>, all = false): Set<string> {
  const ex = new Explorer(script_scenario(s), { ...CFG, cpus: 2, params: {} });
  const strategy = search_strategy('dfs', { seed: 1, schedules: 5000, depth: 0, bound: 2 });
  const seen = new Set<string>();
  for (let i = 0; strategy.begin(i); i++) {
    const bug = ex.exec.run(strategy).bug;
    assert.equal(bug, null, bug?.message);
    const cpu0 = (ex.exec.globals as { outcome: ScriptOutcome }).outcome.cpus[0]!;
    seen.add((all ? cpu0 : cpu0.slice(0, 1)).map(format_result).join(' | '));
  }
  return seen;
}

/* `text`'s sections take `steps` serial steps, every schedule to DFS bound 2 is clean, and one prints `shown` as cpu 0's results. */
function shows_clean(text: string, steps: readonly number[], shown: string): void {
  const s = parse_concurrent(text);
  assert.deepEqual(section_steps(s), steps);
  const seen = first_results_clean(s, true);
  assert.ok(seen.has(shown), [...seen].join(', '));
}

test("a write that lands after an mprotect returned, through a translation no TLB flush took away, is non-linearizable once the mprotect's CPU reads the word", () => {
  const s = parse_concurrent(`mmap 0x100000 2 rw- private anon fixed
write 0x100008 0x11
cpu 0:
  write 0x100008 0x22
cpu 1:
  mprotect 0x100000 1 r--
  read 0x100008
`);
  const text = print_concurrent(s);
  const { outcomes } = allowed_outcomes(s, text, CFG);
  // The write before the mprotect, seen by the read; or after it, refused.
  const written = outcomes.find((o) => format_result(o.outcome.cpus[0]![0]!) === 'ok')!.outcome;
  assert.equal(format_result(written.cpus[1]![1]!), '= 0x00000022');
  const stale = { ...written, cpus: [written.cpus[0]!, [written.cpus[1]![0]!, word_read(0x11)]] };
  assert.throws(
    () => check_linearizable(s, text, CFG, stale),
    (e: Error) =>
      e instanceof KernelBug &&
      /^cpu1's command 2 \(read 0x100008\) printed = 0x00000011, which no serial order/.test(
        e.message,
      ),
  );
  // The fixed kernel flushes before the mprotect returns: no schedule shows it.
  const runs = explore_clean(s);
  assert.ok(runs > 50, `${runs} schedules`);
});

test('a maps read a VMA at a time may mix moments: a walk through the serial states is allowed', () => {
  // cpu1 changes the low VMA, then the high one; under per-VMA locks the
  // reader may show the low one before its change and the high one after
  // its own: a listing no single moment had, which the walk rule accepts.
  const s = parse_concurrent(`mmap 0x100000 1 rw- private anon fixed
mmap 0x108000 1 r-- private anon fixed
cpu 0:
  maps
cpu 1:
  mprotect 0x100000 1 r--
  mprotect 0x108000 1 rw-
`);
  assert.deepEqual(section_steps(s), [2, 2]);
  const snapshots = allowed_outcomes(s, print_concurrent(s), CFG).outcomes.map((o) =>
    format_result(o.outcome.cpus[0]![0]!),
  );
  const mixed = '00100000-00101000 rw-p 00000000, 00108000-00109000 rw-p 00000000';
  assert.ok(!snapshots.includes(mixed), snapshots.join(' | '));
  const seen = first_results_clean(s);
  assert.ok(seen.has(mixed), [...seen].join(' | '));
});

test('a maps racing an mremap that replaces its destination may show the destination empty, as Linux unmaps it first', () => {
  const s = parse_concurrent(`mmap 0x100000 2 rw- private anon fixed
mmap 0x200000 2 r-- private anon fixed
cpu 0:
  maps
cpu 1:
  mremap 0x100000 2 2 maymove fixed=0x200000
`);
  const seen = first_results_clean(s);
  // The source still there, the destination unmapped, the move not yet made.
  assert.ok(seen.has('00100000-00102000 rw-p 00000000'), [...seen].join(' | '));
});

test("a maps racing the MAP_FIXED that replaces shared anonymous memory names its file under the VMA's lock, before the file is freed", () => {
  // Found by a fixed-kernel duel (seed 1, program 629): the line kept the file's address, and
  // user space read the file's kind after read() returned, when the mmap had put the file.
  const s = parse_concurrent(`mmap 0x10d000 5 r-x private anon fixed
mmap 0x800000 1 rw- shared anon fixed
cpu 0:
  write 0x80004c 0x471c3a8
  maps
cpu 1:
  mmap 0x800000 1 r-- private anon fixed
`);
  assert.ok(explore_clean(s) > 100);
});

test("a maps racing a munmap may show its VMAs gone while the reader's next write still reaches their pages: Linux takes them out of the index before it zaps", () => {
  // Found by a fixed-kernel campaign (seed 2, program 231, the write's page pinned): every
  // serial order of whole commands has the write fail once the maps show the mapping gone.
  shows_clean(
    `mmap 0x100000 2 rw- private anon fixed
write 0x100000 0x11
cpu 0:
  maps
  write 0x100000 0x22
cpu 1:
  munmap 0x100000 2
`,
    [3, 2],
    'none | ok',
  );
});

test("a maps racing an mremap fixed= may show the destination gone while the reader's next write still reaches its old page: Linux unmaps it as munmap does", () => {
  // The write lands in the destination's old page, which the move then replaces: the
  // final word is the source's (none), not the write. Every serial order that showed
  // the gap only at the mremap's own step had the write land after the move.
  // cpu0: the maps' start and end, the write's fault and access (a section runs mremap).
  shows_clean(
    `mmap 0x100000 2 rw- private anon fixed
mmap 0x200000 2 rw- private anon fixed
write 0x200000 0x11
cpu 0:
  maps
  write 0x200000 0x22
cpu 1:
  mremap 0x100000 2 2 maymove fixed=0x200000
`,
    [4, 2],
    '00100000-00102000 rw-p 00000000 | ok',
  );
});

test('a maps racing a shrinking mremap fixed= may show the destination gone and the tail still there: Linux unmaps the destination first', () => {
  // The tail is unmapped after the destination (mremap_to(): do_munmap(), then
  // shrink_vma()): the reader sees the source whole, then writes to its tail, ok.
  shows_clean(
    `mmap 0x100000 4 rw- private anon fixed
mmap 0x200000 2 rw- private anon fixed
write 0x103000 0x11
cpu 0:
  maps
  write 0x103000 0x22
cpu 1:
  mremap 0x100000 4 2 maymove fixed=0x200000
`,
    [4, 3],
    '00100000-00104000 rw-p 00000000 | ok',
  );
});

test('a maps racing an mremap fixed= of the same size over two VMAs may show the second not yet moved beside the first moved: Linux moves them one at a time', () => {
  // remap_move() moves each VMA of the range in turn. The reader shows the second before
  // its move, then meets the first's new VMA write-locked, waits on the mmap lock for the
  // whole mremap, and goes on in the final maps: the second VMA twice.
  const s = parse_concurrent(`mmap 0x100000 1 rw- private anon fixed
mmap 0x101000 1 r-- private anon fixed
mmap 0x200000 2 rw- private anon fixed
cpu 0:
  maps
cpu 1:
  mremap 0x100000 2 2 maymove fixed=0x200000
`);
  const seen = first_results_clean(s);
  const mixed =
    '00101000-00102000 r--p 00000000, 00200000-00201000 rw-p 00000000, 00201000-00202000 r--p 00000000';
  assert.ok(seen.has(mixed), [...seen].join(' | '));
});

test('under the range lock a merge check reads no VMA past a gap: another writer may be freeing it', () => {
  // Found by a fixed-kernel campaign (--cpus 3, seed 12, program 159): the mprotect's
  // vma_neighbours() read the far VMA that the munmap, holding its range, split and freed.
  const s = parse_concurrent(`mmap 0x104000 2 r-x private anon
mmap 0x800000 2 rw- private anon
cpu 0:
  mprotect 0x105000 1 rwx
cpu 1:
  munmap 0x801000 1
`);
  const runs = explore_clean(s, 'range');
  assert.ok(runs > 100, `${runs} schedules`);
});
