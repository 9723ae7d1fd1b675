/*
 * Exploration split into shards (DFS subtrees, or every n-th random or
 * PCT schedule): `--shard i/n` runs one part here, for a CI matrix or a
 * batch scheduler; `--jobs j` runs j parts at once on worker threads, each
 * with its own copy of the model. Results of the parts merge into the
 * result of the whole run: schedules add up, the bug with the fewest
 * preemptions is kept, and a DFS bound is proved when every part proved
 * it.
 *
 * The j parts of `--jobs` split the schedule budget into fixed shares and
 * each runs to its own end (its first bug, its share, its bound): none
 * stops another, so what they find and count depends on the seed and j
 * alone, never on which thread ran faster. Only a time budget, which each
 * part keeps by its own clock, makes a count vary.
 */
import { Worker } from 'node:worker_threads';
import type { Strategy } from '../runtime/executors/explore.js';
import type { RunConfig, Scenario } from '../runtime/scenario.js';
import { sibling_url, worker_source } from '../runtime/worker_source.js';
import { find_scenario } from '../scenarios/index.js';
import { BoundedDfs, type Shard } from './dfs.js';
import { type BugReport, type CheckBudget, type CheckResult, Explorer } from './explorer.js';
import { make_config } from './kernel.js';
import { type SearchOptions, type SearchStrategy, search_strategy } from './strategy.js';

export interface ShardJob {
  readonly scenario: string;
  /** A scenario made from text (Scenario.source): its module's scenario_from_source(text) makes it. */
  readonly source?: { readonly module: string; readonly text: string };
  readonly cfg: RunConfig;
  readonly strategy: SearchStrategy;
  readonly options: SearchOptions & { readonly shard: Shard };
  readonly time_ms?: number;
  /** Report only bugs of this class. */
  readonly bug_class?: string;
  /** Go on past each bug (every distinct one reported). */
  readonly keep_going?: boolean;
}

/** The budget that ended a DFS search before its bound: `--schedules` or `--time`. */
export type Exhausted = 'schedules' | 'time';

/** What makes a bug a bug to merge: its preemptions, and its signature (BugReport's). */
interface Mergeable {
  readonly preemptions: number;
  readonly signature: string;
}

/** What one part found; `B` is the bug as reported (a BugReport, or its JSON). */
export interface PartResult<B extends Mergeable> {
  readonly shard: Shard;
  readonly bug: B | null;
  /** Every distinct bug it found (with --keep-going more than one). */
  readonly bugs: readonly B[];
  readonly schedules: number;
  readonly steps: number;
  readonly elapsed_ms: number;
  /** DFS: the largest preemption bound this part exhausted (-1: none); null for others. */
  readonly proved_bound: number | null;
  /** DFS: the budget that stopped this part before its bound (null: its bound or a bug did). */
  readonly exhausted: Exhausted | null;
}

export type ShardResult = PartResult<BugReport>;

/** What a search on `shard` by `strategy` came to. */
export function part_result(shard: Shard, strategy: Strategy, r: CheckResult): ShardResult {
  const dfs = strategy instanceof BoundedDfs ? strategy : null;
  const short = dfs !== null && !r.bug_ended && dfs.proved < dfs.max_bound;
  return {
    shard,
    bug: r.bug,
    bugs: r.bugs,
    schedules: r.schedules,
    steps: r.steps,
    elapsed_ms: r.elapsed_ms,
    proved_bound: dfs?.proved ?? null,
    exhausted: short ? (dfs.out_of_schedules ? 'schedules' : 'time') : null,
  };
}

/** Run one part here, of a scenario mmlab knows by name. */
export function run_shard(job: ShardJob): ShardResult {
  return run_shard_of(find_scenario(job.scenario), job);
}

/** Run one part of `s` here. */
export function run_shard_of(s: Scenario, job: ShardJob): ShardResult {
  const explorer = new Explorer(s, make_config(s, job.cfg));
  const strategy = search_strategy(job.strategy, job.options);
  const r = explorer.check(strategy, search_budget(job));
  return part_result(job.options.shard, strategy, r);
}

/** The explorer's budget and filters that a job names. */
export function search_budget(job: {
  readonly time_ms?: number;
  readonly bug_class?: string;
  readonly keep_going?: boolean;
}): CheckBudget {
  return {
    ...(job.time_ms === undefined ? {} : { time_ms: job.time_ms }),
    ...(job.bug_class === undefined ? {} : { bug_class: job.bug_class }),
    ...(job.keep_going ? { keep_going: true } : {}),
  };
}

/*
 * Part `k` of `jobs` of shard `outer`: shard i of n gives i + k n of n j,
 * so a random walk's part k runs shard i's schedules k, k + j, ... and
 * DFS splits shard i's own subtrees (see Shard).
 */
export function subshard(outer: Shard, k: number, jobs: number): Shard {
  return {
    index: outer.index + k * outer.count,
    count: outer.count * jobs,
    outer: outer.outer ?? outer.count,
  };
}

