/*
 * mmlab fuzz's programs and campaign: the generator reaches every command
 * from the CPUs, aims them at the setup's memory and stays within the
 * outcome check's orders; a campaign keeps one bug per signature, the
 * first program's, minimized; its shards merge into the whole.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BugReport } from '../../src/check/explorer.js';
import { merge_fuzz_parts } from '../../src/check/merge.js';
import type { CheckOutcome } from '../../src/check/search.js';
import { fuzz_status } from '../../src/cli/fuzz.js';
import { EXIT_BUG, EXIT_OK } from '../../src/cli/usage.js';
import {
  commands,
  type FuzzOptions,
  fuzz,
  fuzz_program,
  type ScriptChecker,
} from '../../src/oracle/fuzz.js';
import { MAX_FUZZ_ORDERS, MAX_SECTION } from '../../src/oracle/gen_concurrent.js';
import {
  type Command,
  type ConcurrentScript,
  is_outside,
  type Line,
  PAGE_SIZE,
  straddles_pages,
  WINDOW_BYTES,
} from '../../src/script/ast.js';
import {
  faults_apart,
  parse_concurrent,
  print_concurrent,
  section_steps,
  serial_orders,
} from '../../src/script/concurrent.js';
import { parse_script } from '../../src/script/parse.js';
import { format_script } from '../../src/script/print.js';
import { run_model } from '../../src/script/run_model.js';

/** Programs 0..199 of seed 1, on 2, 3 and 4 CPUs in turn. */
const corpus = Array.from({ length: 200 }, (_, k) => fuzz_program(1, k, 2 + (k % 3)).script);

/** What a CPU's command is, for coverage: its kind and the flags it carries. */
function features(c: Command): string[] {
  const f: string[] = [c.op];
  if (c.op === 'pin' && c.fast) f.push('pin fast');
  if (c.op === 'mmap')
    for (const flag of ['fixed', 'noreplace', 'populate', 'growsdown', 'shared'] as const)
      if (c[flag]) f.push(`mmap ${flag}`);
  if (c.op === 'mremap') {
    if (c.maymove) f.push('mremap maymove');
    if (c.dontunmap) f.push('mremap dontunmap');
    if (c.fixed !== null) f.push('mremap fixed=');
  }
  return f;
}

/**
 * Whether a CPU of `s` reads or writes in the 3 pages just below a stack
 * of its setup (where the fault grows it): the stack's start is where the
 * model placed it, running the setup alone.
 */
function faults_below_a_stack(s: ConcurrentScript): boolean {
  const run = run_model(parse_script(format_script(s.setup)));
  const stacks = s.setup.flatMap((l, i) =>
    l.cmd.op === 'mmap' && l.cmd.growsdown && /^0x/.test(run.results[i]!)
      ? [Number(run.results[i]) / PAGE_SIZE]
      : [],
  );
  return s.cpus.flat().some((l) => {
    if (l.cmd.op !== 'read' && l.cmd.op !== 'write') return false;
    const page = Math.floor(l.cmd.addr / PAGE_SIZE);
    return stacks.some((start) => page < start && page >= start - 3);
  });
}

test('over 200 programs the CPUs run every command and flag, aimed at the same memory', () => {
  const seen = new Set<string>();
  let shared_targets = 0;
  for (const s of corpus) {
    for (const l of s.cpus.flat()) for (const f of features(l.cmd)) seen.add(`cpu ${f}`);
    for (const l of s.setup) for (const f of features(l.cmd)) seen.add(`setup ${f}`);
    if (s.setup.some((l) => l.cmd.op === 'mmap' && l.cmd.growsdown)) seen.add('setup stack');
    if (s.cpus.flat().some((l) => l.pid > 0)) seen.add('cpu in a child');
    // Two CPUs touching one page: the concurrency the campaign is for.
    const pages = s.cpus.map(
      (lines) =>
        new Set(
          lines.flatMap((l) =>
            'addr' in l.cmd && l.cmd.addr !== null ? [Math.floor(l.cmd.addr / PAGE_SIZE)] : [],
          ),
        ),
    );
    if (pages.some((a, i) => pages.some((b, j) => j > i && [...a].some((p) => b.has(p)))))
      shared_targets++;
  }
  const ops = ['mmap', 'munmap', 'mprotect', 'mremap', 'madvise', 'brk', 'read', 'write'];
  const expected = [
    ...[...ops, 'fork', 'exit', 'maps', 'pin', 'pin fast', 'unpin'].map((op) => `cpu ${op}`),
    ...['fixed', 'noreplace', 'populate', 'growsdown', 'shared'].map((f) => `cpu mmap ${f}`),
    ...['maymove', 'dontunmap', 'fixed='].map((f) => `cpu mremap ${f}`),
    ...['setup file', 'setup mmap', 'setup write', 'setup fork', 'setup stack'],
    'cpu in a child',
  ];
  assert.deepEqual(
    expected.filter((f) => !seen.has(f)),
    [],
  );
  assert.ok(shared_targets > 40, `${shared_targets} of 200 programs have two CPUs on one page`);
  const below = corpus.slice(0, 60).filter(faults_below_a_stack).length;
  assert.ok(below >= 10, `${below} of 60 programs fault just below a stack from a CPU`);
});

