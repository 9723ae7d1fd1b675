/*
 * lock-selftest: every primitive of src/kernel under contention, each with
 * the outcome a user of it relies on (lib/locking-selftest.c in spirit).
 * Each CPU runs the selected cases in order, `iters` times each:
 *
 *   1 spinlock    a plain counter and owner word under raw_spinlock_t
 *   2 rwsem       writers bump a counter, readers see it stable; downgrade
 *   4 seqcount    writers update a pair under a seqcount; readers never see it torn
 *   8 rcu         an RCU-protected, refcounted object replaced and freed after a
 *                 grace period (call_rcu or synchronize_rcu); readers take references
 *  16 completion  CPU 0 completes once per waiter; the others wait
 *  32 rcuwait     a writer flag and reader count, as vm_refcnt uses them
 *  64 range lock  overlapping and disjoint ranges, read and write (seed 002's
 *                 lock; not in the default set of 63, which the benchmark times)
 *
 * The outcomes are asserted twice: by BUG_ON() as the CPUs run, and by
 * check() once all have ended (exact counters, no leaked object).
 */
import type { KernelSymbols } from '../../kernel/boot.js';
import {
  COMPLETION,
  complete,
  init_completion,
  wait_for_completion,
} from '../../kernel/completion.js';
import { RANGE_LOCK_TREE, range_lock, range_unlock } from '../../kernel/locking/range_lock.js';
import {
  down_read,
  down_write,
  downgrade_write,
  init_rwsem,
  RW_SEMAPHORE,
  rwsem_assert_held_write,
  up_read,
  up_write,
} from '../../kernel/locking/rwsem.js';
import {
  raw_write_seqcount_begin,
  raw_write_seqcount_end,
  read_seqcount_begin,
  read_seqcount_retry,
  SEQCOUNT,
} from '../../kernel/locking/seqlock.js';
import {
  SPINLOCK,
  spin_lock,
  spin_lock_init,
  spin_unlock,
  VARIANT_BROKEN_SPINLOCK,
} from '../../kernel/locking/spinlock.js';
import {
  call_rcu,
  RCU_GP_KTHREAD,
  RCU_HEAD,
  rcu_callback,
  synchronize_rcu,
} from '../../kernel/rcu/tree.js';
import { RCUWAIT, rcuwait_wait_event, rcuwait_wake_up } from '../../kernel/rcuwait.js';
import {
  REFCOUNT,
  refcount_dec_and_test,
  refcount_inc_not_zero,
  refcount_set,
} from '../../kernel/refcount.js';
import { kfree, kmalloc, kmalloc_index } from '../../kernel/slab.js';
import { cache_active } from '../../runtime/heap.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import {
  call,
  KernelBug,
  type KernelContext,
  type KGen,
  ORDER_ACQUIRE,
  ORDER_RELEASE,
} from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';

export const CASE_SPINLOCK = 1;
export const CASE_RWSEM = 2;
export const CASE_SEQCOUNT = 4;
export const CASE_RCU = 8;
export const CASE_COMPLETION = 16;
export const CASE_RCUWAIT = 32;
export const CASE_RANGE = 64;
/** The primitives of the foundation; the range lock (seed 002's) is asked for by cases=64 or 127. */
const DEFAULT_CASES = 63;
const ALL_CASES = 127;

/** Pages of the range lock case, and the ranges each CPU takes. */
const RANGE_PAGES = 8;

const SELFTEST = defineStruct('lock_selftest', {
  lock: SPINLOCK.$,
  spin_owner: 'lock: cpu + 1 of the holder, 0 when free',
  spin_counter: 'lock',
  sem: RW_SEMAPHORE.$,
  sem_counter: 'sem',
  sem_writer: 'sem: cpu + 1 of the writer, 0 when none',
  seq_lock: SPINLOCK.$,
  seq: [SEQCOUNT.$, 'seq_lock for writers'],
  pair_a: 'seq_lock; read under seq',
  pair_b: 'seq_lock; read under seq',
  gp: 'rcu_assign_pointer under gp_lock; rcu_dereference by readers',
  gp_lock: SPINLOCK.$,
  done: COMPLETION.$,
  rw: RCUWAIT.$,
  rw_users: 'atomic: RW_WRITER | number of readers',
  rw_writer_in: 'WRITE_ONCE by the writer while readers are excluded',
  rw_writer_lock: SPINLOCK.$,
  ranges: RANGE_LOCK_TREE.$,
  range_writer: [RANGE_PAGES, 'ranges: cpu + 1 of the writer of each page, 0 when none'],
  range_readers: [RANGE_PAGES, 'ranges (atomic): readers of each page'],
});

