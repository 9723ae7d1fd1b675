/*
 * The model against this machine's kernel on random scripts: every
 * command, fork included, and the edge cases the generator aims at.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diff, first_difference } from '../../src/oracle/diff.js';
import { model_as_linux, on_linux } from '../helpers.js';

const linux = process.platform === 'linux' && process.arch === 'x64';

test('300 random scripts: the model prints what the kernel prints', {
  skip: !linux && 'needs x86-64 Linux',
}, () => {
  const r = diff({ count: 300, seed: 20261121 });
  const report = r.mismatches
    .map(
      (m) =>
        `script ${m.index}, line ${m.line}: model '${m.model}', linux '${m.linux}'\n${m.script}`,
    )
    .join('\n');
  assert.equal(r.mismatches.length, 0, report);
  assert.equal(r.scripts, 300);
});

test('brk: the break and the heap move on the model as on the kernel', {
  skip: !linux && 'needs x86-64 Linux',
}, () => {
  const scripts = [
    // Shrinking needs some heap left below the old break, and unmaps whatever is there.
    'brk 0x1003000\nmunmap 0x1001000 1\nbrk 0x1001000\n',
    'brk 0x1004000\nmmap 0x1002000 1 r-- private anon fixed\nbrk 0x1000000\n',
    // Growing expands the VMA that ends at the break above start_brk, if it can merge.
    'brk 0x1002000\nmprotect 0x1001000 1 r--\nbrk 0x1003000\n',
    'brk 0x1005000\nmunmap 0x1001000 2\nmmap 0x1002000 1 rw- private anon fixed\nbrk 0x1003000\nbrk 0x1006000\n',
    'brk 0x1002000\nmremap 0x1000000 2 2 maymove fixed=0x2000000\nbrk 0x1003000\n',
    // A fork child's heap grows in place while it has no pages of its parent's.
    'brk 0x1002000\nfork\np1 brk 0x1003000\np1 write 0x1000000 1\np1 brk 0x1004000\n',
    // The highest break, and accesses around a break inside a page.
    'brk 0x3ffff000\nbrk 0x3fffefff\nbrk 0x3ffff000\n',
    'brk 0x1000123\nwrite 0x1000ffc 7\nwrite 0x1001000 1\nbrk 0x1001001\nwrite 0x1001000 1\nread 0x1000ffc\n',
  ];
  for (const text of scripts) assert.equal(model_as_linux(text), on_linux(text), text);
});

test('first_difference names the first differing line', () => {
  assert.equal(first_difference('a\nb\n', 'a\nb\n'), null);
  assert.deepEqual(first_difference('a\nb\nc\n', 'a\nx\nc\n'), { line: 2, a: 'b', b: 'x' });
  assert.deepEqual(first_difference('a\n', 'a\nmore\n'), { line: 2, a: '', b: 'more' });
});
