/*
 * The reports of `mmlab fuzz --time 600 --policy vma-refcnt --seed 4` on
 * the fixed kernel that were the model's or its sanitizers' (docs/explorer.md,
 * "mmlab fuzz"): each minimized script, searched as the report's check line
 * searched it, is clean now.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WHOLE } from '../../src/check/dfs.js';
import type { CheckOptions } from '../../src/check/search.js';
import { check_script } from '../../src/script/check_script.js';
import { parse_concurrent } from '../../src/script/concurrent.js';

const FIXED = { policy: 'vma-refcnt', variant: '' };

function search(strategy: 'pct' | 'word', seed: number, bug_class: string): CheckOptions {
  return { strategy, seed, schedules: 100, depth: 2, bound: 3, shard: WHOLE, jobs: 1, bug_class };
}

test('a page a write fault maps has its rmap before its PTE, so gup_fast reads its flags in order', async () => {
  // do_anonymous_page() set the PTE before folio_add_new_anon_rmap() wrote
  // page->flags: gup_fast, which reads the PTE locklessly, then read the
  // flags unordered ("data-race in folio_add_new_anon_rmap / gup_fast").
  const s = parse_concurrent(
    'mmap - 1 -w- private anon\ncpu 0:\n  write 0x3ffffffc 0x3f2e1688\ncpu 1:\n  pin 0x3ffffffc fast\n',
  );
  const r = await check_script(s, FIXED, search('pct', 196624182, 'data-race'));
  assert.equal(r.bug, null, r.bug?.message);
  assert.equal(r.schedules, 100);
});
