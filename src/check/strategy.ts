/*
 * Exploration strategies behind the executor's one small interface.
 */
import type { ExploreView, Strategy } from '../runtime/executors/explore.js';
import { OP_NAMES } from '../runtime/ops.js';
import { Rng } from '../scenarios/random.js';
import { BoundedDfs, type Shard, WHOLE } from './dfs.js';
import { type ChangePoints, SyncPoints } from './focus.js';
import { WordPoints } from './word.js';

/*
 * Random walk and PCT seed schedule j of a run from (seed, j) alone, so a
 * shard i of n runs schedules i, i + n, i + 2n, ... of the whole run: its
 * `schedules` counts its own. The salts keep the two strategies' streams apart.
 */
function schedule_rng(
  seed: number,
  local: number,
  shard: Shard,
  seed_salt: number,
  index_salt: number,
): Rng {
  const i = local * shard.count + shard.index;
  return new Rng(Math.imul(seed ^ seed_salt, 0x01000193) ^ Math.imul(i + 1, index_salt));
}

/** Random walk: every choice uniform among the runnable tasks; schedule i seeded from (seed, i). */
export class RandomWalk implements Strategy {
  readonly name = 'random';
  /** Replaced by begin() for each schedule. */
  private rng = new Rng(0);

  constructor(
    private readonly seed: number,
    private readonly schedules: number,
    private readonly shard: Shard = WHOLE,
  ) {}

  begin(local: number): boolean {
    if (local >= this.schedules) return false;
    this.rng = schedule_rng(this.seed, local, this.shard, 0x5bd1e995, 0x9e3779b1);
    return true;
  }

  pick(runnable: readonly number[]): number {
    return runnable[this.rng.below(runnable.length)]!;
  }
}

/** Above every initial priority (d .. d + n - 1, n at most 255 tasks). */
const RAISED = 256;

/**
 * PCT (Burckhardt et al., ASPLOS 2010): the n tasks get the distinct
 * priorities d .. d + n - 1 in a random order and the highest-priority
 * runnable task runs; d - 1 distinct change points k_1 .. k_{d-1} are drawn
 * from the decisions 1 .. k, and at k_i the task that ran drops to
 * priority i, below every task not yet lowered and unlike any other. A bug
 * that needs d ordering constraints is then found by one run with
 * probability at least 1 / (n * k^(d-1)). Unlike a random walk, it lets
 * one task run alone for long stretches: the races of the seeds need that.
 *
 * Which picks are decisions, numbered 1 .. k, is the `points` set's to
 * say: every choice for PCT itself, only some for a strategy that aims its
 * change points (focus.ts). Where the set raises (word.ts), a change
 * point instead puts a task the set names above every other.
 */
export class Pct implements Strategy {
  readonly name: string;
  readonly every_step: boolean;
  /** Replaced by begin() for each schedule. */
  private rng = new Rng(0);
  /** Each task's place in the random order: its priority until a change point lowers it. */
  private initial: number[] = [];
  /** The priority a change point gave each task (0: none did). */
  private changed: number[] = [];
  /** Raises made in this schedule: the i-th gives priority RAISED + d + i. */
  private raises = 0;
  /** The change points ahead, soonest first, each with the priority it gives. */
  private change_points: { readonly at: number; readonly priority: number }[] = [];
  /* Per priority, the last pick that saw a runnable task hold it, and that task. */
  private stamp = new Float64Array(0);
  private holder = new Int32Array(0);
  private picks = 0;

  constructor(
    private readonly seed: number,
    private readonly schedules: number,
    readonly depth: number,
    private readonly shard: Shard = WHOLE,
    private readonly points: ChangePoints = new EveryChoice(),
  ) {
    this.name = points.name;
    this.every_step = points.every_step;
    if (depth < 1 || depth - 1 > points.k)
      throw new Error(`${this.name}: depth ${depth} is not in 1 .. ${points.k + 1}`);
  }

