/*
 * One check of a scenario, as `mmlab check` runs it: the search on this
 * thread or split among worker threads, the parts merged, what a clean
 * DFS proved, and a random walk's or PCT's failure retold with the
 * fewest preemptions DFS finds.
 */
import type { Strategy } from '../runtime/executors/explore.js';
import { type RunConfig, type Scenario, task_name } from '../runtime/scenario.js';
import { type Shard, WHOLE } from './dfs.js';
import { type BugReport, Explorer } from './explorer.js';
import {
  budget_exhausted,
  type Exhausted,
  lowest_proved,
  merge_results,
  part_result,
  run_parallel,
  type ShardJob,
  type ShardResult,
  search_budget,
} from './parallel.js';
import {
  Directed,
  Pct,
  type Phase,
  type SearchOptions,
  type SearchStrategy,
  search_strategy,
} from './strategy.js';

/** How many schedules a random walk's failure may be re-searched for fewer preemptions. */
const MINIMIZE_SCHEDULES = 5000;

/** A search: `jobs` parts of `shard` at once (1: on this thread). */
interface SearchCheck extends SearchOptions {
  readonly strategy: SearchStrategy;
  readonly shard: Shard;
  readonly jobs: number;
}

/** One schedule written by hand: never split, never retold. */
interface DirectedCheck {
  readonly strategy: 'directed';
  readonly phases: readonly Phase[];
}

export type CheckOptions = (SearchCheck | DirectedCheck) & {
  /** Stop each part after this many milliseconds even if schedules remain. */
  readonly time_ms?: number;
  /** Report only bugs of this class (one of BUG_CLASSES), searching past the others. */
  readonly bug_class?: string;
  /** Go on past each bug: report every distinct one (by signature) the search meets. */
  readonly keep_going?: boolean;
};

export interface CheckOutcome {
  /** The bug to report: the one found, or its retelling with fewer preemptions. */
  readonly bug: BugReport | null;
  /** Every distinct bug found, `bug` first (more than one only with keep_going). */
  readonly bugs: readonly BugReport[];
  /** The preemptions of the bug as found, when `bug` retells it; null otherwise. */
  readonly found_preemptions: number | null;
  /** Over all parts. */
  readonly schedules: number;
  readonly steps: number;
  /** The longest part: the wall time when they ran side by side. */
  readonly elapsed_ms: number;
  /** DFS: the bound every part proved (-1: none); null for other strategies. */
  readonly proved_bound: number | null;
  /** DFS: the budget that ended the search before its bound, if one did. */
  readonly exhausted: Exhausted | null;
  /** PCT: its probability bound for one schedule, over `tasks` tasks. */
  readonly pct: { readonly probability: number; readonly tasks: number } | null;
  /** The explorer that ran it, for the timeline of its bug. */
  readonly explorer: Explorer;
}

/** The tasks of a run as a directed schedule's phases number them: the CPUs, then the kthreads. */
export function run_tasks(s: Scenario, cfg: RunConfig): string[] {
  return Array.from({ length: cfg.cpus + s.kthreads.length }, (_, t) => task_name(s, cfg, t));
}

/*
 * The parts of the search: on this thread, or `jobs` on worker threads
 * (the strategy made here then runs nowhere). A directed schedule whose
 * phases the run never reached throws PhaseNotReached.
 */
async function search_parts(
  explorer: Explorer,
  o: CheckOptions,
  strategy: Strategy,
): Promise<ShardResult[]> {
  const shard = o.strategy === 'directed' ? WHOLE : o.shard;
  if (o.strategy === 'directed' || o.jobs === 1)
    return [part_result(shard, strategy, explorer.check(strategy, search_budget(o)))];
  const { seed, schedules, depth, bound, time_ms, bug_class, keep_going } = o;
  return run_parallel(
    {
      scenario: explorer.scenario.name,
      ...job_source(explorer.scenario),
      cfg: explorer.cfg,
      strategy: o.strategy,
      options: { seed, schedules, depth, bound, shard },
      ...search_budget({ time_ms, bug_class, keep_going }),
    },
    o.jobs,
  );
}

/* A scenario made from text travels to a worker as its module and text. */
function job_source(s: Scenario): Pick<ShardJob, 'source'> {
  return s.source === undefined ? {} : { source: { module: s.module, text: s.source } };
}

/** Check `s` under `cfg` as `o` says. */
export async function check_scenario(
  s: Scenario,
  cfg: RunConfig,
  o: CheckOptions,
): Promise<CheckOutcome> {
  const strategy =
    o.strategy === 'directed' ? new Directed(o.phases) : search_strategy(o.strategy, o);
  const explorer = new Explorer(s, cfg);
  const parts = await search_parts(explorer, o, strategy);
  const r = merge_results(parts);
  // A random walk's, PCT's or focus's failure, retold with the fewest preemptions DFS finds.
  const bug =
    r.bug && o.strategy !== 'dfs' && o.strategy !== 'directed'
      ? explorer.fewest_preemptions(r.bug, MINIMIZE_SCHEDULES)
      : r.bug;
  const tasks = explorer.exec.nr_tasks;
  return {
    bug,
    bugs: bug ? [bug, ...r.bugs.filter((b) => b !== r.bug && b.signature !== bug.signature)] : [],
    found_preemptions: r.bug && bug !== r.bug ? r.bug.preemptions : null,
    schedules: r.schedules,
    steps: r.steps,
    elapsed_ms: r.elapsed_ms,
    // The jobs' parts together are this shard: its bound is what every part proved.
    proved_bound: lowest_proved(parts),
    // Past its bugs, a search kept going is cut short only by a budget.
    exhausted: o.keep_going ? budget_exhausted(parts) : r.exhausted,
    // With jobs > 1 `strategy` ran nowhere: PCT's k is then the one it starts from.
    pct: strategy instanceof Pct ? { probability: strategy.bound(tasks), tasks } : null,
    explorer,
  };
}
