/*
 * Bounded-preemption depth-first search with partial-order reduction.
 *
 * Every schedule with at most `bound` preemptions (a switch away from a
 * task that could have gone on; CHESS, Musuvathi & Qadeer, PLDI 2007) is
 * covered up to reordering of commuting accesses, the bound raised one at
 * a time from 0, so the first bug found is one with the fewest
 * preemptions. When a bound is exhausted without a bug the scenario is
 * clean within it: `proved` says up to which bound.
 *
 * Two reductions keep that cheap. Dynamic partial-order reduction
 * (Flanagan & Godefroid, POPL 2005): after each schedule, vector clocks
 * over its steps find every pair of conflicting accesses (same word, one
 * writes) that no happens-before chain orders; only there is the other
 * task tried, at the node before the first of the pair, and, to stay
 * complete under the bound, where that task's run began (Coons, Musuvathi
 * & McKinley, OOPSLA 2013). Sleep sets (Godefroid 1996), restricted to
 * stay sound under the bound: once the subtree of the task preempted at a
 * node is explored, that task sleeps in the preempting siblings' subtrees
 * until some step does not commute with its pending access (see wake()).
 * A schedule in which every runnable task sleeps is abandoned, as is one
 * that would need more preemptions than the bound.
 *
 * The search is stateless: each schedule replays the choices of the
 * current path up to its deepest open node, takes the next task to try
 * there, and goes on without preempting. The seed orders the tasks where
 * the search has a free choice (the first step, after a task blocks, the
 * order alternatives are tried in): every seed covers the same schedules,
 * in another order.
 *
 * Shards split the tree: the first SPLIT nodes try every task the bound
 * allows (no reduction there), and shard i of n takes the subtrees below
 * whose choices there hash to i. Each subtree is then searched with the
 * reduction on its own, so the shards together cover what one search
 * covers, and none needs another's results. A shard split again (its
 * `outer` count set) takes the subtrees of its outer shard, found as
 * that shard finds them, that a second hash over deeper choices gives it:
 * the parts of shard i cover what shard i covers, however many they are.
 */
import type { ExploreView, Strategy } from '../runtime/executors/explore.js';
import {
  FOOTPRINT_SLOTS,
  FP_FLAGS,
  FP_HI1,
  FP_LO1,
  FP_RANGES,
  FP_WRITE1,
} from '../runtime/executors/footprint.js';

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
  /** Tasks to try here: races found in schedules through this node. */
  backtrack: number;
  /** The task the current path takes here. */
  chosen: number;
}

// find_races() walks a footprint's ranges by stride: range r at slots 2r, 2r + 1, write bit 1 << r.
if (FP_LO1 !== 0 || FP_HI1 !== 1 || FP_WRITE1 !== 1 || FP_FLAGS < 2 * FP_RANGES)
  throw new Error('dfs: footprint layout changed');

/*
 * node_of[] of an epilogue step, which the executor runs, recorded so
 * that its races with the schedule's steps are seen: a kthread's step
 * there (the grace period that the CPUs' last call_rcu() started) may
 * race with any CPU's step, and reversing that race means running the
 * kthread earlier. The epilogue itself runs on cpu0 (EPILOGUE_TASK) once
 * every CPU is done, after any kthread runnable then: every step before
 * one of its steps happens before it, and there is no race to reverse.
 */
const EPILOGUE = -2;
const EPILOGUE_TASK = 0;

/** Tasks a bit mask can name. */
const MAX_TASKS = 31;

/**
 * Which part of a search a run takes: shard `index` of `count`. Shard i
 * of n split again into j parts (--shard with --jobs) gives shards
 * i + k n of n j (k < j) with `outer` n: a random walk numbers their
 * schedules as shard i's, and DFS hashes shard i's subtrees apart.
 */
export interface Shard {
  readonly index: number;
  readonly count: number;
  /** The count of the shard this one is a part of (`count` when unset). */
  readonly outer?: number;
}

export const WHOLE: Shard = { index: 0, count: 1 };

/** Nodes fully expanded above the shards' subtrees: enough to spread n shards. */
const split_depth = (shards: number) => (shards <= 1 ? 0 : Math.ceil(Math.log2(shards)) + 3);