  begin(local: number): boolean {
    if (local >= this.schedules) return false;
    this.rng = schedule_rng(this.seed, local, this.shard, 0x27d4eb2f, 0x85ebca77);
    this.initial = [];
    this.changed = [];
    this.raises = 0;
    this.points.begin(this.rng);
    this.change_points = this.draw_change_points();
    return true;
  }

  /* k_1 .. k_{d-1}: distinct decisions of 1 .. k, k_i giving priority i. */
  private draw_change_points(): { at: number; priority: number }[] {
    const at: number[] = [];
    // A schedule with fewer decisions than d - 1 (word's, on a rare word): each is one.
    while (at.length < Math.min(this.depth - 1, this.points.k)) {
      const k = 1 + this.rng.below(this.points.k);
      if (!at.includes(k)) at.push(k);
    }
    const points = at.map((k, i) => ({ at: k, priority: i + 1 }));
    points.sort((a, b) => a.at - b.at);
    for (let i = 1; i < points.length; i++)
      if (points[i]!.at === points[i - 1]!.at)
        throw new Error(
          `${this.name}: change points k_${points[i - 1]!.priority} and k_${points[i]!.priority} are both decision ${points[i]!.at}`,
        );
    return points;
  }

  /*
   * Task t, first seen after the i tasks before it, takes a uniformly
   * random rank among i + 1, those at or above it moving up one: the
   * initial priorities stay d .. d + i in a uniformly random order
   * however late a task is first seen, and their relative order is kept.
   */
  private add_task(t: number): void {
    const p = this.depth + this.rng.below(t + 1);
    for (let u = 0; u < t; u++) if (this.initial[u]! >= p) this.initial[u]!++;
    this.initial.push(p);
    this.changed.push(0);
    if (this.stamp.length < this.depth + t + 1) {
      this.stamp = new Float64Array(2 * (this.depth + t + 1));
      this.holder = new Int32Array(this.stamp.length);
    }
  }

  private priority(t: number): number {
    return this.changed[t] || this.initial[t]!;
  }

  /*
   * A raising change point: the task `raise` names among the runnable ones
   * other than the one that ran goes above every task, those raised
   * before included.
   */
  private raise(
    raise: (others: readonly number[], rng: Rng) => number,
    runnable: readonly number[],
    last: number,
  ): void {
    const t = raise(
      runnable.filter((u) => u !== last),
      this.rng,
    );
    const p = RAISED + this.depth + ++this.raises;
    this.changed[t] = p;
    if (this.stamp.length <= p) {
      this.stamp = new Float64Array(2 * p);
      this.holder = new Int32Array(this.stamp.length);
    }
  }

  /** The probability bound of one run for `tasks` tasks, as PCT (or the point set) guarantees it. */
  bound(tasks: number): number {
    if (this.points.bound) return this.points.bound(tasks, this.depth);
    return 1 / (tasks * this.points.k ** (this.depth - 1));
  }

  pick(runnable: readonly number[], view: ExploreView): number {
    for (let t = this.initial.length; t < view.nr_tasks; t++) this.add_task(t);
    const now = this.points.decision(runnable, view);
    // A change point here lowers the task that ran since the last choice (or raises another).
    if (now > 0 && this.change_points[0]?.at === now) {
      const priority = this.change_points.shift()!.priority;
      if (this.points.raise) this.raise(this.points.raise.bind(this.points), runnable, view.last);
      else this.changed[view.last] = priority;
    }
    // Distinct priorities make the pick the order's, not the task numbering's.
    const pick = ++this.picks;
    let best = -1;
    let best_priority = 0;
    for (const t of runnable) {
      const p = this.priority(t);
      if (this.stamp[p] === pick)
        throw new Error(
          `${this.name}: tasks ${this.holder[p]} and ${t} share priority ${p} at decision ${now}`,
        );
      this.stamp[p] = pick;
      this.holder[p] = t;
      if (p > best_priority) {
        best = t;
        best_priority = p;
      }
    }
    this.points.picked(best, view);
    return best;
  }
}

