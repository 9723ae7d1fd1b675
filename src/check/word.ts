/*
 * Word: PCT aimed at one shared word per schedule, whose change points
 * hand that word to the task that touched it last
 * (`mmlab check --strategy word --depth D`).
 *
 * Why. The bugs that need four to six preemptions are races on one
 * recycled object: 9bbffee67ffd's reader stops after it read a VMA's
 * vm_refcnt, after its increment and after its decrement, and the exiting
 * writer after it set its flag in that same word. PCT and focus count
 * every choice (or every one after a synchronisation access) of a
 * schedule, 50 to 300 of them, so four change points in the right places
 * have a chance of one in millions, and lowering the task that ran cannot
 * express "now the other party of this word runs" without a fifth point.
 *
 * What. Words that two tasks or more modify atomically (refcounts, lock
 * words, flags) are learned as the search goes. Each schedule draws one
 * of them, W: half the schedules among the words of SLAB_TYPESAFE_BY_RCU
 * objects (where recycling races live), when there are any, the others
 * among all. A choice is a decision, numbered 1, 2, ..., when the task
 * that ran can go on and has just made an access to W that read a value
 * another task (or the prologue) wrote: a task rereading or rewriting its
 * own value has learned nothing new, and preempting it there only moves
 * the same window. d - 1 change points are drawn from 1 .. k, k the most
 * decisions a schedule watching W has had (a guess of 16 before the
 * first). At a change point the runnable task other than the one that ran
 * which accessed W most recently (if none has, one drawn uniformly) is
 * raised above every task, those raised before included: the other party
 * of the race on W runs next. Otherwise tasks run by their random initial
 * priorities, as in PCT.
 *
 * The guarantee, as PCT's: let m be the number of candidate words (m_ts
 * of them in SLAB_TYPESAFE_BY_RCU objects) and n the tasks. A bug that
 * needs the tasks in one initial order and d - 1 preemptions, each just
 * after an access to W that read another task's write, each handing the
 * CPU to the runnable task that last accessed W (any, if none had), is
 * found by one schedule with probability at least
 *     p_W / (n! C(k, d-1) (n-1)^(d-1)),
 * p_W = 1/(2 m_ts) + 1/(2 m) for a word of such an object, 1/(2 m) for
 * another (1/m when there are none): the d - 1 points are one set of
 * C(k, d-1), and the raises need no priority order (the bound printed
 * takes the largest k over the words; k is learned as PCT's is, so the
 * bound holds once W has been seen). Here k is 8 to 9 on recycle-exit's
 * vm_refcnt where focus's is 50 to 60, so at d = 5 C(k, 4) is 126 where
 * focus's k^4 is ten million. A bug whose preemption must hand the CPU past the
 * last accessor of W, or follow another access, is out of its reach (its
 * probability may be 0): PCT, focus, a random walk and DFS keep that
 * ground, and DFS's bound stays exact.
 */
import type { ExploreView } from '../runtime/executors/explore.js';
import { FOOTPRINT_SLOTS, FP_RANGES } from '../runtime/executors/footprint.js';
import { Op } from '../runtime/ops.js';
import type { Rng } from '../scenarios/random.js';
import type { ChangePoints } from './focus.js';

/** k for a word no schedule has watched yet. */
const K_GUESS = 16;

/** Whether op is an atomic read-modify-write. */
function rmw(op: number): boolean {
  return (
    op === Op.FETCH_ADD ||
    op === Op.FETCH_AND ||
    op === Op.FETCH_OR ||
    op === Op.XCHG ||
    op === Op.CMPXCHG
  );
}

/** Whether op writes its words without reading them. */
function pure_write(op: number): boolean {
  return (
    op === Op.STORE ||
    op === Op.WRITE_ONCE ||
    op === Op.STORE_RELEASE ||
    op === Op.MEMSET ||
    op === Op.MEMCPY
  );
}

/** Whether op reaches past its first word (its footprint says how far). */
function bulk(op: number): boolean {
  return op === Op.MEMSET || op === Op.MEMCPY || op === Op.MEMCHR_INV;
}

function binomial(n: number, r: number): number {
  let c = 1;
  for (let i = 0; i < r; i++) c = (c * (n - i)) / (i + 1);
  return c;
}

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}

