/*
 * A schedule a replay string records, run again bit for bit with tracing
 * on, as `mmlab replay` runs it.
 */
import type { RunConfig, Scenario } from '../runtime/scenario.js';
import { type BugReport, Explorer } from './explorer.js';
import { hex32, type ReplayRecord } from './replay.js';

export interface Replayed {
  readonly bug: BugReport | null;
  readonly steps: number;
  /** Trace hash (hex) of the run. */
  readonly hash: string;
  /** No bug: the per-CPU table of the run's last steps; null with a bug (its report has one). */
  readonly table: string | null;
  /** The explorer that ran it, for its timeline. */
  readonly explorer: Explorer;
}

/**
 * The schedule does not fit the scenario, or does not reproduce its
 * recorded trace hash: the string is stale, altered, or the model is not
 * deterministic. A mismatch, not bad usage.
 */
export class ReplayMismatch extends Error {
  override name = 'ReplayMismatch';
}

/**
 * Replay the schedule of `rec` on `s` under `cfg`, past the triaged races
 * where it went past them; ReplayMismatch unless it runs and gives its
 * hash (when it has one).
 */
export function replay_schedule(
  s: Scenario,
  cfg: RunConfig,
  rec: Pick<ReplayRecord, 'choices' | 'hash' | 'past_triaged'>,
): Replayed {
  const explorer = new Explorer(s, cfg);
  let run: ReturnType<Explorer['trace']>;
  try {
    run = explorer.trace(rec.choices, rec.hash, rec.past_triaged ?? false);
  } catch (e) {
    throw new ReplayMismatch((e as Error).message);
  }
  const { outcome, trace } = run;
  const bug = outcome.bug ? explorer.report(outcome) : null;
  return {
    bug,
    steps: outcome.steps,
    hash: bug?.hash ?? hex32(outcome.hash),
    table: bug ? null : explorer.table(trace, -1),
    explorer,
  };
}
