import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  linux_boot_params,
  OracleError,
  oracle_binary,
  oracle_cache_dir,
  run_on_linux,
} from '../../src/oracle/linux.js';
import { model_as_linux, with_env } from '../helpers.js';

const skip =
  process.platform === 'linux' && process.arch === 'x64'
    ? false
    : 'the Linux oracle runs on x86-64 Linux';

/* Run a script (one command per argument) on this machine's kernel: its output lines. */
function linux(...script: string[]): string[] {
  const r = run_on_linux(`${script.join('\n')}\n`);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.ok(r.stdout.endsWith('\n'), 'the output ends with a newline');
  return r.stdout.slice(0, -1).split('\n');
}

test('the binary is built once and reused', { skip }, () => {
  const bin = oracle_binary();
  assert.ok(existsSync(bin));
  const built = lstatSync(bin).mtimeMs;
  assert.equal(oracle_binary(), bin);
  assert.equal(lstatSync(bin).mtimeMs, built, 'not rebuilt');
});

/*
 * fn(cache, marker) with the oracle's cache directory in a fresh directory
 * of its own (XDG_CACHE_HOME), where a planted program (planted()) would
 * write `marker` if it ran.
 */
function in_fresh_cache(fn: (cache: string, marker: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'mmlab-oracle-test-'));
  try {
    with_env({ XDG_CACHE_HOME: root }, () => fn(oracle_cache_dir(), join(root, 'marker')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** A program at `file`, private to this user, that writes `marker` when run. */
function plant(file: string, marker: string): void {
  mkdirSync(dirname(file), { recursive: true });
  rmSync(file, { force: true });
  writeFileSync(file, `#!/bin/sh\necho planted > '${marker}'\n`, { mode: 0o700 });
}

/** The oracle runs a script correctly (so a real binary ran) and `marker` was never written. */
function runs_clean(marker: string): void {
  assert.deepEqual(linux('mmap 0x10000 1 rw- private anon', 'write 0x10000 7', 'read 0x10000'), [
    '0x10000',
    'ok',
    '= 0x00000007',
    'p0 maps:',
    '00010000-00011000 rw-p 00000000',
  ]);
  assert.equal(existsSync(marker), false, 'the planted program ran');
}

test('the cache directory is made mode 0700 under XDG_CACHE_HOME, the binary 0700 in it', {
  skip,
}, () => {
  in_fresh_cache((cache) => {
    const bin = oracle_binary();
    assert.equal(dirname(bin), cache);
    assert.equal(lstatSync(cache).mode & 0o777, 0o700);
    assert.equal(lstatSync(bin).mode & 0o777, 0o700);
  });
});

test('a program planted where the oracle was once built, a predictable name in tmpdir, never runs', {
  skip,
}, () => {
  const source = fileURLToPath(new URL('../../src/oracle/linux.c', import.meta.url));
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex');
  const old = join(tmpdir(), `mmlab-oracle-${hash.slice(0, 12)}`, 'linux-oracle');
  in_fresh_cache((_, marker) => {
    plant(old, marker);
    try {
      runs_clean(marker);
    } finally {
      rmSync(old, { force: true });
    }
  });
});

test('a binary in the cache that is not the one built (another hash, a link, writable by others) is rebuilt, never run', {
  skip,
}, () => {
  in_fresh_cache((_, marker) => {
    const bin = oracle_binary();
    plant(bin, marker); // this user's, mode 0700: only its hash gives it away
    runs_clean(marker);
    rmSync(bin);
    plant(`${bin}.planted`, marker);
    symlinkSync(`${bin}.planted`, bin);
    runs_clean(marker);
    assert.ok(lstatSync(bin).isFile(), 'the link replaced, not followed');
    chmodSync(bin, 0o777);
    runs_clean(marker);
    assert.equal(lstatSync(bin).mode & 0o777, 0o700);
  });
});

test('a cache directory another user could write in is refused, and nothing in it runs', {
  skip,
}, () => {
  in_fresh_cache((cache, marker) => {
    const refused = (why: RegExp) =>
      assert.throws(
        () => run_on_linux('read 0\n'),
        (e) => e instanceof OracleError && why.test(e.message) && e.message.includes(cache),
      );
    const bin = oracle_binary();
    chmodSync(cache, 0o777);
    plant(bin, marker);
    refused(/writable by group or others \(mode 0777\)/);
    chmodSync(cache, 0o720);
    refused(/writable by group or others/);
    if (process.getuid!() === 0) {
      // As root the test can give the directory to another user.
      chmodSync(cache, 0o700);
      chownSync(cache, 1, 1);
      refused(/owned by uid 1, not by this user \(uid 0\)/);
      chownSync(cache, 0, 0);
    }
    rmSync(cache, { recursive: true });
    mkdirSync(`${cache}.elsewhere`, { mode: 0o700 });
    symlinkSync(`${cache}.elsewhere`, cache);
    refused(/is a symbolic link/);
    assert.equal(existsSync(marker), false, 'the planted program ran');
  });
});

test('anonymous memory: placed down from the window top, written, read, unmapped', { skip }, () => {
  assert.deepEqual(
    linux(
      'mmap - 4 rw- private anon',
      'write 0x3fffc000 0x12345678',
      'read 0x3fffc000',
      'read 0x3fffd000',
      'mmap - 1 rw- private anon',
      'mmap 0x10000 1 rw- private anon # a hint that fits is used',
      'mmap 0x10000 1 rw- private anon # one that does not is ignored',
      'munmap 0x3fffc000 4',
      'read 0x3fffc000',
    ),
    [
      '0x3fffc000',
      'ok',
      '= 0x12345678',
      '= 0x00000000',
      '0x3fffb000',
      '0x10000',
      '0x3fffa000',
      'ok',
      'SIGSEGV',
      'p0 maps:',
      '00010000-00011000 rw-p 00000000',
      '3fffa000-3fffc000 rw-p 00000000',
    ],
  );
});

test('files hold k<<28 | page<<16 | word; past the end of the file is SIGBUS', { skip }, () => {
  assert.deepEqual(
    linux(
      'file a 2',
      'file b 3',
      'mmap 0x100000 3 r-- private file=b fixed',
      'read 0x100000',
      'read 0x101008',
      'read 0x102ffc',
      'p0 mmap 0x200000 2 rw- shared file=a off=1 fixed',
      'read 0x200000',
      'read 0x201000',
      'write 0x201000 1',
      'write 0x200000 0xfeedface',
      'mmap 0x300000 1 r-- private file=a off=1 fixed',
      'read 0x300000 # the shared write went to the file',
    ),
    [
      'ok',
      'ok',
      '0x100000',
      '= 0x20000000',
      '= 0x20010002',
      '= 0x200203ff',
      '0x200000',
      '= 0x10010000',
      'SIGBUS',
      'SIGBUS',
      'ok',
      '0x300000',
      '= 0xfeedface',
      'p0 maps:',
      '00100000-00103000 r--p 00000000 b',
      '00200000-00202000 rw-s 00001000 a',
      '00300000-00301000 r--p 00001000 a',
    ],
  );
});

test('fork: private pages are copied on write, shared pages stay shared', { skip }, () => {
  assert.deepEqual(
    linux(
      'mmap 0 1 rw- private anon fixed',
      'mmap 0x1000 1 rw- shared anon fixed',
      'write 0 1',
      'write 0x1000 1',
      'fork',
      'p1 write 0 2',
      'p1 write 0x1000 2',
      'read 0',
      'read 0x1000',
      'p1 read 0',
      'p1 munmap 0 1',
      'read 0',
    ),
    [
      '0x0',
      '0x1000',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      '= 0x00000001',
      '= 0x00000002',
      '= 0x00000002',
      'ok',
      '= 0x00000001',
      'p0 maps:',
      '00000000-00001000 rw-p 00000000',
      '00001000-00002000 rw-s 00000000 [shmem]',
      'p1 maps:',
      '00001000-00002000 rw-s 00000000 [shmem]',
    ],
  );
});

test('processes: numbered in fork order, never reused; exited ones not listed', { skip }, () => {
  assert.deepEqual(
    linux(
      'mmap 0 1 r-- private anon fixed',
      'fork',
      'p1 fork',
      'p1 exit',
      'p2 mmap 0x1000 1 r-- private anon fixed',
      'fork',
      'exit',
    ),
    [
      '0x0',
      'ok',
      'ok',
      'ok',
      '0x1000',
      'ok',
      'ok',
      'p2 maps:',
      '00000000-00002000 r--p 00000000',
      'p3 maps:',
      '00000000-00001000 r--p 00000000',
    ],
  );
});

test('SIGSEGV on PROT_NONE or nothing mapped; a faulting write stores nothing', { skip }, () => {
  assert.deepEqual(
    linux(
      'mmap 0 1 r-- private anon fixed',
      'write 0 5',
      'read 0',
      'mprotect 0 1 ---',
      'read 0',
      'mprotect 0 1 rw-',
      'write 0xffe 0xaabbccdd # straddles into an unmapped page',
      'read 0xffc',
    ),
    [
      '0x0',
      'SIGSEGV',
      '= 0x00000000',
      'ok',
      'SIGSEGV',
      'ok',
      'SIGSEGV',
      '= 0x00000000',
      'p0 maps:',
      '00000000-00001000 rw-p 00000000',
    ],
  );
});

test('unaligned accesses are little-endian and may straddle two pages', { skip }, () => {
  assert.deepEqual(
    linux(
      'mmap 0 2 rw- private anon fixed',
      'write 0xffe 0xaabbccdd',
      'read 0xffc',
      'read 0x1000',
      'read 0xfff',
    ),
    [
      '0x0',
      'ok',
      '= 0xccdd0000',
      '= 0x0000aabb',
      '= 0x00aabbcc',
      'p0 maps:',
      '00000000-00002000 rw-p 00000000',
    ],
  );
});

test('noreplace over a mapping is EEXIST, fixed replaces it, bad ones EINVAL', { skip }, () => {
  assert.deepEqual(
    linux(
      'mmap 0 2 rw- private anon fixed',
      'mmap 0x1000 1 r-- private anon noreplace',
      'mmap 0x1000 1 r-- private anon fixed',
      'munmap 0x800 1',
      'mmap 0x4000 0 rw- private anon fixed',
    ),
    [
      '0x0',
      'EEXIST',
      '0x1000',
      'EINVAL',
      'EINVAL',
      'p0 maps:',
      '00000000-00001000 rw-p 00000000',
      '00001000-00002000 r--p 00000000',
    ],
  );
});

test('mprotect splits a VMA in three and the neighbours merge back', { skip }, () => {
  const split = linux('mmap 0 3 rw- private anon fixed', 'mprotect 0x1000 1 r--');
  assert.deepEqual(split.slice(2), [
    'p0 maps:',
    '00000000-00001000 rw-p 00000000',
    '00001000-00002000 r--p 00000000',
    '00002000-00003000 rw-p 00000000',
  ]);
  const merged = linux(
    'mmap 0 3 rw- private anon fixed',
    'mprotect 0x1000 1 r--',
    'mprotect 0x1000 1 rw-',
  );
  assert.deepEqual(merged.slice(3), ['p0 maps:', '00000000-00003000 rw-p 00000000']);
});

test('OUTSIDE: leaving the window does not run; placed below it, not kept', { skip }, () => {
  assert.deepEqual(
    linux(
      'mmap 0x3ffff000 2 rw- private anon fixed',
      'mmap 0x3ffff000 1 rw- private anon fixed',
      'munmap 0x3ffff000 2',
      'mprotect 0x3ffff000 2 r--',
      'madvise 0x3ffff000 2 dontneed',
      'read 0x3ffffffd',
      'write 0x3ffffffc 7',
      'read 0x3ffffffc',
      'mremap 0x3ffff000 1 2 maymove',
      'mremap 0x3ffff000 1 1 maymove fixed=0x3ffff001',
      'mmap - 262144 rw- private anon # the whole window is not free',
      'mmap - 262143 rw- private anon # the rest of it is',
    ),
    [
      'OUTSIDE',
      '0x3ffff000',
      'OUTSIDE',
      'OUTSIDE',
      'OUTSIDE',
      'OUTSIDE',
      'ok',
      '= 0x00000007',
      'OUTSIDE',
      'OUTSIDE',
      'OUTSIDE',
      '0x0',
      'p0 maps:',
      '00000000-40000000 rw-p 00000000',
    ],
  );
});

test('mremap moving out of the window: OUTSIDE, and the old range is gone', { skip }, () => {
  assert.deepEqual(
    linux(
      'mmap 0 262144 --- private anon fixed',
      'munmap 0x1000 1',
      'mremap 0x3000 1 2 maymove # no room in the window',
      'mremap 0x2000 1 1 maymove dontunmap # one page fits: in the higher hole',
    ),
    [
      '0x0',
      'ok',
      'OUTSIDE',
      '0x3000',
      'p0 maps:',
      '00000000-00001000 ---p 00000000',
      '00002000-40000000 ---p 00000000',
    ],
  );
});

test('the listing: file names and offsets, [shmem], no name for anon private', { skip }, () => {
  const out = linux(
    'file data 8',
    'mmap 0x10000 4 r-x private file=data off=2 fixed',
    'mmap 0x20000 2 rw- shared anon fixed',
    'munmap 0x20000 1',
    'mmap 0x30000 1 rw- private anon fixed',
    'mremap 0x30000 1 1 maymove fixed=0x40000',
  );
  assert.deepEqual(out.slice(out.indexOf('p0 maps:')), [
    'p0 maps:',
    '00010000-00014000 r-xp 00002000 data',
    '00021000-00022000 rw-s 00001000 [shmem]',
    '00040000-00041000 rw-p 00000000',
  ]);
  for (const l of out) assert.equal(l, l.trimEnd(), 'no trailing space');
});

test('growsdown: a fault below grows it; a hint in the guard gap is not used', { skip }, () => {
  assert.deepEqual(
    linux(
      'mmap 0x10000000 4 rw- private anon growsdown fixed',
      'read 0x0fff0000',
      'mmap 0x0ff00000 1 rw- private anon',
      'mmap 0x0fe00000 1 rw- private anon',
    ),
    [
      '0x10000000',
      '= 0x00000000',
      '0x3ffff000',
      '0xfe00000',
      'p0 maps:',
      '0fe00000-0fe01000 rw-p 00000000',
      '0fff0000-10004000 rw-p 00000000',
      '3ffff000-40000000 rw-p 00000000',
    ],
  );
});

test('a script that does not parse runs nothing: a line on stderr, status 2', { skip }, () => {
  for (const [script, line] of [
    ['mmap - 1 rw- private anon\nbogus\n', 2],
    ['fork\np2 read 0\n', 2],
    ['mmap - 1 rw- private\n', 1],
    ['read 0x1\nexit\nread 0\n', 3],
  ] as const) {
    const r = run_on_linux(script);
    assert.equal(r.status, 2, script);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^line ${line}: [^\\n]+\\n$`));
  }
});

test('the zero-page probe says what a read fault does to merging on this kernel, and the model booted so agrees', {
  skip,
}, () => {
  // A read-faulted VMA, then its neighbour made the same: one VMA where the
  // read mapped the zero page (no anon_vma), two where it took a page and
  // an anon_vma of its own and the neighbour has none to share.
  const script = [
    'mmap 0x3f507000 2 rw- private anon',
    'read 0x3f507000',
    'mmap 0x3f509000 2 --x private anon',
    'mprotect 0x3f507000 4 ---',
  ];
  const maps = linux(...script).slice(5);
  const forbidden = linux_boot_params().forbid_zeropage === true;
  assert.deepEqual(
    maps,
    forbidden
      ? ['3f507000-3f509000 ---p 00000000', '3f509000-3f50b000 ---p 00000000']
      : ['3f507000-3f50b000 ---p 00000000'],
  );
  assert.equal(
    model_as_linux(`${script.join('\n')}\n`)
      .split('\n')
      .slice(5, -1)
      .join('\n'),
    maps.join('\n'),
  );
});

test('a script with a pin is refused before the oracle is built or run: it has no pin', () => {
  for (const [text, line] of [
    ['mmap 0 1 rw- private anon fixed\n  pin 0 fast\n', 2],
    ['fork\np1 pin 0\np1 unpin 0\n', 2],
  ] as const)
    assert.throws(
      () => run_on_linux(text),
      (e) =>
        e instanceof OracleError &&
        e.message ===
          `line ${line}: the Linux oracle has no pin or unpin: run pins on the model (mmlab run)`,
    );
});