/** The RCU-protected object of case 8, from kmalloc. */
const GP_OBJ = defineStruct('selftest_obj', {
  rcu: [RCU_HEAD.$, 'rcu_state.cb_lock while queued'],
  ref: REFCOUNT.$,
  value: 'constant after publication: GP_MAGIC',
});
const GP_MAGIC = 0x5a5a;
const RW_WRITER = 1 << 30;

interface Globals {
  readonly st: number;
}

const free_obj_rcu = rcu_callback('selftest_free_obj_rcu', function* (k, head) {
  yield* kfree(k, head - GP_OBJ.rcu, 'selftest_free_obj_rcu');
});

function* spinlock_case(k: KernelContext, st: number): KGen {
  yield* spin_lock(k, st + SELFTEST.lock);
  const owner = yield k.load(st + SELFTEST.spin_owner);
  k.BUG_ON(owner !== 0, `spinlock case: cpu${owner - 1} is inside the critical section too`);
  yield k.store(st + SELFTEST.spin_owner, k.cpu + 1);
  const v = yield k.load(st + SELFTEST.spin_counter);
  yield k.store(st + SELFTEST.spin_counter, v + 1);
  yield k.store(st + SELFTEST.spin_owner, 0);
  yield* spin_unlock(k, st + SELFTEST.lock);
}

function* rwsem_case(k: KernelContext, st: number, i: number): KGen {
  const sem = st + SELFTEST.sem;
  yield* down_write(k, sem);
  yield* call(rwsem_assert_held_write(k, sem));
  const w = yield k.load(st + SELFTEST.sem_writer);
  k.BUG_ON(w !== 0, `rwsem case: cpu${w - 1} holds the write lock too`);
  yield k.store(st + SELFTEST.sem_writer, k.cpu + 1);
  const v = yield k.load(st + SELFTEST.sem_counter);
  yield k.store(st + SELFTEST.sem_counter, v + 1);
  yield k.store(st + SELFTEST.sem_writer, 0);
  if ((i + k.cpu) & 1) {
    yield* call(downgrade_write(k, sem));
  } else {
    yield* up_write(k, sem);
    yield* down_read(k, sem);
  }
  // Readers exclude writers: the counter cannot move under us.
  const a = yield k.load(st + SELFTEST.sem_counter);
  k.BUG_ON(
    (yield k.load(st + SELFTEST.sem_writer)) !== 0,
    'rwsem case: a writer runs beside a reader',
  );
  k.BUG_ON(
    (yield k.load(st + SELFTEST.sem_counter)) !== a,
    'rwsem case: counter changed under the read lock',
  );
  yield* up_read(k, sem);
}

function* seqcount_case(k: KernelContext, st: number, i: number): KGen {
  yield* spin_lock(k, st + SELFTEST.seq_lock);
  yield* raw_write_seqcount_begin(k, st + SELFTEST.seq);
  const v = (k.cpu << 16) | i;
  yield k.WRITE_ONCE(st + SELFTEST.pair_a, v);
  yield k.WRITE_ONCE(st + SELFTEST.pair_b, v);
  yield* raw_write_seqcount_end(k, st + SELFTEST.seq);
  yield* spin_unlock(k, st + SELFTEST.seq_lock);
  let a: number;
  let b: number;
  let seq: number;
  do {
    seq = yield* read_seqcount_begin(k, st + SELFTEST.seq);
    a = yield k.READ_ONCE(st + SELFTEST.pair_a);
    b = yield k.READ_ONCE(st + SELFTEST.pair_b);
  } while (yield* read_seqcount_retry(k, st + SELFTEST.seq, seq));
  k.BUG_ON(a !== b, `seqcount case: torn read ${a} / ${b}`);
}

function* obj_put(k: KernelContext, p: number, deferred: boolean): KGen {
  if (!(yield* refcount_dec_and_test(k, p + GP_OBJ.ref))) return;
  if (deferred) {
    yield* call(call_rcu(k, p + GP_OBJ.rcu, free_obj_rcu));
  } else {
    yield* call(synchronize_rcu(k));
    yield* kfree(k, p, 'selftest obj_put');
  }
}

