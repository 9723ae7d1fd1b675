import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boot } from '../../src/kernel/boot.js';
import { DEFAULT_POLICY } from '../../src/kernel/mm/policy.js';
import {
  __refcount_add_not_zero_limited_acquire,
  REFCOUNT_SATURATED,
  refcount_dec_and_test,
  refcount_inc,
  refcount_inc_not_zero,
} from '../../src/kernel/refcount.js';
import { KernelMemory } from '../../src/runtime/memory.js';
import { type KernelBug, KernelContext, type KGen, KStack, Op } from '../../src/runtime/ops.js';

/* Drive a generator on one CPU, each access done at once (no other CPU runs). */
function run<R>(m: KernelMemory, make: (k: KernelContext) => KGen<R>): R {
  const k = new KernelContext(boot(m, 1), 0, DEFAULT_POLICY, '', false);
  const gen = new KStack(make(k), k);
  const w = m.words;
  let r = gen.next();
  while (!r.done) {
    const old = w[k.addr]!;
    switch (k.op) {
      case Op.READ_ONCE:
        break;
      case Op.WRITE_ONCE:
        w[k.addr] = k.a;
        break;
      case Op.CMPXCHG:
        if (old === k.a) w[k.addr] = k.b;
        break;
      case Op.FETCH_ADD:
        w[k.addr] = (old + k.a) | 0;
        break;
      default:
        throw new Error(`refcount_t used op ${k.op}`);
    }
    r = gen.next(old);
  }
  return r.value;
}

function fresh(v: number) {
  const m = KernelMemory.create(1 << 13);
  const r = m.bump(1, 1);
  m.words[r] = v;
  return { m, r };
}

test('refcount_inc_not_zero fails on 0 and takes a reference otherwise', () => {
  const z = fresh(0);
  assert.equal(
    run(z.m, (k) => refcount_inc_not_zero(k, z.r)),
    false,
  );
  const o = fresh(1);
  assert.equal(
    run(o.m, (k) => refcount_inc_not_zero(k, o.r)),
    true,
  );
  assert.equal(o.m.words[o.r], 2);
});

test('the limited increment tells detached (0) from the limit (negative)', () => {
  const z = fresh(0);
  assert.equal(
    run(z.m, (k) => __refcount_add_not_zero_limited_acquire(k, z.r, 1, 10)),
    0,
  );
  const full = fresh(10);
  assert.equal(
    run(full.m, (k) => __refcount_add_not_zero_limited_acquire(k, full.r, 1, 10)),
    -10,
  );
  assert.equal(full.m.words[full.r], 10, 'nothing added at the limit');
  const ok = fresh(3);
  assert.equal(
    run(ok.m, (k) => __refcount_add_not_zero_limited_acquire(k, ok.r, 1, 10)),
    3,
  );
  assert.equal(ok.m.words[ok.r], 4);
});

test('an addition on 0 is a use-after-free and saturates', () => {
  const z = fresh(0);
  assert.throws(
    () => run(z.m, (k) => refcount_inc(k, z.r)),
    (e: KernelBug) => e.bug_class === 'refcount' && /addition on 0/.test(e.message),
  );
  assert.equal(z.m.words[z.r], REFCOUNT_SATURATED);
});

test('an underflow is reported and saturates', () => {
  const z = fresh(0);
  assert.throws(() => run(z.m, (k) => refcount_dec_and_test(k, z.r)), /underflow; use-after-free/);
  assert.equal(z.m.words[z.r], REFCOUNT_SATURATED);
  const one = fresh(1);
  assert.equal(
    run(one.m, (k) => refcount_dec_and_test(k, one.r)),
    true,
  );
});