/**
 * PCT's own decisions: every choice, numbered from 0 (the first has no
 * task run yet to lower, so no change point falls on it). Steps with one
 * runnable task are not choices, so change points fall only on real ones.
 */
class EveryChoice implements ChangePoints {
  readonly name = 'pct';
  readonly every_step = false;
  /** Choices of the longest schedule so far (before any has run, a guess). */
  k = 64;
  private choices = 0;

  begin(): void {
    this.choices = 0;
  }

  decision(): number {
    const n = this.choices++;
    if (this.choices > this.k) this.k = this.choices;
    return n;
  }

  picked(): void {}
}

/**
 * Sequential: one schedule in which the highest-numbered runnable task
 * always runs. With one CPU and the kthreads numbered after it, a kthread
 * runs as soon as it is woken (RCU callbacks are processed at once) and
 * the CPU otherwise runs uninterrupted: the plain sequential execution.
 */
export class Sequential implements Strategy {
  readonly name = 'sequential';

  begin(i: number): boolean {
    return i === 0;
  }

  pick(runnable: readonly number[]): number {
    return runnable[runnable.length - 1]!;
  }
}

/**
 * One phase of a directed schedule:
 *  - run `task` until its next access is `op` on an address whose name
 *    contains `at` (that access is not performed);
 *  - run `task` for `steps` steps;
 *  - run `task` while it can (`drain`).
 * While the phase's task cannot run, the lowest runnable task runs.
 */
export type Phase =
  | { readonly task: number; readonly until: { readonly op: number; readonly at: string } }
  | { readonly task: number; readonly steps: number }
  | { readonly task: number; readonly drain: true };

/** A phase as --phases writes it. */
function phase_text(ph: Phase): string {
  if ('drain' in ph) return `${ph.task}:*`;
  if ('steps' in ph) return `${ph.task}:+${ph.steps}`;
  return `${ph.task}:${OP_NAMES[ph.until.op]}:${ph.until.at}`;
}

/**
 * A directed schedule ended before one of its phases began: the run it
 * made is not the interleaving written, so it proves nothing clean.
 */
export class PhaseNotReached extends Error {
  override name = 'PhaseNotReached';
}

/**
 * Directed: one schedule written by hand, phase after phase, to reproduce
 * an interleaving a reviewer describes ("the reader stops right after its
 * decrement, the writer runs to the free, then the reader goes on"). After
 * the last phase the highest runnable task runs.
 */
export class Directed implements Strategy {
  readonly name = 'directed';
  private phase = 0;
  private taken = 0;

  constructor(private readonly phases: readonly Phase[]) {}

  /** begin(1), once the schedule ended with no bug, throws PhaseNotReached if it did not follow its phases. */
  begin(i: number): boolean {
    if (i === 1) this.check_reached();
    this.phase = 0;
    this.taken = 0;
    return i === 0;
  }

  /*
   * Once every task has ended, a step or drain phase still ahead is over
   * (its task ran as far as it could); an until phase ahead is not: its
   * access never came at a point where another task could run.
   */
  private check_reached(): void {
    const at = this.phases.findIndex((ph, p) => p >= this.phase && 'until' in ph);
    const ph = this.phases[at];
    if (!ph || !('until' in ph)) return;
    throw new PhaseNotReached(
      `phase ${at + 1} '${phase_text(ph)}' was never reached: task ${ph.task} made no ${OP_NAMES[ph.until.op]} of an address whose name contains '${ph.until.at}' while another task could run`,
    );
  }

  pick(runnable: readonly number[], view: ExploreView): number {
    for (; this.phase < this.phases.length; this.phase++, this.taken = 0) {
      const ph = this.phases[this.phase]!;
      const can = runnable.includes(ph.task);
      if ('drain' in ph) {
        if (can) return ph.task;
        continue;
      }
      if ('steps' in ph) {
        if (this.taken >= ph.steps) continue;
        if (!can) return runnable[0]!;
        this.taken++;
        return ph.task;
      }
      if (!can) return runnable[0]!;
      if (
        view.pending_op(ph.task) === ph.until.op &&
        view.describe(view.pending_addr(ph.task)).includes(ph.until.at)
      )
        continue;
      return ph.task;
    }
    return runnable[runnable.length - 1]!;
  }
}

