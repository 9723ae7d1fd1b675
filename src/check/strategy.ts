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
