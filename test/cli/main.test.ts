/*
 * The command line as a user drives it: the built mmlab, its exit
 * statuses, its one-line errors and its JSON.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mmlab } from '../helpers.js';

test('check of the fixed kernel: exit 0 and JSON with the contract fields', () => {
  const r = mmlab('check', 'lock-selftest', '--schedules', '300', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.bug, null);
  assert.equal(j.schedules, 300);
  assert.equal(typeof j.elapsed_ms, 'number');
});

test('check --variant broken-spinlock: exit 1, the bug class, and a replay that reproduces it', () => {
  const r = mmlab('check', 'lock-selftest', '--variant', 'broken-spinlock', '--json');
  assert.equal(r.code, 1);
  const j = JSON.parse(r.out);
  assert.equal(typeof j.bug.class, 'string');
  assert.match(j.bug.replay, /^m1:lock-selftest:/);
  assert.equal(typeof j.bug.preemptions, 'number');
  const again = mmlab('replay', j.bug.replay, '--json');
  assert.equal(again.code, 1);
  const k = JSON.parse(again.out);
  assert.equal(k.bug.class, j.bug.class);
  assert.equal(k.bug.hash, j.bug.hash);
  const text = mmlab('replay', j.bug.replay);
  assert.match(text.out, /BUG: /);
  assert.match(text.out, /replayed \d+ steps bit for bit/);
});

test('a tampered replay string is a mismatch (exit 1), a garbled one bad input (exit 2)', () => {
  const r = mmlab('check', 'lock-selftest', '--variant', 'broken-spinlock', '--json');
  const replay: string = JSON.parse(r.out).bug.replay;
  const tampered = replay.replace(/:[0-9a-f]{8}$/, ':00000000');
  assert.equal(mmlab('replay', tampered).code, 1);
  const bad = mmlab('replay', 'm1:lock-selftest:c=2:0xQ');
  assert.equal(bad.code, 2);
  assert.equal(bad.err.trim().split('\n').length, 1);
});

test('bad usage: one line on stderr naming the problem, exit 2, nothing on stdout', () => {
  for (const args of [
    ['check', 'no-such-scenario'],
    ['check', 'lock-selftest', '--variant', 'nope'],
    ['check', 'lock-selftest', '--seed', 'abc'],
    ['check', 'lock-selftest', '--schedules', '0'],
    ['check', 'lock-selftest', '--strategy', 'magic'],
    ['check', 'lock-selftest', '--cpus', '99'],
    // The explorer's 255 tasks count fault-vs-mprotect's kthread; natively 255 CPUs need 4.6 GiB.
    ['check', 'fault-vs-mprotect', '--cpus', '255', '--schedules', '1'],
    ['stress', 'fault-vs-mprotect', '--cpus', '255'],
    ['check', 'lock-selftest', '--param', 'iters=x'],
    ['check', 'lock-selftest', '--param', 'nope=1'],
    ['check', 'lock-selftest', '--param', 'iters=99999999999999999999999'],
    ['check', 'lock-selftest', '--param', 'cases=128'],
    ['check', 'vma-races', '--param', 'race=9'],
    ['check', 'lock-selftest', '--shard', '3/3'],
    ['check', 'lock-selftest', '--shard', 'x'],
    ['check', 'lock-selftest', '--jobs', '0'],
    ['check', 'lock-selftest', '--strategy', 'directed', '--phases', '0:*', '--jobs', '2'],
    ['check', 'lock-selftest', '--html', '/no/such/dir/t.html'],
    ['check', 'lock-selftest', '--catalogue'],
    ['check', 'lock-selftest', '--seeds', '3'],
    ['merge', '/no/such/file.json'],
    ['stress', '--seconds', '1', '--param', 'iters=5'],
    ['check', 'lock-selftest', '--frobnicate'],
    ['check'],
    ['frobnicate'],
    [],
  ]) {
    const r = mmlab(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}`);
    assert.equal(r.out, '', `${args.join(' ')}: stdout must be empty`);
    assert.equal(r.err.trim().split('\n').length, 1, `${args.join(' ')}: ${r.err}`);
  }
});

test('help asked for exits 0; bare mmlab is one line pointing to mmlab help, exit 2', () => {
  const asked = mmlab('help', 'check');
  assert.equal(asked.code, 0);
  assert.match(asked.out, /^Usage: mmlab check/);
  // The page in a minute or two, named where a newcomer looks for it.
  assert.match(mmlab('report', '--help').out, /--quick +a short run to see the page/);
  const none = mmlab();
  assert.equal(none.code, 2);
  assert.equal(none.err, 'mmlab: no command given (mmlab help lists the commands)\n');
  const unknown = mmlab('help', 'nosuch');
  assert.equal(unknown.code, 2);
  assert.equal(unknown.out, '');
  assert.equal(unknown.err, "mmlab: unknown command 'nosuch' (mmlab help lists the commands)\n");
});

test('stress runs natively and reports clean', () => {
  const r = mmlab('stress', 'lock-selftest', '--param', 'iters=200', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.bug, null);
  assert.ok(j.steps > 0);
});

test('stress --seconds S runs S seconds with counters; a bad S is one line, exit 2', () => {
  const r = mmlab('stress', '--seconds', '1.5', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.ok(j.elapsed_ms >= 1500, `ran ${j.elapsed_ms} ms`);
  assert.ok(j.counters.vma_lock_success > 0, JSON.stringify(j.counters));
  for (const bad of ['abc', '0', '-1']) {
    const b = mmlab('stress', '--seconds', bad);
    assert.equal(b.code, 2, bad);
    assert.match(b.err, /--seconds must be a positive number of seconds/);
  }
});

test('an output path that cannot be written is refused before any work, leaving no file behind', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-'));
  mkdirSync(join(dir, 'sub'));
  for (const args of [
    ['check', 'lock-selftest', '--variant', 'broken-spinlock', '--html', join(dir, 'sub')],
    ['check', 'lock-selftest', '--variant', 'broken-spinlock', '--html', '/proc/x.html'],
    ['replay', 'm1:lock-selftest:c=2:2x1:00000000', '--html', '/proc/x.html'],
    // The four-minute report: refused at once, or this test times out.
    ['report', '--out', '/proc/x.html'],
    ['report', '--quick', '--out', '/proc/x.html'],
    ['report', '--out', join(dir, 'sub')],
  ]) {
    const r = mmlab(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.equal(r.out, '');
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
  }
  assert.deepEqual(readdirSync(dir), ['sub']);
  assert.deepEqual(readdirSync(join(dir, 'sub')), []);
  rmSync(dir, { recursive: true });
});

test('what an error echoes stays one short line: newlines escaped, a long token cut', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-'));
  const junk = join(dir, 'junk.json');
  writeFileSync(junk, 'not\njson\x00 at all\n');
  const script = join(dir, 'nul.txt');
  writeFileSync(script, `mmap\x00${'z'.repeat(1 << 20)} 1 rw- private anon\n`);
  for (const args of [
    ['run', join(dir, 'no\nsuch')],
    ['merge', junk],
    ['run', script],
    ['check', `x${'y'.repeat(100_000)}`],
  ]) {
    const r = mmlab(...args);
    assert.equal(r.code, 2);
    assert.equal(r.err.split('\n').length, 2, r.err.slice(0, 300));
    assert.ok(r.err.length < 1100, `${r.err.length} characters`);
    assert.ok(!r.err.includes('\0'), 'a NUL byte echoed');
  }
  rmSync(dir, { recursive: true });
});

test('run: a script file prints its output; a bad one is one line, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-'));
  const good = join(dir, 'good.txt');
  writeFileSync(good, 'mmap - 1 rw- private anon\nwrite 0x3ffff000 5\nread 0x3ffff000\n');
  const r = mmlab('run', good);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, '0x3ffff000\nok\n= 0x00000005\np0 maps:\n3ffff000-40000000 rw-p 00000000\n');
  const j = JSON.parse(mmlab('run', good, '--json').out);
  assert.deepEqual(j.results, ['0x3ffff000', 'ok', '= 0x00000005']);
  const bad = join(dir, 'bad.txt');
  writeFileSync(bad, 'mmap - 1 rw- private anon\nmunmap 0x1000\n');
  const b = mmlab('run', bad);
  assert.equal(b.code, 2);
  assert.equal(b.out, '');
  assert.match(b.err.trim(), /^mmlab: .*bad\.txt: line 2: usage: munmap ADDR PAGES$/);
  assert.equal(mmlab('run', join(dir, 'missing.txt')).code, 2);
  const big = join(dir, 'big.txt');
  writeFileSync(big, 'mmap - 20000 rw- private anon populate\n');
  const m = mmlab('run', big);
  assert.equal(m.code, 2);
  assert.equal(m.out, '');
  assert.match(
    m.err.trim(),
    /^mmlab: .*big\.txt: line 1: the script needs more than the model's 64 MiB/,
  );
  rmSync(dir, { recursive: true });
});

test('the parts of a sharded DFS merge into the whole: clean within the bound, and the bug when there is one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-shards-'));
  try {
    const run = (variant: string[], i: number) => {
      const path = join(dir, `part${variant.length}-${i}.json`);
      const r = mmlab(
        'check',
        'fault-vs-munmap',
        '--policy',
        'vma-rwsem',
        ...variant,
        '--strategy',
        'dfs',
        '--bound',
        '2',
        '--shard',
        `${i}/3`,
        '--json',
      );
      assert.ok(r.code === 0 || r.code === 1, r.err);
      writeFileSync(path, r.out);
      return path;
    };
    const clean = [0, 1, 2].map((i) => run([], i));
    const merged = mmlab('merge', ...clean, '--json');
    assert.equal(merged.code, 0, merged.err);
    const m = JSON.parse(merged.out);
    assert.equal(m.complete, true);
    assert.equal(m.proved_bound, 2);
    assert.equal(m.bug, null);
    // Two parts are not the whole: nothing is proved.
    assert.equal(JSON.parse(mmlab('merge', clean[0]!, clean[1]!, '--json').out).proved_bound, null);
    const buggy = [0, 1, 2].map((i) => run(['--variant', 'seed000-up-read-without-rcu'], i));
    const b = mmlab('merge', ...buggy, '--json');
    assert.equal(b.code, 1);
    const j = JSON.parse(b.out);
    assert.equal(j.bug.class, 'use-after-free');
    assert.equal(j.bug.preemptions, 2);
    assert.equal(mmlab('replay', j.bug.replay, '--json').code, 1);
    // Parts of different runs do not merge.
    const mixed = mmlab('merge', clean[0]!, buggy[1]!);
    assert.equal(mixed.code, 2);
    assert.match(mixed.err, /variant .* differs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check --jobs 2 finds what one thread finds; --html draws it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-html-'));
  try {
    const html = join(dir, 'seed000.html');
    const r = mmlab(
      'check',
      'fault-vs-munmap',
      '--policy',
      'vma-rwsem',
      '--variant',
      'seed000-up-read-without-rcu',
      '--strategy',
      'dfs',
      '--jobs',
      '2',
      '--html',
      html,
      '--json',
    );
    assert.equal(r.code, 1, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.jobs, 2);
    assert.equal(j.bug.class, 'use-after-free');
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<svg/);
    assert.match(page, /use-after-free/);
    assert.ok(page.includes(j.bug.replay));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a random walk's failure is retold with the fewest preemptions; PCT states its bound", () => {
  const r = mmlab('check', 'lock-selftest', '--variant', 'broken-spinlock', '--json');
  assert.equal(r.code, 1);
  const j = JSON.parse(r.out);
  assert.equal(j.bug.class, 'exclusion');
  // The walk needed more switches than the bug does: DFS retells it with the two it needs.
  assert.ok(j.found_preemptions > j.bug.preemptions, r.out);
  assert.equal(j.bug.preemptions, 2);
  assert.equal(mmlab('replay', j.bug.replay, '--json').code, 1);
  const pct = JSON.parse(
    mmlab('check', 'lock-selftest', '--strategy', 'pct', '--schedules', '50', '--json').out,
  );
  assert.ok(pct.pct_probability > 0 && pct.pct_probability < 1);
});

test('the errors a newcomer meets first are one plain line each: the hint, the flag, the file named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-'));
  for (const [args, line] of [
    [['chek', 'fault-vs-munmap'], "mmlab: unknown command 'chek' (did you mean check?)"],
    [
      ['check', 'lock-selftest', '--polcy', 'range'],
      "mmlab: unknown option '--polcy' (did you mean --policy?)",
    ],
    [['check', 'lock-selftest', '--cpus', '0'], 'mmlab: --cpus must be between 1 and 255, not 0'],
    [
      ['check', 'lock-selftest', '--schedules', '0'],
      'mmlab: --schedules must be at least 1, not 0',
    ],
    [
      ['check', 'lock-selftest', '--policy', 'vma-rwsm'],
      "mmlab: --policy must be one of mmap-lock, vma-rwsem, vma-refcnt, range, not 'vma-rwsm'",
    ],
    [
      ['bench', 'pft', '--policy', 'vma-rwsm'],
      "mmlab: --policy: unknown policy 'vma-rwsm' (known: mmap-lock, vma-rwsem, vma-refcnt, range)",
    ],
    [['check', 'lock-selftest', '--bound', '2'], 'mmlab: --bound goes with --strategy dfs'],
    [['replay'], 'mmlab: replay needs its STRING argument (mmlab help replay)'],
    [['run'], 'mmlab: run needs its SCRIPT argument (mmlab help run)'],
    [
      ['check', 'lock-selftest', '--strategy', 'dfs', '--depth', '2'],
      'mmlab: --depth goes with --strategy pct, focus or word',
    ],
    [
      ['check', '--catalogue', '--policy', 'range', '--strategy', 'dfs'],
      'mmlab: --policy, --strategy do not go with --catalogue, which runs each variant under its own scenario, policy and strategy (it takes --seeds, --schedules, --time, --stress, --json)',
    ],
    [
      ['run', join(dir, 'nosuch.txt')],
      `mmlab: ${join(dir, 'nosuch.txt')}: cannot read: no such file or directory (ENOENT)`,
    ],
    [
      ['merge', join(dir, 'nosuch.json')],
      `mmlab: ${join(dir, 'nosuch.json')}: cannot read: no such file or directory (ENOENT)`,
    ],
  ] as const) {
    const r = mmlab(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.out, '', args.join(' '));
    assert.equal(r.err, `${line}\n`);
  }
  rmSync(dir, { recursive: true });
});