/** Word's decisions and raises (see the header). */
export class WordPoints implements ChangePoints {
  readonly name = 'word';
  readonly every_step = true;
  k = K_GUESS;
  /** Per word an atomic read-modify-write touched: the tasks that made one (a bit each). */
  private readonly modifiers = new Map<number, number>();
  /** The words two tasks or more modified atomically, in the order first seen. */
  private readonly candidates: number[] = [];
  /** Those of them in SLAB_TYPESAFE_BY_RCU objects. */
  private readonly typesafe: number[] = [];
  /** Per candidate: the most decisions a schedule watching it has had. */
  private readonly k_of = new Map<number, number>();
  /** This schedule's word, W (-1: none known yet). */
  private word = -1;
  /** Per task, the step of its last access to W (absent: none yet). */
  private touched_at: number[] = [];
  /** The task whose write W holds (-1: the prologue's). */
  private writer = -1;
  private decisions = 0;
  /** Whether the step just taken read W as another task wrote it. */
  private after_word = false;
  private readonly fp = new Int32Array(FOOTPRINT_SLOTS);

  /** This schedule's word, W (-1: none known yet). */
  get watched(): number {
    return this.word;
  }

  begin(rng: Rng): void {
    this.decisions = 0;
    this.after_word = false;
    this.touched_at = [];
    this.writer = -1;
    const pool = this.typesafe.length > 0 && rng.below(2) === 0 ? this.typesafe : this.candidates;
    this.word = pool.length > 0 ? pool[rng.below(pool.length)]! : -1;
    this.k = this.k_of.get(this.word) ?? K_GUESS;
  }

  decision(runnable: readonly number[], view: ExploreView): number {
    if (!this.after_word || runnable.length < 2 || !runnable.includes(view.last)) return 0;
    const n = ++this.decisions;
    if (n > (this.k_of.get(this.word) ?? 0)) this.k_of.set(this.word, n);
    return n;
  }

  picked(t: number, view: ExploreView): void {
    const addr = view.pending_addr(t);
    const op = view.pending_op(t);
    this.after_word = false;
    if (addr === this.word || (bulk(op) && this.covers(view, t))) {
      this.after_word = !pure_write(op) && this.writer !== t;
      if (pure_write(op) || rmw(op)) this.writer = t;
      this.touched_at[t] = view.step;
    }
    if (rmw(op)) this.learn(addr, t, view);
  }

  /* The runnable task (but the one that ran) that accessed W last, or one drawn uniformly. */
  raise(others: readonly number[], rng: Rng): number {
    let best = -1;
    for (const t of others)
      if ((this.touched_at[t] ?? -1) > (best < 0 ? -1 : this.touched_at[best]!)) best = t;
    return best >= 0 ? best : others[rng.below(others.length)]!;
  }

  /* The header's bound, for a word of a SLAB_TYPESAFE_BY_RCU object where there is one. */
  bound(tasks: number, depth: number): number {
    const m = Math.max(1, this.candidates.length);
    const p_word = this.typesafe.length > 0 ? 1 / (2 * this.typesafe.length) + 1 / (2 * m) : 1 / m;
    const k = Math.max(...this.k_of.values(), depth - 1);
    return (
      p_word / (factorial(tasks) * binomial(k, depth - 1) * Math.max(1, tasks - 1) ** (depth - 1))
    );
  }

  /* Whether task t's pending memset, memcpy or memchr_inv covers W. */
  private covers(view: ExploreView, t: number): boolean {
    view.footprint(t, this.fp, 0);
    for (let r = 0; r < FP_RANGES; r++)
      if (this.fp[2 * r]! <= this.word && this.word < this.fp[2 * r + 1]!) return true;
    return false;
  }

  /* Task t modifies `addr` atomically: a second task doing so makes it a candidate. */
  private learn(addr: number, t: number, view: ExploreView): void {
    // A bit a task: tasks past the 31st make no word a candidate.
    if (t >= 31) return;
    const before = this.modifiers.get(addr) ?? 0;
    const now = before | (1 << t);
    if (now === before) return;
    this.modifiers.set(addr, now);
    if (before === 0 || (before & (before - 1)) !== 0) return;
    this.candidates.push(addr);
    if (view.typesafe(addr)) this.typesafe.push(addr);
  }
}
