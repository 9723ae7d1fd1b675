/*
 * mmlab check --script as a user drives it: a concurrent script explored,
 * its bug replayed from the printed string alone, bad scripts and bad
 * combinations refused before any work.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mmlab } from '../helpers.js';

const STACKROT = 'docs/examples/scripts/stackrot.txt';
const ARGS = ['--script', STACKROT, '--policy', 'mmap-lock', '--strategy', 'dfs'];

test('check --script finds StackRot, and mmlab replay reproduces it from the string alone', () => {
  const r = mmlab('check', ...ARGS, '--variant', 'cve-2023-3269-stackrot', '--json');
  assert.equal(r.code, 1, r.err);
  const { bug, scenario, cpus } = JSON.parse(r.out);
  assert.equal(bug.class, 'use-after-free');
  assert.equal(scenario, 'script');
  assert.equal(cpus, 2);
  assert.match(bug.replay, /^m1:script:c=2,p=mmap-lock,v=cve-2023-3269-stackrot,s=[A-Za-z0-9_-]+:/);
  const replay = mmlab('replay', bug.replay);
  assert.equal(replay.code, 1, replay.err);
  assert.match(replay.out, /^BUG: use-after-free: KASAN: use-after-free: load of maple_node/);
  assert.match(replay.out, new RegExp(`bit for bit \\(trace hash ${bug.hash}\\)`));
  const text = mmlab('check', ...ARGS, '--variant', 'cve-2023-3269-stackrot');
  assert.match(
    text.out,
    /found in --script docs\/examples\/scripts\/stackrot.txt --variant cve-2023-3269-stackrot by dfs/,
  );
  assert.match(text.out, /^replay: mmlab replay m1:script:/m);
});

test('check --script on the fixed kernel is clean, with --jobs too', () => {
  const r = mmlab('check', ...ARGS, '--schedules', '60', '--jobs', '2');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^clean: --script docs\/examples\/scripts\/stackrot.txt, 60 schedules/);
});

test('a bad script is one line naming the file and the line, exit 2, before any work', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-script-'));
  const bad = join(dir, 'bad.txt');
  writeFileSync(
    bad,
    'mmap 0x0 1 rw- private anon fixed\ncpu 0:\n  read 0x0\ncpu 1:\n  p1 read 0x0\n',
  );
  const r = mmlab('check', '--script', bad);
  assert.deepEqual({ code: r.code, out: r.out }, { code: 2, out: '' });
  assert.equal(
    r.err,
    `mmlab: ${bad}: line 5: p1 does not exist (no fork creates it; the forks create none)\n`,
  );
  const one = join(dir, 'one.txt');
  writeFileSync(one, 'cpu 0:\n  read 0x0\n');
  const huge = join(dir, 'huge.txt');
  writeFileSync(huge, 'cpu 0:\n  mmap - 100000 rw- private anon populate\ncpu 1:\n  read 0\n');
  const full = mmlab('check', '--script', huge, '--schedules', '2');
  assert.equal(full.code, 2);
  assert.match(
    full.err,
    /huge.txt: line 2: the script needs more than the model's 16 MiB of kernel memory/,
  );
  assert.match(
    mmlab('check', '--script', one).err,
    /^mmlab: .*one.txt: line 1: a concurrent script has 2 to 4 sections/,
  );
});

test('--script with a SCENARIO, --param or --cpus is bad usage', () => {
  for (const [args, re] of [
    [['fault-vs-munmap', '--script', STACKROT], /check --script takes no SCENARIO/],
    [['--script', STACKROT, '--param', 'iters=2'], /--param goes with a SCENARIO/],
    [['--script', STACKROT, '--cpus', '2'], /--cpus goes with a SCENARIO/],
    [['--script', STACKROT, '--variant', 'nope'], /script: unknown variant 'nope'/],
  ] as const) {
    const r = mmlab('check', ...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.out, '');
    assert.match(r.err, re);
  }
});

/* The rows of docs/scripts.md's table of the seeds' races: each `mmlab check --script ...` command. */
function seed_commands(): string[][] {
  const page = readFileSync(new URL('../../docs/scripts.md', import.meta.url), 'utf8');
  const table = page.slice(page.indexOf("### The seeds' races as scripts"));
  return [...table.matchAll(/^\|[^|]*\|[^|]*\| `mmlab (check --script [^`]+)` \|$/gm)].map((m) =>
    m[1]!.split(' '),
  );
}

test("each seed's race written as a script is found, and the fixed kernel runs it clean", () => {
  const commands = seed_commands();
  assert.equal(commands.length, 10);
  for (const args of commands) {
    const found = mmlab(...args, '--json');
    assert.equal(found.code, 1, `${args.join(' ')}\n${found.err}`);
    assert.notEqual(JSON.parse(found.out).bug, null);
    const v = args.indexOf('--variant');
    const fixed = mmlab(...args.slice(0, v), ...args.slice(v + 2), '--schedules', '100');
    assert.equal(fixed.code, 0, `${args.join(' ')} without --variant\n${fixed.out}${fixed.err}`);
    assert.match(fixed.out, /^clean: /);
  }
});

test("a kernel bug in a script's setup, which runs alone before the CPUs, is reported and replayed like any bug", () => {
  // With the uffd variant a fault takes mmap_lock under the VMA lock; the setup's mprotect then takes them the other way round.
  const file = join(mkdtempSync(join(tmpdir(), 'mmlab-setup-bug-')), 'setup-bug.txt');
  writeFileSync(
    file,
    'mmap 0x100000 2 rw- private anon fixed\nwrite 0x100000 5\nmprotect 0x100000 1 r--\ncpu 0:\n  read 0x100000\ncpu 1:\n  read 0x101000\n',
  );
  const r = mmlab('check', '--script', file, '--variant', 'uffd-vma-lock-then-mmap-lock', '--json');
  assert.equal(r.code, 1, r.err);
  const { bug } = JSON.parse(r.out);
  assert.equal(bug.class, 'lockdep');
  assert.match(
    bug.message,
    /circular locking dependency .*\(in the prologue: cpu0 alone, before any task starts; a script's setup runs there\)$/,
  );
  assert.equal(bug.steps, 0);
  const replay = mmlab('replay', bug.replay);
  assert.equal(replay.code, 1, replay.err);
  assert.match(replay.out, /^BUG: lockdep: .*\(in the prologue/);
  assert.match(replay.out, /\(no step: the run ended before any task took one\)/);
});
