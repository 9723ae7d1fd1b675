/*
 * The triage's false non-linearizable reports (docs/scripts.md, "The steps
 * of a serial order"): a faulting access's fault is a step of its own where
 * the script maps a stack, and `mmap ... populate` is its mapping, then its
 * population. Each script was reported non-linearizable on the fixed kernel
 * while the check judged those commands as one step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import { search_strategy } from '../../src/check/strategy.js';
import { parse_concurrent, section_steps, serial_orders } from '../../src/script/concurrent.js';
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

test("a fork between a write's fault (the stack grown) and the write is a serial order's", () => {
  const s = parse_concurrent(`mmap - 1 rw- private anon growsdown
cpu 0:
  fork
cpu 1:
  write 0x3fffe010 0x1
`);
  assert.deepEqual(section_steps(s), [1, 2]);
  assert.equal(serial_orders(s), 3);
  assert.equal(first_bug(s, 400), null);
});

test('a read whose fault grew the stack, then SIGSEGV after an mmap refused there and a munmap, is a serial order', () => {
  const s = parse_concurrent(`mmap - 1 rw- private anon growsdown
cpu 0:
  read 0x3fffc010
cpu 1:
  mmap 0x3fffd000 1 rw- private anon
  munmap 0x3fffc000 4
`);
  assert.equal(first_bug(s, 400), null);
});

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

test("an mremap between a write's fault (its VMA's anon_vma) and the write is a serial order's", () => {
  // copy_vma() gives a VMA never faulted the pgoff of its new place: the fault decides the merge.
  const s = parse_concurrent(`mmap - 4 -wx shared anon
mmap - 2 rw- private anon
cpu 0:
  mremap 0x3fffb000 1 2 maymove
cpu 1:
  write 0x3fffb000 0x1
`);
  assert.deepEqual(section_steps(s), [1, 2]);
  assert.equal(first_bug(s, 400), null);
});

test("a fork between a write's fault and the write is a serial order's: the child's VMA has the anon_vma", () => {
  // A VMA whose anon_vma a fork copied does not merge with a new mapping beside it in the child.
  const s = parse_concurrent(`mmap - 2 rw- private anon
cpu 0:
  fork
  p1 mmap - 1 rw- private anon
cpu 1:
  write 0x3fffe010 0x1
`);
  assert.deepEqual(section_steps(s), [2, 2]);
  assert.equal(first_bug(s, 400), null);
});

test('without a stack, an mremap or a fork, an access within a page is one step', () => {
  const s = parse_concurrent(`mmap - 2 rw- private anon
cpu 0:
  munmap 0x3fffe000 1
cpu 1:
  write 0x3fffe010 0x1
  read 0x3fffeffe
`);
  assert.deepEqual(section_steps(s), [1, 4]);
});
