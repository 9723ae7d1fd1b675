/*
 * Uncontended lock/unlock pairs, for the benchmarks: one CPU takes and
 * drops one lock `iters` times. `op`: 0 spin_lock + spin_unlock, 1 down_read
 * + up_read, 2 down_write + up_write.
 */
import {
  down_read,
  down_write,
  init_rwsem,
  RW_SEMAPHORE,
  up_read,
  up_write,
} from '../kernel/locking/rwsem.js';
import { SPINLOCK, spin_lock, spin_lock_init, spin_unlock } from '../kernel/locking/spinlock.js';
import { defineStruct } from '../runtime/layout.js';
import type { KernelContext, KGen } from '../runtime/ops.js';
import type { Scenario } from '../runtime/scenario.js';

export const PAIR_SPIN = 0;
export const PAIR_READ = 1;
export const PAIR_WRITE = 2;

export const LOCKS = defineStruct('bench_locks', {
  spin: SPINLOCK.$,
  sem: RW_SEMAPHORE.$,
});

export function* lock_pairs(k: KernelContext, locks: number, op: number, iters: number): KGen {
  const sem = locks + LOCKS.sem;
  const spin = locks + LOCKS.spin;
  for (let i = 0; i < iters; i++) {
    if (op === PAIR_SPIN) {
      yield* spin_lock(k, spin);
      yield* spin_unlock(k, spin);
    } else if (op === PAIR_READ) {
      yield* down_read(k, sem);
      yield* up_read(k, sem);
    } else {
      yield* down_write(k, sem);
      yield* up_write(k, sem);
    }
  }
}

export const scenario: Scenario<{ locks: number }> = {
  name: 'lock-pairs',
  description: 'uncontended lock/unlock pairs (benchmark)',
  module: import.meta.url,
  variants: [],
  default_cpus: 1,
  max_cpus: 16,
  params: { op: PAIR_READ, iters: 1_000_000 },
  memory_words: 1 << 13,
  kthreads: [],
  setup(m) {
    const locks = m.boot_alloc(LOCKS.$, 'bench_locks');
    spin_lock_init(m, locks + LOCKS.spin, 'bench.spin');
    init_rwsem(m, locks + LOCKS.sem, 'bench.sem');
    return { locks };
  },
  cpu(k, { locks }, cfg) {
    return lock_pairs(k, locks, cfg.params.op!, cfg.params.iters!);
  },
  check() {},
};
