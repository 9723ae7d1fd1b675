/*
 * The model against this machine's kernel on random scripts: every
 * command, fork included, and the edge cases the generator aims at.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diff, first_difference } from '../../src/oracle/diff.js';

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

test('first_difference names the first differing line', () => {
  assert.equal(first_difference('a\nb\n', 'a\nb\n'), null);
  assert.deepEqual(first_difference('a\nb\nc\n', 'a\nx\nc\n'), { line: 2, a: 'b', b: 'x' });
  assert.deepEqual(first_difference('a\n', 'a\nmore\n'), { line: 2, a: '', b: 'more' });
});
