/*
 * mremap regressions (test/regressions/mremap-NN.txt, each a script that
 * once showed the model's mremap differing from Linux 6.18's): the model
 * must print what this machine's kernel prints for each.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse_script } from '../../../src/script/parse.js';
import { run_model } from '../../../src/script/run_model.js';
import { model_as_linux, on_linux } from '../../helpers.js';

const dir = fileURLToPath(new URL('../../regressions/', import.meta.url));

for (const name of readdirSync(dir).filter((f) => /^mremap-\d+\.txt$/.test(f))) {
  const text = readFileSync(dir + name, 'utf8');
  const what = text.split('\n')[0]!.replace(/^#\s*/, '');
  test(`${name}: ${what}`, (t) => {
    const linux = on_linux(text);
    if (linux === undefined) {
      // Without the oracle the model still runs it: a broken invariant throws.
      run_model(parse_script(text));
      t.skip('the Linux oracle runs on x86-64 Linux');
      return;
    }
    assert.equal(model_as_linux(text), linux);
  });
}
