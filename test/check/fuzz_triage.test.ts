/*
 * The reports of `mmlab fuzz --time 600 --policy vma-refcnt --seed 4` on
 * the fixed kernel that were the model's or its sanitizers' (docs/explorer.md,
 * "mmlab fuzz"): each minimized script, searched as the report's check line
 * searched it, is clean now.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WHOLE } from '../../src/check/dfs.js';
import { type CheckResult, Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import type { CheckOptions } from '../../src/check/search.js';
import { RandomWalk } from '../../src/check/strategy.js';
import { PAGE } from '../../src/kernel/mm/mm_types.js';
import { alloc_page, put_page } from '../../src/kernel/mm/page_alloc.js';
import { __GFP_ZERO } from '../../src/kernel/slab.js';
import type { KernelContext, KGen } from '../../src/runtime/ops.js';
import type { RunConfig, Scenario } from '../../src/runtime/scenario.js';
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

test("the slow path's follow_page() reads a new page's flags in order too (mmap-lock)", async () => {
  // get_user_pages() holds mmap_lock for read, as a fault does: nothing
  // but the PTE orders its read of page->flags after the fault's rmap.
  const s = parse_concurrent(
    'file f2 1\nmmap - 1 rw- private file=f2\nmmap - 1 -w- private anon\nmmap - 1 --- private anon\nfork\n' +
      'cpu 0:\n  write 0x3ffffffc 0x3f2e1688\ncpu 1:\n  pin 0x3ffffffc fast\n  write 0x3ffffffc 0xfc33e073\n  unpin 0x3ffffffc\n',
  );
  const o = { ...search('pct', 196624182, 'data-race'), depth: 3, keep_going: true };
  const r = await check_script(s, { ...FIXED, policy: 'mmap-lock' }, o);
  assert.equal(r.bug, null, r.bug?.message);
  assert.equal(r.schedules, 100);
});

test("gup_fast's speculative reference on a page freed meanwhile is no use-after-free: struct pages stay", async () => {
  // try_grab_folio_fast()'s folio_try_get() on a page munmap() has just
  // freed: Linux's struct page lives in the memmap and its count is 0, so
  // the get fails (or, on a page reused meanwhile, the PTE re-check drops it).
  const s = parse_concurrent(
    'mmap - 1 -w- private anon\nwrite 0x3ffffffa 0x15243cc8\ncpu 0:\n  munmap 0x3fff0000 16\ncpu 1:\n  pin 0x3ffffff8 fast\n',
  );
  const r = await check_script(s, FIXED, search('word', 2492892259, 'use-after-free'));
  assert.equal(r.bug, null, r.bug?.message);
  assert.equal(r.schedules, 100);
});

/* One CPU frees a page, then reads a word of its struct page (mode 0) or of its frame (mode 1). */
const freed_page: Scenario<number> = {
  name: 'freed-page',
  description: 'an access to a freed page',
  module: import.meta.url,
  variants: [],
  default_cpus: 1,
  max_cpus: 1,
  params: { frame: 0 },
  memory_words: 1 << 18,
  kthreads: [],
  setup: () => 0,
  *cpu(k: KernelContext, _g: number, cfg: RunConfig): KGen {
    const page = yield* alloc_page(k, __GFP_ZERO, 'freed_page');
    const frame = yield k.load(page + PAGE.frame);
    yield* put_page(k, page);
    yield k.READ_ONCE(cfg.params.frame ? frame : page + PAGE._refcount);
  },
  check: () => {},
};

function access_freed(frame: number): CheckResult {
  const ex = new Explorer(freed_page, make_config(freed_page, { params: { frame } }));
  return ex.check(new RandomWalk(1, 1));
}

test("KASAN still poisons a freed page's frame, only not its struct page", () => {
  assert.equal(access_freed(0).bug, null);
  const r = access_freed(1);
  assert.equal(r.bug?.class, 'use-after-free');
  assert.match(r.bug!.message, /read_once of page_frame@0x[0-9a-f]+\.data\[0\] \(gen 2\)/);
});

test("the slow path's follow_page() grabs the page under the PTE lock: a zap cannot free it in between", async () => {
  // follow_page_pte() holds the PTE lock from reading the PTE to
  // try_grab_folio(); the model grabbed after dropping it, so that
  // MADV_DONTNEED freed the page between (a fuzz report on 3 CPUs:
  // use-after-free, or refcount_t: addition on 0).
  const s = parse_concurrent(
    'mmap - 1 -w- private anon\nmmap - 253 rw- private anon\n' +
      'cpu 0:\n  madvise 0x3ff66000 1 dontneed\ncpu 1:\n  pin 0x3ff66f80\n',
  );
  const o: CheckOptions = { ...search('pct', 1, ''), strategy: 'dfs', schedules: 100_000 };
  const r = await check_script(s, FIXED, { ...o, keep_going: true });
  assert.equal(r.bug, null, r.bug?.message);
  assert.deepEqual(r.bugs, []);
  assert.equal(r.proved_bound, 3);
});