export class BoundedDfs implements Strategy {
  readonly name = 'dfs';
  readonly every_step = true;
  /** The current preemption bound. */
  bound = 0;
  /** The largest bound whose every schedule was run (-1: none yet). */
  proved = -1;
  /** Whether the schedule budget, not the bound, ended the search. */
  out_of_schedules = false;
  private readonly path: Node[] = [];
  /** Nodes of `path` that the current schedule replays. */
  private replay_to = 0;
  private depth = 0;
  private sleep = 0;
  private preemptions = 0;
  private epoch = 0;
  private nr_tasks = 0;
  /* The steps of the current schedule: task, footprint and decision node (-1: forced). */
  private steps = 0;
  private task_of = new Uint8Array(1024);
  private node_of = new Int32Array(1024);
  private fp = new Int32Array(1024 * FOOTPRINT_SLOTS);
  /* Scratch of find_races(), kept between schedules. */
  private clock = new Int32Array(0);
  private step_clock = new Int32Array(0);
  private readonly words = new LastAccess();
  private readonly conflicts: number[] = [];

  constructor(
    /** Stop after exhausting this bound. */
    readonly max_bound: number,
    /** Stop after this many schedules (a time budget stops it too). */
    private readonly schedules: number,
    private readonly seed = 0,
    readonly shard: Shard = WHOLE,
    /**
     * Partial-order reduction and sleep sets; without them every task the
     * bound allows is tried at every choice: the plain bounded search, the
     * reference the reduction is checked against.
     */
    readonly reduce = true,
  ) {
    this.split = split_depth(shard.count);
  }

  private readonly split: number;

  /* The task tried first at node n: a seeded rotation of the task ids. */
  private first(n: number): number {
    return (Math.imul(this.seed ^ Math.imul(n + 1, 0x9e3779b1), 0x85ebca77) >>> 7) % this.nr_tasks;
  }

  /* The lowest set bit of `mask` at or after task `from`, wrapping around. */
  private next_in(mask: number, from: number): number {
    const hi = mask & (-1 << from);
    const m = hi !== 0 ? hi : mask;
    return 31 - Math.clz32(m & -m);
  }

  begin(i: number): boolean {
    // The schedule just run may have ended a bound: that bound is proved even with no budget left.
    if (i > 0 && !this.next_branch()) return false;
    if (i >= this.schedules) {
      this.out_of_schedules = true;
      return false;
    }
    this.depth = 0;
    this.sleep = 0;
    this.preemptions = 0;
    this.epoch = 0;
    this.steps = 0;
    return true;
  }

  /* Where the next schedule branches off; false when the last bound is exhausted. */
  private next_branch(): boolean {
    if (this.reduce) this.find_races();
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
      let open = node.backtrack & ~node.done & ~node.sleep;
      while (open !== 0) {
        const t = this.next_in(open, this.first(j));
        open &= ~(1 << t);
        if (!this.within_bound(node, t)) continue;
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
      this.record(t, -1, view);
    } else {
      const j = this.depth++;
      if (j < this.replay_to) {
        t = this.path[j]!.chosen;
      } else {
        t = this.extend(runnable, view);
        if (t < 0) return -1;
      }
      if (j === this.split - 1 && !this.mine()) return -1;
      const node = this.path[j]!;
      if (node.last_runnable && t !== node.last) {
        this.preemptions++;
        // The task preempted here, explored first, sleeps in t's subtree (see wake()).
        if (this.reduce) this.sleep |= node.done & (1 << node.last);
      }
      this.record(t, j, view);
    }
    this.sleep = this.wake(t, view);
    return t;
  }

  epilogue_step(t: number, view: ExploreView): void {
    this.record(t, EPILOGUE, view);
  }

  /* Whether the subtree the path enters below the split nodes is this shard's. */
  private mine(): boolean {
    const { index, count } = this.shard;
    const outer = this.shard.outer ?? count;
    if (this.hash(split_depth(outer)) % outer !== index % outer) return false;
    return outer === count || this.hash(this.split) % (count / outer) === Math.floor(index / outer);
  }

  /* A hash of the choices at the first `depth` nodes. */
  private hash(depth: number): number {
    let h = 0x811c9dc5;
    for (let j = 0; j < depth; j++) h = Math.imul(h ^ this.path[j]!.chosen, 0x01000193);
    return h >>> 0;
  }

  private record(t: number, node: number, view: ExploreView): void {
    const i = this.steps++;
    if (i >= this.task_of.length) {
      const task_of = new Uint8Array(i * 2);
      task_of.set(this.task_of);
      this.task_of = task_of;
      const node_of = new Int32Array(i * 2);
      node_of.set(this.node_of);
      this.node_of = node_of;
      const fp = new Int32Array(i * 2 * FOOTPRINT_SLOTS);
      fp.set(this.fp);
      this.fp = fp;
    }
    this.task_of[i] = t;
    this.node_of[i] = node;
    if (this.reduce) view.footprint(t, this.fp, i * FOOTPRINT_SLOTS);
  }