function* rcu_case(k: KernelContext, st: number, i: number): KGen {
  // Reader: find the object under RCU, pin it, use it outside the section.
  yield k.rcu_read_lock();
  const p = yield k.load_acquire(st + SELFTEST.gp);
  k.BUG_ON(
    (yield k.READ_ONCE(p + GP_OBJ.value)) !== GP_MAGIC,
    'rcu case: object changed under RCU',
  );
  const got = yield* refcount_inc_not_zero(k, p + GP_OBJ.ref);
  yield k.rcu_read_unlock();
  if (got) {
    k.BUG_ON(
      (yield k.READ_ONCE(p + GP_OBJ.value)) !== GP_MAGIC,
      'rcu case: object changed under a reference',
    );
    yield* call(obj_put(k, p, true));
  }
  // Updater: publish a new object, drop the pointer's reference to the old one.
  const n = yield kmalloc(k, GP_OBJ.$.size, 'selftest rcu_case');
  k.BUG_ON(n === 0, 'rcu case: out of memory');
  yield refcount_set(k, n + GP_OBJ.ref, 1);
  yield k.WRITE_ONCE(n + GP_OBJ.value, GP_MAGIC);
  yield* spin_lock(k, st + SELFTEST.gp_lock);
  const old = yield k.load(st + SELFTEST.gp);
  yield k.store_release(st + SELFTEST.gp, n);
  yield* spin_unlock(k, st + SELFTEST.gp_lock);
  yield* call(obj_put(k, old, ((i + k.cpu) & 1) === 0));
}

function* completion_case(k: KernelContext, st: number, cfg: RunConfig): KGen {
  if (k.cpu === 0) {
    for (let c = 1; c < cfg.cpus; c++) yield* call(complete(k, st + SELFTEST.done));
  } else {
    yield* call(wait_for_completion(k, st + SELFTEST.done));
  }
}

function* rcuwait_case(k: KernelContext, st: number): KGen {
  const users = st + SELFTEST.rw_users;
  if (k.cpu === 0) {
    // The writer: flag, wait for the readers to drain, work, unflag.
    yield* spin_lock(k, st + SELFTEST.rw_writer_lock);
    yield k.fetch_add(users, RW_WRITER);
    yield* call(
      rcuwait_wait_event(k, st + SELFTEST.rw, function* () {
        return (yield k.READ_ONCE(users)) === RW_WRITER;
      }),
    );
    yield k.WRITE_ONCE(st + SELFTEST.rw_writer_in, 1);
    yield k.WRITE_ONCE(st + SELFTEST.rw_writer_in, 0);
    yield k.fetch_add(users, -RW_WRITER, ORDER_RELEASE);
    yield* spin_unlock(k, st + SELFTEST.rw_writer_lock);
    return;
  }
  // A reader: count in unless a writer is present; the last one out wakes it.
  let old = yield k.READ_ONCE(users);
  while (!(old & RW_WRITER)) {
    const seen = yield k.cmpxchg(users, old, old + 1, ORDER_ACQUIRE);
    if (seen === old) break;
    old = seen;
  }
  if (old & RW_WRITER) return;
  k.BUG_ON(
    (yield k.READ_ONCE(st + SELFTEST.rw_writer_in)) !== 0,
    'rcuwait case: reader inside with the writer',
  );
  const prev = yield k.fetch_add(users, -1, ORDER_RELEASE);
  if (prev - 1 === RW_WRITER) yield* call(rcuwait_wake_up(k, st + SELFTEST.rw));
}

/*
 * Each CPU takes a range, overlapping the others' in some iterations and
 * not in others, for read or write; a writer must be alone on every page
 * of its range, a reader may share pages only with readers.
 */
function* range_case(k: KernelContext, st: number, i: number): KGen {
  const write = ((i + k.cpu) & 1) === 0;
  const start = (k.cpu * 3 + i) % (RANGE_PAGES - 2);
  const end = start + 3;
  const req = yield* call(range_lock(k, st + SELFTEST.ranges, start, end, write));
  for (let p = start; p < end; p++) {
    const writer = yield k.READ_ONCE(st + SELFTEST.range_writer + p);
    k.BUG_ON(
      writer !== 0,
      `range case: cpu${k.cpu} and cpu${writer - 1} hold page ${p}, cpu${writer - 1} for write`,
    );
    if (write) {
      k.BUG_ON(
        (yield k.READ_ONCE(st + SELFTEST.range_readers + p)) !== 0,
        `range case: cpu${k.cpu} writes page ${p} under readers`,
      );
      yield k.WRITE_ONCE(st + SELFTEST.range_writer + p, k.cpu + 1);
    } else {
      yield k.fetch_add(st + SELFTEST.range_readers + p, 1);
    }
  }
  for (let p = start; p < end; p++) {
    if (write) yield k.WRITE_ONCE(st + SELFTEST.range_writer + p, 0);
    else yield k.fetch_add(st + SELFTEST.range_readers + p, -1);
  }
  yield* call(range_unlock(k, st + SELFTEST.ranges, req));
}

