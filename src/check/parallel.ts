/*
 * Exploration split into shards (DFS subtrees, or every n-th random or
 * PCT schedule): `--shard i/n` runs one part here, for a CI matrix or a
 * batch scheduler; `--jobs N` runs N parts at once on worker threads, each
 * with its own copy of the model. Results of the parts merge into the
 * result of the whole run: schedules add up, the bug with the fewest
 * preemptions is kept, and a DFS bound is proved when every part proved
 * it.
 */
import { Worker } from 'node:worker_threads';
import { make_config, type RunConfig } from '../runtime/scenario.js';
import { sibling_url, worker_source } from '../runtime/worker_source.js';
import { BoundedDfs, type Shard } from './dfs.js';
import { type BugReport, Explorer } from './explorer.js';
import { find_scenario } from './scenarios/index.js';
import { type SearchOptions, type SearchStrategy, search_strategy } from './strategy.js';

export interface ShardJob {
  readonly scenario: string;
  readonly cfg: RunConfig;
  readonly strategy: SearchStrategy;
  readonly options: SearchOptions & { readonly shard: Shard };
  readonly time_ms?: number;
}

/** What one part found; `B` is the bug as reported (a BugReport, or its JSON). */
export interface PartResult<B extends { readonly preemptions: number }> {
  readonly shard: Shard;
  readonly bug: B | null;
  readonly schedules: number;
  readonly steps: number;
  readonly elapsed_ms: number;
  /** DFS: the largest preemption bound this part exhausted (-1: none); null for others. */
  readonly proved_bound: number | null;
}

export type ShardResult = PartResult<BugReport>;

/** Run one part here; `abort` (a shared word) stops it when another part found a bug. */
export function run_shard(job: ShardJob, abort?: Int32Array): ShardResult {
  const s = find_scenario(job.scenario);
  const explorer = new Explorer(s, make_config(s, job.cfg));
  const strategy = search_strategy(job.strategy, job.options);
  const r = explorer.check(strategy, {
    ...(job.time_ms === undefined ? {} : { time_ms: job.time_ms }),
    ...(abort ? { abort } : {}),
  });
  return {
    shard: job.options.shard,
    bug: r.bug,
    schedules: r.schedules,
    steps: r.steps,
    elapsed_ms: r.elapsed_ms,
    proved_bound: strategy instanceof BoundedDfs ? strategy.proved : null,
  };
}

/** Part `k` of `jobs` of part `outer`: the parts of a part, numbered in the whole. */
export function subshard(outer: Shard, k: number, jobs: number): Shard {
  return { index: outer.index * jobs + k, count: outer.count * jobs };
}

type WorkerMessage =
  | { type: 'done'; result: ShardResult }
  | { type: 'bug'; bug_class: string; message: string; stack: string };

/** Run `outer` as `jobs` parts on worker threads; the first bug stops the others. */
export async function run_parallel(job: ShardJob, jobs: number): Promise<ShardResult[]> {
  const abort = new Int32Array(new SharedArrayBuffer(4));
  const code = worker_source(
    [sibling_url(import.meta.url, 'parallel_worker')],
    'explore_main',
    () => '',
  );
  const parts = Array.from({ length: jobs }, (_, k) => {
    const part: ShardJob = {
      ...job,
      options: { ...job.options, shard: subshard(job.options.shard, k, jobs) },
    };
    return new Promise<ShardResult>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { job: part, abort: abort.buffer } });
      w.on('message', (msg: WorkerMessage) => {
        if (msg.type === 'bug') {
          reject(new Error(`explorer worker ${k}: ${msg.message}\n${msg.stack}`));
          return;
        }
        if (msg.result.bug) Atomics.store(abort, 0, 1);
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
  readonly schedules: number;
  readonly steps: number;
  /** The longest part: the wall time when they ran side by side. */
  readonly elapsed_ms: number;
  readonly proved_bound: number | null;
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
export function merge_results<B extends { readonly preemptions: number }>(
  parts: readonly PartResult<B>[],
): Merged<B> {
  const count = parts[0]?.shard.count ?? 1;
  const have = new Set(parts.map((p) => p.shard.index));
  const complete = parts.every((p) => p.shard.count === count) && have.size === count;
  const bugs = parts
    .filter((p) => p.bug !== null)
    .sort((a, b) => a.bug!.preemptions - b.bug!.preemptions || a.shard.index - b.shard.index);
  const proved = parts.map((p) => p.proved_bound);
  return {
    shards: parts.map((p) => shard_name(p.shard)),
    complete,
    bug: bugs[0]?.bug ?? null,
    schedules: parts.reduce((n, p) => n + p.schedules, 0),
    steps: parts.reduce((n, p) => n + p.steps, 0),
    elapsed_ms: Math.max(0, ...parts.map((p) => p.elapsed_ms)),
    proved_bound:
      complete && proved.every((b) => b !== null) ? Math.min(...(proved as number[])) : null,
  };
}
