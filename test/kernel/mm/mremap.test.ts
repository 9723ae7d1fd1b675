/*
 * mremap regressions (test/regressions/mremap-NN.txt, each a script that
 * once showed the model's mremap differing from Linux 6.18's): the model
 * must print what this machine's kernel prints for each. And move_ptes()'s
 * check that the target's PTEs are empty.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MREMAP_FIXED, MREMAP_MAYMOVE } from '../../../src/kernel/mm/mm_types.js';
import { do_mremap } from '../../../src/kernel/mm/mremap.js';
import { mk_pte, pte_alloc, pte_slot } from '../../../src/kernel/mm/pgtable.js';
import { call } from '../../../src/runtime/ops.js';
import { parse_script } from '../../../src/script/parse.js';
import { run_model } from '../../../src/script/run_model.js';
import { model_as_linux, on_linux } from '../../helpers.js';
import { ANON, anon_vma_of, tripped } from './tripped.js';

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

test('a move onto a stale PTE (a range unmapped without its PTEs) trips VM_WARN_ON_ONCE(!pte_none(*new_ptep)) in move_ptes()', () => {
  const target = ANON + 64;
  const bug = tripped(function* (k, mm) {
    yield* call(anon_vma_of(k, mm, true));
    // The wrong state: a PTE left behind where no VMA maps anything.
    const table = yield* call(pte_alloc(k, mm, target));
    yield k.store(pte_slot(table, target), mk_pte(k.sys.mm.zero_page, 0));
    yield* call(do_mremap(k, mm, ANON, 1, 1, MREMAP_MAYMOVE | MREMAP_FIXED, target));
  });
  assert.equal(bug?.bug_class, 'BUG', String(bug));
  assert.equal(
    bug!.message,
    'WARNING: VM_WARN_ON_ONCE(!pte_none(*new_ptep)) in move_ptes() (cpu 0)',
  );
});
