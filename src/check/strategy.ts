/*
 * Exploration strategies behind the executor's one small interface.
 */
import type { ExploreView, Strategy } from '../runtime/executors/explore.js';
import { OP_NAMES } from '../runtime/ops.js';
import { Rng } from '../scenarios/random.js';
import { BoundedDfs, type Shard, WHOLE } from './dfs.js';

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

/**
 * PCT (Burckhardt et al., ASPLOS 2010): every task gets a random priority
 * and the highest-priority runnable task runs; at d - 1 random steps the
 * running task drops below all others. A bug that needs d ordering
 * constraints is found by one run with probability at least
 * 1 / (n * k^(d-1)) for n tasks and k steps. Unlike a random walk, it lets
 * one task run alone for long stretches: the races of the seeds need that.
 */
export class Pct implements Strategy {
  readonly name = 'pct';
  /** Replaced by begin() for each schedule. */
  private rng = new Rng(0);
  private priority: number[] = [];
  private change_points: number[] = [];
  /**
   * Decision points (steps where more than one task could run) of the
   * longest schedule so far: k of the bound. Steps with one runnable task
   * are not choices, so change points fall only on real ones.
   */
  private steps_seen = 64;
  private decisions = 0;

  constructor(
    private readonly seed: number,
    private readonly schedules: number,
    readonly depth: number,
    private readonly shard: Shard = WHOLE,
  ) {}

  begin(local: number): boolean {
    if (local >= this.schedules) return false;
    this.rng = schedule_rng(this.seed, local, this.shard, 0x27d4eb2f, 0x85ebca77);
    this.priority = [];
    this.change_points = [];
    this.decisions = 0;
    for (let j = 0; j < this.depth - 1; j++)
      this.change_points.push(this.rng.below(this.steps_seen));
    this.change_points.sort((a, b) => a - b);
    return true;
  }

  /** The probability bound of one run for `tasks` tasks, as PCT guarantees it. */
  bound(tasks: number): number {
    return 1 / (tasks * this.steps_seen ** (this.depth - 1));
  }

  pick(runnable: readonly number[], view: ExploreView): number {
    const now = this.decisions++;
    if (this.decisions > this.steps_seen) this.steps_seen = this.decisions;
    const pri = this.priority;
    // Priorities d .. d + n - 1, in a random order, on first sight of each task.
    for (let t = pri.length; t < view.nr_tasks; t++) pri.push(this.depth + this.rng.below(1 << 20));
    // Change points passed since the last choice lower the task that ran.
    while (this.change_points.length > 0 && this.change_points[0]! <= now) {
      this.change_points.shift();
      if (view.last >= 0) pri[view.last] = this.change_points.length;
    }
    let best = runnable[0]!;
    for (const t of runnable) if (pri[t]! > pri[best]!) best = t;
    return best;
  }
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
export class ReplayDiverged extends Error {
  override name = 'ReplayDiverged';
}

/** The strategies that search on their own (directed and replay follow a given schedule). */
export const SEARCH_STRATEGIES = ['random', 'pct', 'dfs'] as const;
export type SearchStrategy = (typeof SEARCH_STRATEGIES)[number];

export interface SearchOptions {
  readonly seed: number;
  readonly schedules: number;
  /** PCT: the bug depth aimed at. */
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
    case 'dfs':
      return new BoundedDfs(o.bound, o.schedules, o.seed, shard);
    case 'random':
      return new RandomWalk(o.seed, o.schedules, shard);
  }
}