  /*
   * Races of the schedule just run: for each step, the earlier steps of
   * other tasks on the same words that conflict with it and do not happen
   * before it. Happens-before is program order plus the order of every
   * conflicting pair, as vector clocks of step numbers (step + 1, 0 for
   * none) per task.
   */
  private find_races(): void {
    const n = this.steps;
    const T = this.nr_tasks;
    const clock = this.clock.length >= T * T ? this.clock : new Int32Array(T * T);
    this.clock = clock;
    clock.fill(0);
    if (this.step_clock.length < n * T) this.step_clock = new Int32Array(n * T * 2);
    const step_clock = this.step_clock;
    const words = this.words;
    words.begin(T);
    const conflicts = this.conflicts;
    for (let i = 0; i < n; i++) {
      const p = this.task_of[i]!;
      const f = i * FOOTPRINT_SLOTS;
      const flags = this.fp[f + FP_FLAGS]!;
      conflicts.length = 0;
      // Range r of a footprint: slots 2r and 2r + 1, write bit 1 << r.
      for (let r = 0; r < FP_RANGES; r++) {
        const lo = this.fp[f + FP_LO1 + 2 * r]!;
        const w = (flags & (FP_WRITE1 << r)) !== 0;
        words.access(lo, this.fp[f + FP_HI1 + 2 * r]!, w, i, p, this.task_of, conflicts);
      }
      const cp = p * T;
      if (this.node_of[i] === EPILOGUE && p === EPILOGUE_TASK) this.join_all(cp);
      for (const j of conflicts) {
        const q = this.task_of[j]!;
        if (clock[cp + q]! <= j) this.race(j, p);
      }
      for (const j of conflicts) {
        for (let u = 0; u < T; u++) {
          const c = step_clock[j * T + u]!;
          if (c > clock[cp + u]!) clock[cp + u] = c;
        }
      }
      clock[cp + p] = i + 1;
      for (let u = 0; u < T; u++) step_clock[i * T + u] = clock[cp + u]!;
    }
  }

  /* The clock at row cp takes in every task's last step: all that ran before happens before it. */
  private join_all(cp: number): void {
    const T = this.nr_tasks;
    const clock = this.clock;
    for (let u = 0; u < T; u++)
      for (let v = 0; v < T; v++)
        if (clock[u * T + v]! > clock[cp + v]!) clock[cp + v] = clock[u * T + v]!;
  }

  /*
   * Step j (of another task) races with a later step of task p: try p
   * before step j, and before the run of j's task that step j ends, where
   * switching to p may cost no preemption: without that second point the
   * bound would hide the race's other order (Coons et al.). Adding it only
   * where the first point is over the bound misses bugs: the preemptions
   * the reversed order needs later are not known here.
   */
  private race(j: number, p: number): void {
    this.try_at(this.node_of[j]!, p);
    const q = this.task_of[j]!;
    let start = j;
    while (start > 0 && this.task_of[start - 1] === q) start--;
    if (start !== j) this.try_at(this.node_of[start]!, p);
  }

  /* Whether p can run at `node` within the bound. */
  private within_bound(node: Node, p: number): boolean {
    if ((node.runnable & (1 << p)) === 0) return false;
    const cost = node.last_runnable && p !== node.last ? 1 : 0;
    return node.preemptions + cost <= this.bound;
  }

  private try_at(n: number, p: number): void {
    if (n < 0 || n >= this.path.length) return;
    const node = this.path[n]!;
    node.backtrack |= (node.runnable & (1 << p)) !== 0 ? 1 << p : node.runnable;
  }

  /* A node past the replayed path: go on without preempting where allowed. */
  private extend(runnable: readonly number[], view: ExploreView): number {
    if (view.nr_tasks > MAX_TASKS)
      throw new Error(`dfs explores at most ${MAX_TASKS} tasks, not ${view.nr_tasks}`);
    this.nr_tasks = view.nr_tasks;
    let mask = 0;
    for (const r of runnable) mask |= 1 << r;
    const last = view.last;
    const last_runnable = last >= 0 && (mask & (1 << last)) !== 0;
    const awake = mask & ~this.sleep;
    if (awake === 0) return -1;
    let t: number;
    if (last_runnable && (awake & (1 << last)) !== 0) t = last;
    else t = this.next_in(awake, this.first(this.path.length));
    if (last_runnable && t !== last && this.preemptions + 1 > this.bound) return -1;
    this.path.push({
      runnable: mask,
      sleep: this.sleep,
      last,
      last_runnable,
      preemptions: this.preemptions,
      done: 1 << t,
      // Above the split every task is tried: the shards' subtrees must not depend on races.
      backtrack: this.path.length < this.split || !this.reduce ? mask : 1 << t,
      chosen: t,
    });
    return t;
  }

