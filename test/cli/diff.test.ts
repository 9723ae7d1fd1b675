/*
 * mmlab diff where its Linux oracle cannot run: no C compiler, a compiler
 * that fails, an oracle that crashes. Each is one line on stderr naming the
 * problem, exit 2, nothing on stdout (with --json too), before any script.
 * And a program planted where the oracle used to be built never runs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mmlab, with_env } from '../helpers.js';

const skip =
  process.platform === 'linux' && process.arch === 'x64'
    ? false
    : 'the Linux oracle runs on x86-64 Linux';

/*
 * fn(root) with an empty oracle cache under `root` and, when `cc` is given,
 * PATH holding only a `cc` of that shell text (none at all when it is '').
 */
function in_sandbox(cc: string | undefined, fn: (root: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'mmlab-diff-test-'));
  const bin = join(root, 'bin');
  mkdirSync(bin);
  if (cc) writeFileSync(join(bin, 'cc'), `#!/bin/sh\n${cc}\n`, { mode: 0o755 });
  try {
    with_env(
      { XDG_CACHE_HOME: join(root, 'cache'), ...(cc === undefined ? {} : { PATH: bin }) },
      () => fn(root),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** `mmlab diff` with and without --json: exit 2, nothing on stdout, one line matching `what`. */
function refused(what: RegExp): void {
  for (const json of [[], ['--json']]) {
    const r = mmlab('diff', '--count', '1', ...json);
    assert.equal(r.code, 2, r.err);
    assert.equal(r.out, '');
    assert.match(r.err, /^mmlab: [^\n]+\n$/);
    assert.match(r.err, what);
  }
}

test('no C compiler: one line naming cc and how to get one, exit 2, nothing on stdout', {
  skip,
}, () => {
  in_sandbox('', () => refused(/cc is not on PATH.*apt-get install gcc/));
});

test('a compiler that fails: one line with its error, exit 2', { skip }, () => {
  in_sandbox('echo "linux.c:1:1: error: no oracle today" >&2; exit 1', () =>
    refused(
      /cc cannot build the Linux oracle .*\(exit status 1\): linux\.c:1:1: error: no oracle today/,
    ),
  );
});

test('an oracle that crashes: one line saying so, exit 2', { skip }, () => {
  // A `cc` whose "binary" kills itself with SIGSEGV.
  const cc = [
    'while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done',
    `printf '#!/bin/sh\\nkill -SEGV $$\\n' > "$out"`,
  ].join('\n');
  in_sandbox(cc, () =>
    refused(/the Linux oracle failed on its --zero-page probe .*killed by SIGSEGV/),
  );
});

test('a program planted where the oracle was once built (tmpdir/mmlab-oracle-HASH) never runs', {
  skip,
}, () => {
  const source = fileURLToPath(new URL('../../src/oracle/linux.c', import.meta.url));
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  const old = join(tmpdir(), `mmlab-oracle-${hash}`);
  in_sandbox(undefined, (root) => {
    const marker = join(root, 'marker');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'linux-oracle'), `#!/bin/sh\necho planted > '${marker}'\n`, {
      mode: 0o755,
    });
    try {
      const r = mmlab('diff', '--count', '2', '--json');
      assert.equal(r.code, 0, r.err);
      assert.equal(JSON.parse(r.out).scripts, 2);
      assert.equal(existsSync(marker), false, 'the planted program ran');
    } finally {
      rmSync(join(old, 'linux-oracle'), { force: true });
    }
  });
});
