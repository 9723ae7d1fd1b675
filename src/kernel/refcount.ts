/*
 * refcount_t (include/linux/refcount.h): a saturating reference count.
 * Any addition on 0, any fall below 0 and any overflow saturates the count
 * at REFCOUNT_SATURATED, as the kernel does, and is reported as a bug:
 * in the kernel it is a WARN that names a use-after-free or a leak.
 */
import { defineStruct } from '../runtime/layout.js';
import {
  call,
  KernelBug,
  type KernelContext,
  type KGen,
  ORDER_ACQUIRE,
  ORDER_RELAXED,
  ORDER_RELEASE,
} from '../runtime/ops.js';

export const REFCOUNT = defineStruct('refcount_t', {
  refs: 'atomic',
});

export const REFCOUNT_SATURATED = -0x40000000; // INT_MIN / 2

function* refcount_warn_saturate(k: KernelContext, r: number, what: string): KGen<never> {
  yield k.WRITE_ONCE(r + REFCOUNT.refs, REFCOUNT_SATURATED);
  throw new KernelBug('refcount', `refcount_t: ${what} (cpu ${k.cpu})`);
}

/** One access: returns the op for the caller to yield. */
export function refcount_set(k: KernelContext, r: number, n: number): number {
  return k.WRITE_ONCE(r + REFCOUNT.refs, n);
}

/** One access: returns the op for the caller to yield. */
export function refcount_read(k: KernelContext, r: number): number {
  return k.READ_ONCE(r + REFCOUNT.refs);
}

export function* refcount_add(k: KernelContext, r: number, i: number): KGen {
  const old = yield k.fetch_add(r + REFCOUNT.refs, i, ORDER_RELAXED);
  if (old === 0) yield* refcount_warn_saturate(k, r, 'addition on 0; use-after-free.');
  else if (old < 0 || old + i < 0 || old + i > 0x7fffffff)
    yield* refcount_warn_saturate(k, r, 'saturated; leaking memory.');
}

export function* refcount_inc(k: KernelContext, r: number): KGen {
  yield* refcount_add(k, r, 1);
}

/*
 * __refcount_add_not_zero_limited(): add `i` unless the count is 0 or the
 * result would pass `limit`, the cmpxchg ordered by `order`. Returns the old
 * count when it added; 0 when the count was 0; minus the count when the
 * limit stopped it. On 0 the overflow check cannot fire (`i` is positive).
 */
function* __refcount_add_not_zero_limited(
  k: KernelContext,
  r: number,
  i: number,
  limit: number,
  order: number,
): KGen<number> {
  let old = yield k.READ_ONCE(r + REFCOUNT.refs);
  while (old !== 0) {
    if (i > limit - old) return -old;
    const seen = yield k.cmpxchg(r + REFCOUNT.refs, old, old + i, order);
    if (seen === old) break;
    old = seen;
  }
  if (old < 0 || old + i < 0) yield* refcount_warn_saturate(k, r, 'saturated; leaking memory.');
  return old;
}

/**
 * __refcount_add_not_zero_limited_acquire(): add `i` unless the count is 0
 * or the result would pass `limit`. Returns the old count when it added;
 * 0 when the count was 0; minus the count when the limit stopped it.
 * (vma_start_read() tells "detached" from "too many readers" by it.)
 */
export function* __refcount_add_not_zero_limited_acquire(
  k: KernelContext,
  r: number,
  i: number,
  limit: number,
): KGen<number> {
  return yield* call(__refcount_add_not_zero_limited(k, r, i, limit, ORDER_ACQUIRE));
}

/** refcount_add_not_zero(): the old count, 0 if it was 0 (nothing added). */
export function* refcount_add_not_zero(k: KernelContext, r: number, i: number): KGen<number> {
  return yield* call(
    __refcount_add_not_zero_limited(k, r, i, Number.POSITIVE_INFINITY, ORDER_RELAXED),
  );
}

export function* refcount_inc_not_zero(k: KernelContext, r: number): KGen<boolean> {
  return (yield* call(refcount_add_not_zero(k, r, 1))) !== 0;
}

/** __refcount_sub_and_test(): subtract `i`; returns the old count (the caller tests old === i). */
export function* __refcount_sub_and_test(k: KernelContext, r: number, i: number): KGen<number> {
  const old = yield k.fetch_add(r + REFCOUNT.refs, -i, ORDER_RELEASE);
  if (old !== i && (old < 0 || old - i < 0))
    yield* refcount_warn_saturate(k, r, 'underflow; use-after-free.');
  return old;
}

export function* refcount_sub_and_test(k: KernelContext, r: number, i: number): KGen<boolean> {
  return (yield* call(__refcount_sub_and_test(k, r, i))) === i;
}

export function* refcount_dec_and_test(k: KernelContext, r: number): KGen<boolean> {
  return (yield* call(__refcount_sub_and_test(k, r, 1))) === 1;
}
