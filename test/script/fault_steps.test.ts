/*
 * The triage's false non-linearizable reports (docs/scripts.md, "The steps
 * of a serial order"): `mmap ... populate` is its mapping, then its
 * population. Each script was reported non-linearizable on the fixed kernel
 * while the check judged those commands as one step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import { search_strategy } from '../../src/check/strategy.js';
import { parse_concurrent, section_steps } from '../../src/script/concurrent.js';
import { script_scenario } from '../../src/script/scenario.js';

const CFG = { policy: 'vma-refcnt', variant: '', params: {} };

/* Every schedule of `s` with at most two preemptions (up to `schedules`): the first bug's message, or null. */
function first_bug(s: ReturnType<typeof parse_concurrent>, schedules: number): string | null {
  const ex = new Explorer(script_scenario(s), { ...CFG, cpus: s.cpus.length });
  const strategy = search_strategy('dfs', { seed: 1, schedules, depth: 0, bound: 2 });
  for (let i = 0; strategy.begin(i); i++) {
    const bug = ex.exec.run(strategy).bug;
    if (bug) return bug.message;
  }
  return null;
}

test("mmap populate is its mapping, then its faults: an mremap between them is a serial order's", () => {
  const s = parse_concurrent(`mmap - 4 -wx shared anon
cpu 0:
  mremap 0x3fffb000 1 2 maymove
cpu 1:
  mmap - 2 rw- private anon populate
`);
  assert.deepEqual(section_steps(s), [1, 2]);
  assert.equal(first_bug(s, 400), null);
});
