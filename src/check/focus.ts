/*
 * Focus: PCT whose change points fall only where the races of this
 * kernel live (`mmlab check --strategy focus --depth D`).
 *
 * Why. PCT (strategy.ts) finds a bug of depth d (the n tasks in a right
 * order at the start, then d - 1 preemptions each at a right step) with
 * probability at least 1 / (n k^(d-1)) per schedule, k the decisions of a
 * schedule: a few hundred in the smallest scenario, so the bound is gone
 * by d = 4. But the preemptions these bugs need are not anywhere: the
 * window of a use-after-free or a recycled object opens and closes at
 * synchronisation steps. The reader stops just after its refcount drop
 * and before it reads vma->vm_mm (9bbffee67ffd); just after its
 * rcu_read_unlock() and before its up_read() (seed 000); the writer just
 * after it published its wait, the freer just after its last put. The plain loads and stores between (page-table walks,
 * maple-tree descents, user copies, most of the steps) do not open or
 * close a window: preempting there only moves the same window.
 *
 * What. A synchronisation access is an atomic read-modify-write (refcount
 * drops and gets, the releases of spinlocks and rwsems; cmpxchg, mostly a
 * lock's acquisition, only on a SLAB_TYPESAFE_BY_RCU object: a refcount
 * get there), a release store, a lock_release annotation,
 * rcu_read_lock/unlock, a futex wake, an allocation or a free. A decision
 * counts, and is numbered 1, 2, ... in its schedule, when the task that
 * ran last has just made one and can go on (so that lowering it preempts
 * it there). A plain access to a SLAB_TYPESAFE_BY_RCU object does not
 * count: the stale read a window exposes comes after the synchronisation
 * access that opened it, and counting the plain accesses too would double
 * k. Everything else is PCT's: the priorities, the d - 1 distinct change
 * points drawn from 1 .. k, the lowering.
 *
 * The guarantee, as PCT's (same proof, over the counted decisions): let k
 * be the most counted decisions a schedule has had (learned as the search
 * goes, as PCT learns its k, starting from a guess of 16). A bug that
 * needs the tasks in one order at the start and d - 1 preemptions, each of
 * a task that has just made a synchronisation access, is found by one
 * schedule with probability at least 1 / (n k^(d-1)). k is a third to a
 * twelfth of PCT's on the race scenarios, so at d = 5 the bound is 80 to
 * 20,000 times PCT's. A bug one of whose preemptions must fall after a
 * plain access is out of its reach (its probability may be 0): PCT, a
 * random walk and DFS keep that ground, and DFS's bound stays exact.
 */
import type { ExploreView } from '../runtime/executors/explore.js';
import { Op } from '../runtime/ops.js';
import type { Rng } from '../scenarios/random.js';

/**
 * Which of a schedule's picks are decisions, where PCT may place a change
 * point, numbered 1 .. k in order (Pct's contract with its point set).
 */
export interface ChangePoints {
  /** The strategy's name (`--strategy`). */
  readonly name: string;
  /** Whether decision() and picked() must see every step, forced ones too. */
  readonly every_step: boolean;
  /**
   * Where present, a change point raises the task this names among
   * `others` (the runnable tasks but the one that ran) above every other,
   * instead of lowering the one that ran (PCT's).
   */
  raise?(others: readonly number[], rng: Rng): number;
  /** Where present, the probability bound of one schedule for `tasks` tasks at depth d. */
  bound?(tasks: number, depth: number): number;
  /** Decisions of the schedule with the most so far (before any has run, a guess). */
  readonly k: number;
  /** A schedule starts; `rng` is its own (what it draws is drawn before the change points). */
  begin(rng: Rng): void;
  /** This pick's number among the schedule's decisions, or 0 if it is none. */
  decision(runnable: readonly number[], view: ExploreView): number;
  /** Task t was picked: its pending access is performed next. */
  picked(t: number, view: ExploreView): void;
}

/** Whether task t's pending access is a synchronisation access (see the header). */
export function sync_access(view: ExploreView, t: number): boolean {
  switch (view.pending_op(t)) {
    case Op.FETCH_ADD:
    case Op.FETCH_AND:
    case Op.FETCH_OR:
    case Op.XCHG:
    case Op.STORE_RELEASE:
    case Op.LOCK_RELEASE:
    case Op.RCU_READ_LOCK:
    case Op.RCU_READ_UNLOCK:
    case Op.FUTEX_WAKE:
    case Op.ALLOC:
    case Op.FREE:
      return true;
    case Op.CMPXCHG:
      return view.typesafe(view.pending_addr(t));
    default:
      return false;
  }
}

/** Focus's decisions: choices where the task that ran has just made a synchronisation access. */
export class SyncPoints implements ChangePoints {
  readonly name = 'focus';
  readonly every_step = true;
  k = 16;
  private decisions = 0;
  /** Whether the step just taken was a synchronisation access. */
  private after_sync = false;

  begin(): void {
    this.decisions = 0;
    this.after_sync = false;
  }

  decision(runnable: readonly number[], view: ExploreView): number {
    const last = view.last;
    if (!this.after_sync || runnable.length < 2 || !runnable.includes(last)) return 0;
    const n = ++this.decisions;
    if (n > this.k) this.k = n;
    return n;
  }

  picked(t: number, view: ExploreView): void {
    this.after_sync = sync_access(view, t);
  }
}
