/*
 * mmlab run as a user drives it: a script file or standard input, bad
 * input as one line on stderr with exit status 2 and nothing on stdout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mmlab } from '../helpers.js';

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
