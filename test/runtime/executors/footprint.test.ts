/*
 * Footprints (src/runtime/executors/footprint.ts), which DFS's partial-order
 * reduction compares: a memchr_inv reads the words up to the one it will
 * find in the memory it runs on, so that a write past that word commutes
 * with it, and one before it or at it does not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boot } from '../../../src/kernel/boot.js';
import { DEFAULT_POLICY } from '../../../src/kernel/mm/policy.js';
import {
  FOOTPRINT_SLOTS,
  FP_FLAGS,
  FP_HI1,
  FP_LO1,
  footprint,
  footprints_dependent,
} from '../../../src/runtime/executors/footprint.js';
import { KernelMemory } from '../../../src/runtime/memory.js';
import { KernelContext } from '../../../src/runtime/ops.js';

function contexts() {
  const m = KernelMemory.create(1 << 13);
  const sys = boot(m, 2);
  const [k0, k1] = [0, 1].map((t) => new KernelContext(sys, t, DEFAULT_POLICY, '', false)) as [
    KernelContext,
    KernelContext,
  ];
  return { w: m.words, k0, k1 };
}

const fp = (k: KernelContext, w: Int32Array) => {
  const out = new Int32Array(FOOTPRINT_SLOTS);
  footprint(k, w, out);
  return out;
};

test("a memchr_inv's footprint reads up to and including the word it will find", () => {
  const { w, k0 } = contexts();
  const base = 6000;
  w.fill(0, base, base + 16);
  w[base + 5] = 9;
  k0.memchr_inv(base, 0, 16);
  const out = fp(k0, w);
  assert.deepEqual([out[FP_LO1], out[FP_HI1], out[FP_FLAGS]], [base, base + 6, 0]);
  w[base + 5] = 0;
  assert.equal(fp(k0, w)[FP_HI1], base + 16, 'no word found: all 16 read');
});

test('a store past the word a memchr_inv finds commutes with it; a store before it does not', () => {
  const { w, k0, k1 } = contexts();
  const base = 6000;
  w.fill(0, base, base + 16);
  w[base + 5] = 9;
  k0.memchr_inv(base, 0, 16);
  k1.store(base + 7, 1);
  assert.equal(footprints_dependent(fp(k0, w), fp(k1, w)), false);
  k1.store(base + 2, 1);
  assert.equal(footprints_dependent(fp(k0, w), fp(k1, w)), true);
});
