/*
 * seqcount_t (include/linux/seqlock.h). Writers are serialised by a lock
 * of their own (for mm->write_protect_seq, the mmap write lock); readers
 * retry, or, like gup_fast, give up and take the slow path.
 * Under the explorer's sequentially consistent model smp_wmb()/smp_rmb()
 * have nothing left to order; the accesses are marked so that they are
 * not data races, as KCSAN treats seqcount accesses.
 */
import { defineStruct } from '../../runtime/layout.js';
import type { KernelContext, KGen } from '../../runtime/ops.js';

export const SEQCOUNT = defineStruct('seqcount_t', {
  sequence: "the writers' own lock; odd while a write section is open",
});

/** raw_read_seqcount(): the sequence, odd or not (for readers that never spin). */
export function* raw_read_seqcount(k: KernelContext, s: number): KGen<number> {
  return yield k.READ_ONCE(s + SEQCOUNT.sequence);
}

/** read_seqcount_begin(): wait for an even sequence and return it. */
export function* read_seqcount_begin(k: KernelContext, s: number): KGen<number> {
  let seq = yield k.READ_ONCE(s + SEQCOUNT.sequence);
  while (seq & 1) seq = yield k.cond_load_ne(s + SEQCOUNT.sequence, seq);
  return seq;
}

/** read_seqcount_retry(): true if a writer ran since `start`. */
export function* read_seqcount_retry(k: KernelContext, s: number, start: number): KGen<boolean> {
  return (yield k.READ_ONCE(s + SEQCOUNT.sequence)) !== start;
}

/** raw_write_seqcount_begin(): the write side is serialised by its caller's lock. */
export function* raw_write_seqcount_begin(k: KernelContext, s: number): KGen {
  const seq = yield k.READ_ONCE(s + SEQCOUNT.sequence);
  k.BUG_ON((seq & 1) !== 0, 'raw_write_seqcount_begin: write section already open');
  yield k.WRITE_ONCE(s + SEQCOUNT.sequence, seq + 1);
}

export function* raw_write_seqcount_end(k: KernelContext, s: number): KGen {
  const seq = yield k.READ_ONCE(s + SEQCOUNT.sequence);
  k.BUG_ON((seq & 1) === 0, 'raw_write_seqcount_end: no write section open');
  yield k.WRITE_ONCE(s + SEQCOUNT.sequence, seq + 1);
}