test('every program parses back, has its CPUs, 1 to 3 commands each (a pin, its access and unpin after up to 2; a merge, a move or an access of theirs before; a maps anywhere), and few serial orders', () => {
  corpus.forEach((s, k) => {
    assert.equal(s.cpus.length, 2 + (k % 3), `program ${k}`);
    const maps = (c: readonly Line[]) => c.filter((l) => l.cmd.op === 'maps').length;
    assert.ok(s.cpus.reduce((n, c) => n + maps(c), 0) <= 1, `program ${k}: one maps at most`);
    const most = (c: readonly Line[]) =>
      maps(c) + (c.some((l) => l.cmd.op === 'pin') ? MAX_SECTION - 1 + 3 : MAX_SECTION + 1);
    assert.ok(
      s.cpus.every((c) => c.length >= 1 && c.length <= most(c)),
      `program ${k}`,
    );
    // Sections of one command each, a fault and an access at most, are kept whatever their orders.
    const single = s.cpus.every((c) => c.length === 1);
    assert.ok(
      serial_orders(s) <= (single ? 2520 : MAX_FUZZ_ORDERS),
      `program ${k}: ${serial_orders(s)} orders`,
    );
    assert.deepEqual(parse_concurrent(print_concurrent(s)), s);
  });
});

test('a mapping the kernel places is at most a quarter of the window: never below it, where the runner unmaps it in a second call', () => {
  // A fork on another CPU between the runner's mmap and its munmap of a
  // mapping placed below the window copies it: a false non-linearizable.
  const placed = corpus
    .flatMap((s) => [...s.setup, ...s.cpus.flat()])
    .flatMap((l) => (l.cmd.op === 'mmap' && l.cmd.addr === null ? [l.cmd.pages] : []));
  assert.ok(placed.length >= 100, `${placed.length} placed mappings`);
  assert.ok(Math.max(...placed) <= WINDOW_BYTES / PAGE_SIZE / 4, `${Math.max(...placed)} pages`);
});

test('CPUs read and write across page boundaries too, each such access three of the serial steps', () => {
  const straddling = corpus.filter((s) => s.cpus.flat().some((l) => straddles_pages(l.cmd)));
  assert.ok(straddling.length >= 10, `${straddling.length} of 200 programs straddle from a CPU`);
  // Where faults are apart (a stack, an mremap, a fork), any other access is two steps; where
  // a section reads the maps, so is an unmapping (its VMAs out of the index, then the rest).
  for (const s of straddling.filter((x) => x.cpus.length === 2)) {
    const maps = s.cpus.some((c) => c.some((l) => l.cmd.op === 'maps'));
    const unmaps = (c: Command) =>
      c.op === 'munmap' || c.op === 'brk' || (c.op === 'mremap' && c.new_pages < c.old_pages);
    const extra = (l: Line) =>
      straddles_pages(l.cmd)
        ? 2
        : (l.cmd.op === 'read' || l.cmd.op === 'write') && !is_outside(l.cmd) && faults_apart(s)
          ? 1
          : (l.cmd.op === 'mmap' && l.cmd.populate) || l.cmd.op === 'maps'
            ? 1
            : maps && !is_outside(l.cmd) && unmaps(l.cmd)
              ? 1
              : 0;
    assert.deepEqual(
      section_steps(s),
      s.cpus.map((c) => c.length + c.reduce((n, l) => n + extra(l), 0)),
    );
  }
});

/**
 * Whether `s` has seed 004's shape: a CPU pins (gup_fast) a word the setup
 * populated in private writable memory of process X, then X accesses that
 * page again before the unpin, while another CPU forks X.
 */
function pins_against_fork(s: ConcurrentScript): boolean {
  const run = run_model(parse_script(format_script(s.setup)));
  const page = (a: number) => Math.floor(a / PAGE_SIZE);
  return s.cpus.some((c, i) =>
    c.some((l, at) => {
      if (l.cmd.op !== 'pin' || !l.cmd.fast) return false;
      const { addr } = l.cmd;
      const vma = run.maps
        .find((m) => m.pid === l.pid)
        ?.vmas.find((v) => v.start <= addr && addr < v.end);
      const populated = s.setup.some(
        (w, j) =>
          w.cmd.op === 'write' &&
          w.pid === l.pid &&
          page(w.cmd.addr) === page(addr) &&
          run.results[j] === 'ok',
      );
      const unpin = c.findIndex((u, j) => j > at && u.cmd.op === 'unpin');
      const seen = c
        .slice(at + 1, unpin)
        .some((w) => 'addr' in w.cmd && w.pid === l.pid && page(w.cmd.addr ?? -1) === page(addr));
      const fork = s.cpus.some(
        (d, j) => j !== i && d.some((f) => f.cmd.op === 'fork' && f.pid === l.pid),
      );
      return vma?.perm === 'rw-p' && populated && seen && fork;
    }),
  );
}