/** Part k's share of `schedules` split in `jobs`: the schedules k, k + jobs, ... below it. */
export function share(schedules: number, k: number, jobs: number): number {
  return Math.floor(schedules / jobs) + (k < schedules % jobs ? 1 : 0);
}

type WorkerMessage =
  | { type: 'done'; result: ShardResult }
  | { type: 'bug'; bug_class: string; message: string; stack: string };

/** Run `job` as `jobs` parts on worker threads, its schedules shared among them. */
export async function run_parallel(job: ShardJob, jobs: number): Promise<ShardResult[]> {
  const code = worker_source(
    [sibling_url(import.meta.url, 'parallel_worker')],
    'explore_main',
    () => 'imp',
  );
  const parts = Array.from({ length: jobs }, (_, k) => {
    const part: ShardJob = {
      ...job,
      options: {
        ...job.options,
        schedules: share(job.options.schedules, k, jobs),
        shard: subshard(job.options.shard, k, jobs),
      },
    };
    return new Promise<ShardResult>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: part });
      w.on('message', (msg: WorkerMessage) => {
        if (msg.type === 'bug') {
          reject(new Error(`explorer worker ${k}: ${msg.message}\n${msg.stack}`));
          return;
        }
        resolve(msg.result);
        void w.terminate();
      });
      w.on('error', reject);
    });
  });
  return Promise.all(parts);
}

export interface Merged<B> {
  /** The parts merged, as `i/n`. */
  readonly shards: readonly string[];
  /** Whether they are every part of one run. */
  readonly complete: boolean;
  readonly bug: B | null;
  /** Every distinct bug of every part, by signature: the fewest preemptions (lowest part) first. */
  readonly bugs: readonly B[];
  readonly schedules: number;
  readonly steps: number;
  /** The longest part: the wall time when they ran side by side. */
  readonly elapsed_ms: number;
  readonly proved_bound: number | null;
  /** DFS: the budget that stopped some part before its bound (`time` if any part ran out of it). */
  readonly exhausted: Exhausted | null;
  /** Those parts, as `i/n`. */
  readonly exhausted_parts: readonly string[];
}

export function shard_name(s: Shard): string {
  return `${s.index}/${s.count}`;
}

/** The most parts a run is split into. */
const MAX_SHARDS = 1 << 20;

/** A shard as shard_name() writes it, `I/N`; null unless 0 <= I < N. */
export function parse_shard(text: string): Shard | null {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m) return null;
  const index = Number(m[1]);
  const count = Number(m[2]);
  return count >= 1 && count <= MAX_SHARDS && index < count ? { index, count } : null;
}

/*
 * Parts of one run, merged. The bug kept is the one with the fewest
 * preemptions (the lowest part on a tie, so a merge does not depend on
 * the order the parts came in). A bound is proved only by a complete set.
 */
export function merge_results<B extends Mergeable>(parts: readonly PartResult<B>[]): Merged<B> {
  const count = parts[0]?.shard.count ?? 1;
  const have = new Set(parts.map((p) => p.shard.index));
  const complete =
    parts.every((p) => p.shard.count === count) && have.size === count && parts.length === count;
  const bugs = distinct_bugs(parts);
  // A bug ends the search, whatever budget another part ran out of.
  const short = bugs.length > 0 ? [] : parts.filter((p) => p.exhausted !== null);
  return {
    shards: parts.map((p) => shard_name(p.shard)),
    complete,
    bug: bugs[0] ?? null,
    bugs,
    schedules: parts.reduce((n, p) => n + p.schedules, 0),
    steps: parts.reduce((n, p) => n + p.steps, 0),
    elapsed_ms: Math.max(0, ...parts.map((p) => p.elapsed_ms)),
    proved_bound: complete ? lowest_proved(parts) : null,
    exhausted: budget_exhausted(short),
    exhausted_parts: short.map((p) => shard_name(p.shard)),
  };
}

/** The budget that stopped some of `parts` before its bound: `time` if any ran out of it. */
export function budget_exhausted(parts: readonly PartResult<Mergeable>[]): Exhausted | null {
  const short = parts.filter((p) => p.exhausted !== null);
  if (short.length === 0) return null;
  return short.some((p) => p.exhausted === 'time') ? 'time' : 'schedules';
}

/* The parts' bugs, one per signature: the one with the fewest preemptions, the lowest part's on a tie. */
function distinct_bugs<B extends Mergeable>(parts: readonly PartResult<B>[]): B[] {
  const found = parts
    .flatMap((p) => p.bugs.map((bug) => ({ bug, index: p.shard.index })))
    .sort((a, b) => a.bug.preemptions - b.bug.preemptions || a.index - b.index);
  const seen = new Set<string>();
  return found
    .filter(({ bug }) => !seen.has(bug.signature) && seen.add(bug.signature))
    .map(({ bug }) => bug);
}

/** The bound every part proved: null unless each is a DFS part. */
export function lowest_proved(parts: readonly PartResult<Mergeable>[]): number | null {
  const proved = parts.map((p) => p.proved_bound);
  return proved.every((b) => b !== null) ? Math.min(...(proved as number[])) : null;
}
