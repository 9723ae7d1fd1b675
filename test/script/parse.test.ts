import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScriptError } from '../../src/script/ast.js';
import { parse_script } from '../../src/script/parse.js';
import { format_script } from '../../src/script/print.js';

test('every command parses, and prints back the same', () => {
  const text = [
    'file data 3',
    'mmap - 4 rw- private anon',
    'mmap 0x1000 2 r-x shared file=data off=1 fixed populate',
    'mmap 0x3000 1 --- private anon noreplace growsdown',
    'munmap 0x1000 1',
    'mprotect 0x1000 1 r--',
    'mremap 0x1000 1 2 maymove dontunmap fixed=0x8000',
    'madvise 0x1000 1 dontneed',
    'brk 0x1000123',
    'write 0x1002 0xdeadbeef',
    'read 0x1002',
    'fork',
    'p1 write 0x1000 0x7',
    'p1 exit',
    'maps',
  ].join('\n');
  const s = parse_script(`# a comment\n\n${text}  # trailing comment\n`);
  assert.equal(s.lines.length, 15);
  assert.deepEqual(s.files, [{ name: 'data', pages: 3, secret: false }]);
  assert.equal(format_script(s.lines), `${text}\n`);
  assert.equal(s.lines[12]!.pid, 1);
});

test("a secret file is declared with `secret`, kept in the script's files, and printed back so", () => {
  const text = 'file s 2 secret\nmmap - 2 rw- shared file=s\n';
  const s = parse_script(text);
  assert.deepEqual(s.files, [{ name: 's', pages: 2, secret: true }]);
  assert.equal(format_script(s.lines), text);
  for (const bad of ['file s 2 secrets', 'file s 2 secret secret', 'file s secret 2'])
    assert.throws(
      () => parse_script(bad),
      (e: Error) =>
        e instanceof ScriptError &&
        /usage: file NAME PAGES \[secret\]|PAGES must be/.test(e.message),
      bad,
    );
});

test('bad scripts are refused with the line and the problem', () => {
  const bad: [string, RegExp][] = [
    ['mmap - 4 rw- private', /line 1: mmap needs one of anon or file=NAME/],
    ['\n\nmmap - 4 rwz private anon', /line 3: PROT must be/],
    ['mmap - 4 rw- private file=x', /file x is not declared/],
    ['mmap - 4 rw- private shared anon', /repeats or contradicts/],
    ['mmap - 4 rw- private anon fixed', /fixed needs an ADDR/],
    ['mmap 0x1000 4 rw- private anon off=2', /off=PAGES needs file=NAME/],
    ['munmap 0x1000', /usage: munmap ADDR PAGES/],
    ['munmap 0xZZ 1', /ADDR must be a hex byte offset/],
    ['brk', /usage: brk ADDR/],
    ['brk 0x1000 1', /usage: brk ADDR/],
    ['brk -', /ADDR must be a hex byte offset, not '-'/],
    ['write 0x0 0x1ffffffff', /VALUE must be 32 bits/],
    ['p1 read 0x0', /p1 does not exist/],
    ['fork\np1 exit\np1 read 0', /line 3: p1 has exited/],
    ['file a 1\nfile a 2', /line 2: file a is declared twice/],
    ['madvise 0x0 1 willneed', /supports only dontneed/],
    ['frobnicate', /unknown command 'frobnicate'/],
    ['maps 0x1000', /usage: maps$/],
    ['mremap 0x0 1 1 maymove maymove', /unknown or repeated mremap flag/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parse_script(text),
      (e: Error) => e instanceof ScriptError && re.test(e.message),
      text,
    );
  }
});

test('pin and unpin parse and print back; an unpin needs an earlier pin of its page by its process', () => {
  const text = 'pin 0x1000 fast\npin 0x1ffc\np1 pin 0x1000\nunpin 0x1004\nunpin 0x1000\n';
  const s = parse_script(text.replace('p1 pin 0x1000\n', 'fork\np1 pin 0x1000\n'));
  assert.deepEqual(
    s.lines.map((l) => l.cmd),
    [
      { op: 'pin', addr: 0x1000, fast: true },
      { op: 'pin', addr: 0x1ffc, fast: false },
      { op: 'fork' },
      { op: 'pin', addr: 0x1000, fast: false },
      { op: 'unpin', addr: 0x1004 },
      { op: 'unpin', addr: 0x1000 },
    ],
  );
  assert.equal(
    format_script(s.lines),
    'pin 0x1000 fast\npin 0x1ffc\nfork\np1 pin 0x1000\nunpin 0x1004\nunpin 0x1000\n',
  );
  const bad: [string, RegExp][] = [
    [
      'pin 0x1000\nunpin 0x1000\nunpin 0x1000',
      /^line 3: unpin 0x1000: no earlier pin of that page by p0 holds it$/,
    ],
    ['pin 0x1000\nunpin 0x2000', /^line 2: unpin 0x2000: no earlier pin/],
    [
      'pin 0x1000\nfork\np1 unpin 0x1000',
      /^line 3: unpin 0x1000: no earlier pin of that page by p1/,
    ],
    ['pin 0x1000 slow', /^line 1: usage: pin ADDR \[fast\]$/],
    [
      'pin 0x1000\nunpin 0x1002',
      /^line 2: unpin reads an aligned word: ADDR must be a multiple of 4/,
    ],
  ];
  for (const [t, re] of bad)
    assert.throws(
      () => parse_script(t),
      (e) => e instanceof ScriptError && re.test(e.message),
      t,
    );
});