test("over 200 programs, some have seed 004's shape: a gup_fast pin of a populated private page, an access after it, a fork on another CPU", () => {
  const n = corpus.filter(pins_against_fork).length;
  assert.ok(n >= 10, `${n} of 200 programs`);
});

test('a program is its seed and index: the same twice, and others differ', () => {
  assert.equal(
    print_concurrent(fuzz_program(7, 3, 2).script),
    print_concurrent(fuzz_program(7, 3, 2).script),
  );
  const texts = new Set(
    Array.from({ length: 50 }, (_, k) => print_concurrent(fuzz_program(7, k, 2).script)),
  );
  assert.equal(texts.size, 50);
  assert.notEqual(
    print_concurrent(fuzz_program(7, 0, 2).script),
    print_concurrent(fuzz_program(8, 0, 2).script),
  );
});

/*
 * A checker with a planted bug: any program whose CPUs fork has it, under
 * one signature; nothing else fails. Its searches count 10 schedules.
 */
const FORK_BUG = 'use-after-free in planted on fork.child';
const planting =
  (signature: string): ScriptChecker =>
  async (s) => {
    const has = s.cpus.some((c) => c.some((l) => l.cmd.op === 'fork'));
    const bug: BugReport = {
      class: 'use-after-free',
      message: 'a fork in a CPU',
      task: 'cpu0',
      replay: `m1:script:${commands(s)}`,
      preemptions: 1,
      steps: 1,
      hash: '0',
      table: '',
      signature,
    };
    return {
      bug: has ? bug : null,
      bugs: has ? [bug] : [],
      schedules: 10,
      found_preemptions: null,
      steps: 0,
      elapsed_ms: 0,
      proved_bound: null,
      exhausted: null,
      pct: null,
      explorer: null,
    } as unknown as CheckOutcome;
  };
const planted = planting(FORK_BUG);

const campaign = (o: Partial<FuzzOptions>, check = planted) =>
  fuzz(
    {
      cpus: 2,
      policies: ['vma-refcnt'],
      variant: '',
      seed: 1,
      programs: 40,
      shard: { index: 0, count: 1 },
      ...o,
    },
    check,
  );

test("a bug many programs meet is kept once, the first program's, minimized", async () => {
  const r = await campaign({});
  assert.equal(r.programs, 40);
  assert.equal(r.bugs.length, 1);
  const [b] = r.bugs;
  const forking = Array.from({ length: 40 }, (_, k) => k).filter((k) =>
    fuzz_program(1, k, 2).script.cpus.some((c) => c.some((l) => l.cmd.op === 'fork')),
  );
  assert.ok(forking.length > 1, 'the bug is met more than once');
  assert.equal(b!.program, forking[0]);
  // The least that still forks on a CPU: the fork, and one command on the other CPU.
  assert.equal(b!.commands, 2, b!.script);
  assert.ok(b!.found_commands > 2);
  assert.match(b!.script, /^cpu 0:\n {2}\S.*\ncpu 1:\n {2}\S.*\n$/);
  assert.match(b!.script, /fork/);
  assert.equal(b!.replay, 'm1:script:2');
});

test('the shards of a campaign merge into the whole: programs, schedules and bugs', async () => {
  const whole = await campaign({ programs: 30 });
  const docs = [0, 1, 2].map(async (index) => {
    const part = await campaign({ programs: 30, shard: { index, count: 3 } });
    return {
      source: `part${index}`,
      doc: {
        ...part,
        seed: 1,
        cpus: 2,
        policies: ['vma-refcnt'],
        variant: null,
        programs_budget: 30,
        shard: `${index}/3`,
      },
    };
  });
  const m = merge_fuzz_parts(await Promise.all(docs));
  assert.equal(m.complete, true);
  assert.deepEqual(
    { programs: m.programs, schedules: m.schedules, bugs: m.bugs },
    { programs: whole.programs, schedules: whole.schedules, bugs: whole.bugs },
  );
});

test("a report triaged as Linux's own is listed as known under its policy, with its program's script, not minimized, and fails no campaign", async () => {
  const known = 'data-race in memset / vma_start_read on vm_area_struct.vm_lock_seq';
  const r = await campaign({}, planting(known));
  assert.equal(r.bugs.length, 1);
  const [b] = r.bugs;
  assert.match(b!.triaged ?? '', /^docs\/explorer\.md, "Triage: /);
  assert.equal(b!.script, print_concurrent(fuzz_program(1, b!.program, 2).script));
  assert.equal(fuzz_status(r.bugs), EXIT_OK);
  assert.equal(fuzz_status((await campaign({})).bugs), EXIT_BUG);
  // Under vma-rwsem a freed VMA waits for a grace period: the same race there is a reader outliving RCU.
  const rwsem = await campaign({ policies: ['vma-rwsem'] }, planting(known));
  assert.equal(rwsem.bugs[0]!.triaged, undefined);
  assert.equal(fuzz_status(rwsem.bugs), EXIT_BUG);
});
