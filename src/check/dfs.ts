/*
 * Bounded-preemption depth-first search with sleep sets.
 *
 * Every schedule with at most `bound` preemptions (a switch away from a
 * task that could have gone on; CHESS, Musuvathi & Qadeer, PLDI 2007) is
 * covered, the bound raised one at a time from 0, so the first bug found
 * is one with the fewest preemptions. Sleep sets (Godefroid 1996) prune
 * schedules that only reorder commuting accesses: once the subtree of
 * task u at a node is explored, u sleeps in its siblings' subtrees until
 * some step does not commute with u's pending access. A schedule in which
 * every runnable task sleeps is abandoned, as is one that would need more
 * preemptions than the bound. When a bound is exhausted without a bug the
 * scenario is clean within it: `proved` says up to which bound.
 *
 * The search is stateless: each schedule replays the choices of the
 * current path up to its deepest open node, takes the next untried task
 * there, and goes on without preempting.
 */
import type { ExploreView, Strategy } from '../runtime/executors/explore.js';

/** One decision: a step where two or more tasks could run. */
interface Node {
  /** Runnable tasks at this step (bit mask). */
  readonly runnable: number;
  /** Tasks asleep on arrival: choosing them is covered elsewhere. */
  readonly sleep: number;
  /** The task of the step before, and whether it could go on (a switch preempts it). */
  readonly last: number;
  readonly last_runnable: boolean;
  /** Preemptions of the path before this step. */
  readonly preemptions: number;
  /** Tasks whose subtree is explored or being explored. */
  done: number;
  /** The task the current path takes here. */
  chosen: number;
}

/** Tasks a bit mask can name. */
const MAX_TASKS = 31;

export class BoundedDfs implements Strategy {
  readonly name = 'dfs';
  readonly every_step = true;
  /** The current preemption bound. */
  bound = 0;
  /** The largest bound whose every schedule was run (-1: none yet). */
  proved = -1;
  private readonly path: Node[] = [];
  /** Nodes of `path` that the current schedule replays. */
  private replay_to = 0;
  private depth = 0;
  private sleep = 0;
  private preemptions = 0;
  private epoch = 0;

  constructor(
    /** Stop after exhausting this bound. */
    readonly max_bound: number,
    /** Stop after this many schedules (a time budget stops it too). */
    private readonly schedules: number,
    /** Start at this bound (lower bounds are taken as explored). */
    min_bound = 0,
  ) {
    this.bound = min_bound;
    this.proved = min_bound - 1;
  }

  begin(i: number): boolean {
    if (i >= this.schedules) return false;
    this.depth = 0;
    this.sleep = 0;
    this.preemptions = 0;
    this.epoch = 0;
    if (i === 0) return true;
    if (this.backtrack()) return true;
    // Every schedule within this bound ran: the next bound starts over.
    this.proved = this.bound;
    if (this.bound >= this.max_bound) return false;
    this.bound++;
    this.path.length = 0;
    this.replay_to = 0;
    return true;
  }

  /* The deepest node with an untried task the bound allows becomes the branch point. */
  private backtrack(): boolean {
    for (let j = this.path.length - 1; j >= 0; j--) {
      const node = this.path[j]!;
      let open = node.runnable & ~node.done & ~node.sleep;
      for (let t = 0; open !== 0; t++, open >>>= 1) {
        if ((open & 1) === 0) continue;
        const cost = node.last_runnable && t !== node.last ? 1 : 0;
        if (node.preemptions + cost > this.bound) continue;
        node.done |= 1 << t;
        node.chosen = t;
        this.path.length = j + 1;
        this.replay_to = j + 1;
        return true;
      }
    }
    return false;
  }

  pick(runnable: readonly number[], view: ExploreView): number {
    if (view.epoch !== this.epoch) {
      this.epoch = view.epoch;
      this.sleep = 0;
    }
    let t: number;
    if (runnable.length === 1) {
      t = runnable[0]!;
    } else {
      const j = this.depth++;
      if (j < this.replay_to) {
        t = this.path[j]!.chosen;
      } else {
        t = this.extend(runnable, view);
        if (t < 0) return -1;
      }
      const node = this.path[j]!;
      // Siblings explored before t sleep in t's subtree.
      this.sleep |= node.done & ~(1 << t);
      if (node.last_runnable && t !== node.last) this.preemptions++;
    }
    this.sleep = this.wake(t, view);
    return t;
  }

  /* A node past the replayed path: go on without preempting where allowed. */
  private extend(runnable: readonly number[], view: ExploreView): number {
    if (view.nr_tasks > MAX_TASKS)
      throw new Error(`dfs explores at most ${MAX_TASKS} tasks, not ${view.nr_tasks}`);
    let mask = 0;
    for (const r of runnable) mask |= 1 << r;
    const last = view.last;
    const last_runnable = last >= 0 && (mask & (1 << last)) !== 0;
    const awake = mask & ~this.sleep;
    if (awake === 0) return -1;
    let t: number;
    if (last_runnable && (awake & (1 << last)) !== 0) t = last;
    else t = 31 - Math.clz32(awake & -awake);
    if (last_runnable && t !== last && this.preemptions + 1 > this.bound) return -1;
    this.path.push({
      runnable: mask,
      sleep: this.sleep,
      last,
      last_runnable,
      preemptions: this.preemptions,
      done: 1 << t,
      chosen: t,
    });
    return t;
  }

  /* Sleepers whose pending access does not commute with t's wake up. */
  private wake(t: number, view: ExploreView): number {
    let s = this.sleep & ~(1 << t);
    for (let u = 0, rest = s; rest !== 0; u++, rest >>>= 1) {
      if ((rest & 1) !== 0 && view.dependent(u, t)) s &= ~(1 << u);
    }
    return s;
  }
}