/**
 * Parse phases written as `TASK:OP:NAME` (until), `TASK:+N` (steps) or
 * `TASK:*` (drain), separated by commas: 1:fetch_add:vm_refcnt,0:*,1:*.
 * Given the run's task names (task_name()), a task that is not one of them
 * is refused.
 */
export function parse_phases(text: string, tasks?: readonly string[]): Phase[] {
  return text.split(',').map((item, i) => {
    const [t, what, at] = item.split(':');
    const task = Number(t);
    if (!/^\d+$/.test(t ?? '') || what === undefined)
      throw new Error(`phase ${i + 1} '${item}': expected TASK:OP:NAME, TASK:+N or TASK:*`);
    if (tasks && task >= tasks.length)
      throw new Error(`phase ${i + 1} '${item}': no task ${task} (${tasks_text(tasks)})`);
    if (what === '*') return { task, drain: true as const };
    if (/^\+\d+$/.test(what)) return { task, steps: Number(what.slice(1)) };
    const op = OP_NAMES.indexOf(what.toLowerCase());
    if (op <= 0 || at === undefined)
      throw new Error(
        `phase ${i + 1} '${item}': unknown op '${what}' or missing NAME (ops: ${OP_NAMES.filter(Boolean).join(', ')})`,
      );
    return { task, until: { op, at } };
  });
}

/** The tasks of a run as phases name them: `tasks: 0 cpu0, 1 cpu1, 2 rcu_gp_kthread`. */
export function tasks_text(tasks: readonly string[]): string {
  return `tasks: ${tasks.map((name, t) => `${t} ${name}`).join(', ')}`;
}

/** Replay: the recorded choice at every step. */
export class Replay implements Strategy {
  readonly name = 'replay';

  constructor(private readonly choices: Uint8Array) {}

  begin(i: number): boolean {
    return i === 0;
  }

  pick(runnable: readonly number[], view: ExploreView): number {
    if (view.step >= this.choices.length) {
      throw new ReplayDiverged(
        `the schedule ends at step ${this.choices.length} but the run goes on`,
      );
    }
    const t = this.choices[view.step]!;
    if (!runnable.includes(t)) {
      throw new ReplayDiverged(
        `at step ${view.step} the schedule picks task ${t}, which cannot run (runnable: ${runnable.join(', ')})`,
      );
    }
    return t;
  }
}

/** A replayed schedule does not fit the run: the string is stale or the model is not deterministic. */
class ReplayDiverged extends Error {
  override name = 'ReplayDiverged';
}

/** The strategies that search on their own (directed and replay follow a given schedule). */
export const SEARCH_STRATEGIES = ['random', 'pct', 'focus', 'word', 'dfs'] as const;
export type SearchStrategy = (typeof SEARCH_STRATEGIES)[number];

export interface SearchOptions {
  readonly seed: number;
  readonly schedules: number;
  /** PCT, focus and word: the bug depth aimed at. */
  readonly depth: number;
  /** DFS: the largest preemption bound. */
  readonly bound: number;
  /** The part of the search to run (schedules are counted per shard). */
  readonly shard?: Shard;
}

export function search_strategy(name: SearchStrategy, o: SearchOptions): Strategy {
  const shard = o.shard ?? WHOLE;
  switch (name) {
    case 'pct':
      return new Pct(o.seed, o.schedules, o.depth, shard);
    case 'focus':
      return new Pct(o.seed, o.schedules, o.depth, shard, new SyncPoints());
    case 'word':
      return new Pct(o.seed, o.schedules, o.depth, shard, new WordPoints());
    case 'dfs':
      return new BoundedDfs(o.bound, o.schedules, o.seed, shard);
    case 'random':
      return new RandomWalk(o.seed, o.schedules, shard);
  }
}