  /*
   * Sleepers whose pending access does not commute with t's wake up.
   *
   * Under a preemption bound only the preempted task may sleep: a schedule
   * of a sibling's subtree that runs it late is matched in its own subtree
   * by one that runs that step first, at no more preemptions (its step,
   * then the switch the sibling paid for at the node). A sibling chosen
   * freely (no task to preempt) or a second preempting sibling has no such
   * match within the bound: its equivalent may cost one more preemption,
   * so putting it to sleep would skip schedules the bound admits.
   */
  private wake(t: number, view: ExploreView): number {
    let s = this.sleep & ~(1 << t);
    for (let u = 0, rest = s; rest !== 0; u++, rest >>>= 1) {
      if ((rest & 1) !== 0 && view.dependent(u, t)) s &= ~(1 << u);
    }
    return s;
  }
}

/*
 * Per word, the last write and each task's last read since it (step + 1,
 * 0 for none), for one schedule at a time: a stamp per word says whether
 * its entry belongs to the current schedule, so nothing is cleared.
 *
 * A range longer than BIG_RANGE (a page freed or copied) is not spread
 * over its words: it meets the words of the schedule already touched in
 * it, and is kept whole for the accesses that come later. A later access
 * then conflicts with it even where a newer write came between: an extra
 * race only adds a schedule to try.
 */
const BIG_RANGE = 32;

class LastAccess {
  private stamp = new Int32Array(0);
  private entry = new Int32Array(0);
  private run = 0;
  private tasks = 1;
  /* Words with an entry in this schedule. */
  private touched = new Int32Array(1024);
  private nr_touched = 0;
  /* Big ranges of this schedule: lo, hi, step + 1, and 1 for a write. */
  private readonly big: number[] = [];

  begin(tasks: number): void {
    this.run++;
    this.nr_touched = 0;
    this.big.length = 0;
    if (tasks !== this.tasks) {
      this.tasks = tasks;
      this.stamp = new Int32Array(0);
      this.entry = new Int32Array(0);
    }
  }

  /* Push the earlier steps of other tasks that access [lo, hi) conflicts with; then record it. */
  access(
    lo: number,
    hi: number,
    write: boolean,
    step: number,
    task: number,
    task_of: Uint8Array,
    conflicts: number[],
  ): void {
    if (hi <= lo) return;
    if (hi > this.stamp.length) this.grow(hi);
    const big = this.big;
    if (hi - lo > BIG_RANGE) {
      const touched = this.touched;
      for (let i = 0; i < this.nr_touched; i++) {
        const a = touched[i]!;
        if (a >= lo && a < hi) this.word(a, write, step, task, task_of, conflicts);
      }
      this.big_conflicts(lo, hi, write, task, task_of, conflicts);
      big.push(lo, hi, step + 1, write ? 1 : 0);
      return;
    }
    for (let a = lo; a < hi; a++) this.word(a, write, step, task, task_of, conflicts);
    if (big.length > 0) this.big_conflicts(lo, hi, write, task, task_of, conflicts);
  }

  private big_conflicts(
    lo: number,
    hi: number,
    write: boolean,
    task: number,
    task_of: Uint8Array,
    conflicts: number[],
  ): void {
    const big = this.big;
    for (let b = 0; b < big.length; b += 4) {
      if (big[b]! < hi && lo < big[b + 1]! && (write || big[b + 3] === 1)) {
        const j = big[b + 2]! - 1;
        if (task_of[j] !== task) conflicts.push(j);
      }
    }
  }

  private word(
    a: number,
    write: boolean,
    step: number,
    task: number,
    task_of: Uint8Array,
    conflicts: number[],
  ): void {
    const E = 1 + this.tasks;
    const e = a * E;
    const entry = this.entry;
    if (this.stamp[a] !== this.run) {
      this.stamp[a] = this.run;
      entry.fill(0, e, e + E);
      if (this.nr_touched === this.touched.length) {
        const grown = new Int32Array(this.touched.length * 2);
        grown.set(this.touched);
        this.touched = grown;
      }
      this.touched[this.nr_touched++] = a;
    }
    const w = entry[e]!;
    if (w > 0 && task_of[w - 1] !== task) conflicts.push(w - 1);
    if (write) {
      for (let q = 0; q < this.tasks; q++) {
        const r = entry[e + 1 + q]!;
        if (q !== task && r > 0) conflicts.push(r - 1);
      }
      entry.fill(0, e + 1, e + E);
      entry[e] = step + 1;
    } else {
      entry[e + 1 + task] = step + 1;
    }
  }

  private grow(words: number): void {
    const n = Math.max(words, this.stamp.length * 2, 1 << 16);
    const stamp = new Int32Array(n);
    stamp.set(this.stamp);
    this.stamp = stamp;
    const entry = new Int32Array(n * (1 + this.tasks));
    entry.set(this.entry);
    this.entry = entry;
  }
}
