/*
 * mmlab run as a user drives it: a script file or standard input, bad
 * input as one line on stderr with exit status 2 and nothing on stdout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mmlab, on_linux } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mmlab-run-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function script_file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Bad input: exactly one line on stderr matching `message`, exit 2, nothing on stdout. */
function assert_bad_input(r: ReturnType<typeof mmlab>, message: RegExp): void {
  assert.equal(r.code, 2, r.err);
  assert.equal(r.out, '');
  assert.equal(r.err.split('\n').length, 2, `one line: ${r.err}`);
  assert.match(r.err, message);
}

test("forks that fill the model's kernel memory stop at the fork's line: exit 2, not a kernel BUG", () => {
  const path = script_file('forks.txt', 'fork\n'.repeat(15_000));
  assert_bad_input(
    mmlab('run', path),
    /^mmlab: .*forks\.txt: line \d+: the script needs more than the model's 64 MiB of kernel memory/,
  );
});

test('a script of more than 16 MiB is refused after reading 16 MiB: /dev/zero ends at once', () => {
  assert_bad_input(
    mmlab('run', '/dev/zero'),
    /^mmlab: \/dev\/zero: a script may have at most 16 MiB$/m,
  );
  const limit = 16 << 20;
  const over = script_file('over.txt', `${'#'.repeat(limit)}\n`);
  assert_bad_input(mmlab('run', over), /^mmlab: .*over\.txt: a script may have at most 16 MiB$/m);
  const at = script_file('at.txt', `${'#'.repeat(limit - 6)}\nfork\n`);
  const r = mmlab('run', at);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'ok\np0 maps:\np1 maps:\n');
});

/* A read faults the zero page in or not: the fork child's VMA then merges or not. */
const ZERO_PAGE_SCRIPT = fileURLToPath(
  new URL('../scripts/regress-zero-page-fork-merge.txt', import.meta.url),
);
const CHILD_MAPS = {
  on: 'p1 maps:\n3fc00000-3fc88000 rw-p 00000000\n',
  off: 'p1 maps:\n3fc00000-3fc56000 rw-p 00000000\n3fc56000-3fc57000 rw-p 00000000\n3fc57000-3fc88000 rw-p 00000000\n',
};

test('--zero-page on (the default) and off boot the model with and without the zero page, and say which', () => {
  for (const [args, used] of [
    [[], 'on'],
    [['--zero-page', 'on'], 'on'],
    [['--zero-page', 'off'], 'off'],
  ] as const) {
    const r = mmlab('run', ...args, ZERO_PAGE_SCRIPT);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.endsWith(CHILD_MAPS[used]), r.out);
    assert.match(r.err, new RegExp(`^zero page: ${used} \\(`));
    assert.equal(r.err.split('\n').length, 2, r.err);
    const j = JSON.parse(mmlab('run', ...args, '--json', ZERO_PAGE_SCRIPT).out);
    assert.equal(j.zero_page, used);
  }
});

test("--zero-page auto runs the script as this machine's kernel does", (t) => {
  const text = readFileSync(ZERO_PAGE_SCRIPT, 'utf8');
  const linux = on_linux(text);
  if (linux === undefined) return t.skip('no Linux oracle on this platform');
  const r = mmlab('run', '--zero-page', 'auto', ZERO_PAGE_SCRIPT);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, linux);
  assert.match(r.err, /^zero page: (on|off) \(auto: this machine's kernel /);
});

test('--zero-page with another value is bad usage', () => {
  assert_bad_input(
    mmlab('run', '--zero-page', 'maybe', ZERO_PAGE_SCRIPT),
    /^mmlab: --zero-page must be one of on, off, auto, not 'maybe'\n$/,
  );
});