export const scenario: Scenario<Globals> = {
  name: 'lock-selftest',
  description:
    'every locking primitive under contention: spinlock, rwsem, seqcount, RCU with refcount, completion, rcuwait',
  module: import.meta.url,
  variants: [VARIANT_BROKEN_SPINLOCK],
  default_cpus: 2,
  max_cpus: 16,
  params: { iters: 1, cases: DEFAULT_CASES },
  param_max: { cases: ALL_CASES },
  param_docs: {
    iters: { doc: 'times each CPU runs each selected case' },
    cases: {
      doc: 'the cases, a bit mask: 1 spinlock, 2 rwsem, 4 seqcount, 8 rcu, 16 completion, 32 rcuwait, 64 range lock',
    },
  },
  variant_docs: {
    [VARIANT_BROKEN_SPINLOCK]:
      'spin_lock() acquires with a load and then a store, not one atomic step',
  },
  memory_words: 1 << 16,
  kthreads: [RCU_GP_KTHREAD],

  setup(m: KernelMemory, _sys: KernelSymbols, _cfg: RunConfig): Globals {
    const st = m.boot_alloc(SELFTEST.$, 'lock_selftest');
    spin_lock_init(m, st + SELFTEST.lock, 'lock_selftest.lock');
    init_rwsem(m, st + SELFTEST.sem, 'lock_selftest.sem');
    spin_lock_init(m, st + SELFTEST.seq_lock, 'lock_selftest.seq_lock');
    spin_lock_init(m, st + SELFTEST.gp_lock, 'lock_selftest.gp_lock');
    init_completion(m, st + SELFTEST.done, 'lock_selftest.done');
    spin_lock_init(m, st + SELFTEST.ranges + RANGE_LOCK_TREE.lock, 'lock_selftest.ranges.lock');
    spin_lock_init(m, st + SELFTEST.rw_writer_lock, 'lock_selftest.rw_writer_lock');
    return { st };
  },

  *cpu(k: KernelContext, g: Globals, cfg: RunConfig): KGen {
    const { st } = g;
    const iters = cfg.params.iters!;
    const cases = cfg.params.cases!;
    if (cases & CASE_RCU && k.cpu === 0) {
      // The first object: published before anyone looks (boot-time init of gp).
      const n = yield kmalloc(k, GP_OBJ.$.size, 'selftest init');
      yield refcount_set(k, n + GP_OBJ.ref, 1);
      yield k.WRITE_ONCE(n + GP_OBJ.value, GP_MAGIC);
      yield k.store_release(st + SELFTEST.gp, n);
    }
    for (let i = 0; i < iters; i++) {
      if (cases & CASE_SPINLOCK) yield* call(spinlock_case(k, st));
      if (cases & CASE_RWSEM) yield* call(rwsem_case(k, st, i));
      if (cases & CASE_SEQCOUNT) yield* call(seqcount_case(k, st, i));
      if (cases & CASE_RCU) {
        // Readers must not look before CPU 0 published the first object.
        while ((yield k.load_acquire(st + SELFTEST.gp)) === 0)
          yield k.cond_load_ne(st + SELFTEST.gp, 0);
        yield* call(rcu_case(k, st, i));
      }
      if (cases & CASE_COMPLETION) yield* call(completion_case(k, st, cfg));
      if (cases & CASE_RCUWAIT) yield* call(rcuwait_case(k, st));
      if (cases & CASE_RANGE) yield* call(range_case(k, st, i));
    }
  },

  check(m: KernelMemory, sys: KernelSymbols, g: Globals, cfg: RunConfig): void {
    const w = m.words;
    const { st } = g;
    const want = cfg.cpus * cfg.params.iters!;
    const cases = cfg.params.cases!;
    const expect = (what: string, got: number, exp: number) => {
      if (got !== exp)
        throw new KernelBug('outcome', `lock-selftest: ${what} is ${got}, expected ${exp}`);
    };
    if (cases & CASE_SPINLOCK)
      expect('the spinlock-protected counter', w[st + SELFTEST.spin_counter]!, want);
    if (cases & CASE_RWSEM) {
      expect('the rwsem-protected counter', w[st + SELFTEST.sem_counter]!, want);
      expect(
        'rw_semaphore.count after all unlocked',
        w[st + SELFTEST.sem + RW_SEMAPHORE.count]!,
        0,
      );
    }
    if (cases & CASE_RCU) {
      // Only the object gp points to is still allocated: every other was freed after its grace period.
      expect(
        'kmalloc objects alive',
        cache_active(w, sys.kmalloc_caches[kmalloc_index(GP_OBJ.$.size)]!),
        1,
      );
      expect("the live object's refcount", w[w[st + SELFTEST.gp]! + GP_OBJ.ref]!, 1);
    }
    if (cases & CASE_COMPLETION)
      expect('completion.done after every wait', w[st + SELFTEST.done + COMPLETION.done]!, 0);
    if (cases & CASE_RCUWAIT) expect('rcuwait users after all left', w[st + SELFTEST.rw_users]!, 0);
    if (cases & CASE_RANGE) {
      expect(
        'range lock requests left queued',
        w[st + SELFTEST.ranges + RANGE_LOCK_TREE.requests]!,
        0,
      );
    }
  },
};
