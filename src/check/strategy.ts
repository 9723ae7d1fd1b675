/*
 * Exploration strategies behind the executor's one small interface.
 */
import type { ExploreView, Strategy } from '../runtime/executors/explore.js';
import { Rng } from './random.js';

/** Random walk: every choice uniform among the runnable tasks; schedule i seeded from (seed, i). */
export class RandomWalk implements Strategy {
  readonly name = 'random';
  private rng: Rng;

  constructor(
    private readonly seed: number,
    private readonly schedules: number,
  ) {
    this.rng = new Rng(seed);
  }

  begin(i: number): boolean {
    if (i >= this.schedules) return false;
    this.rng = new Rng(
      Math.imul(this.seed ^ 0x5bd1e995, 0x01000193) ^ Math.imul(i + 1, 0x9e3779b1),
    );
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
  private rng: Rng;
  private priority: number[] = [];
  private change_points: number[] = [];
  /** The longest schedule seen so far: k of the bound. */
  private steps_seen = 64;

  constructor(
    private readonly seed: number,
    private readonly schedules: number,
    readonly depth: number,
  ) {
    this.rng = new Rng(seed);
  }

  begin(i: number): boolean {
    if (i >= this.schedules) return false;
    this.rng = new Rng(
      Math.imul(this.seed ^ 0x27d4eb2f, 0x01000193) ^ Math.imul(i + 1, 0x85ebca77),
    );
    this.priority = [];
    this.change_points = [];
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
    if (view.step > this.steps_seen) this.steps_seen = view.step;
    const pri = this.priority;
    // Priorities d .. d + n - 1, in a random order, on first sight of each task.
    for (let t = pri.length; t < view.nr_tasks; t++) pri.push(this.depth + this.rng.below(1 << 20));
    // Change points passed since the last choice lower the task that ran.
    while (this.change_points.length > 0 && this.change_points[0]! <= view.step) {
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
