/*
 * mmlab merge FILE...: the parts of a sharded search (mmlab check --shard
 * I/N --json), read back and joined into the result of the whole.
 */
import { readFileSync } from 'node:fs';
import { merge_results, type PartResult, parse_shard } from '../check/parallel.js';
import { bug_line, seconds } from './common.js';
import { bold, green } from './style.js';
import { EXIT_BUG, EXIT_OK, UsageError } from './usage.js';

/* The fields of `mmlab check --json` that say which run a part belongs to. */
const RUN_KEYS = ['scenario', 'policy', 'variant', 'cpus', 'params', 'strategy', 'seed'] as const;

type BugJson = { readonly preemptions: number } & Record<string, unknown>;

/* One `mmlab check --shard I/N --json` result, read back for a merge. */
export function read_part(path: string): Record<string, unknown> & PartResult<BugJson> {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${path}: not a JSON result of mmlab check (${(e as Error).message})`);
  }
  const shard = typeof doc.shard === 'string' ? parse_shard(doc.shard) : null;
  if (!shard || typeof doc.schedules !== 'number' || typeof doc.steps !== 'number')
    throw new UsageError(`${path}: not a result of mmlab check --json (no shard or schedules)`);
  for (const k of RUN_KEYS)
    if (!(k in doc)) throw new UsageError(`${path}: no '${k}' in the result`);
  return {
    ...doc,
    shard,
    bug: (doc.bug ?? null) as BugJson | null,
    schedules: doc.schedules,
    steps: doc.steps,
    elapsed_ms: Number(doc.elapsed_ms ?? 0),
    proved_bound: typeof doc.proved_bound === 'number' ? doc.proved_bound : null,
  };
}

export function cmd_merge(paths: readonly string[], opts: { json?: boolean }): number {
  const parts = paths.map(read_part);
  const first = parts[0]!;
  for (const [i, p] of parts.entries()) {
    for (const k of RUN_KEYS) {
      if (JSON.stringify(p[k]) !== JSON.stringify(first[k]))
        throw new UsageError(
          `${paths[i]}: ${k} ${JSON.stringify(p[k])} differs from ${paths[0]}'s ${JSON.stringify(first[k])}: parts of different runs`,
        );
    }
  }
  const m = merge_results(parts);
  const run: Record<string, unknown> = {};
  for (const k of RUN_KEYS) run[k] = first[k];
  if (opts.json) {
    console.log(JSON.stringify({ ...run, ...m }));
  } else {
    const what = `${m.shards.length} parts${m.complete ? ' (all of them)' : ` of ${first.shard.count} (incomplete)`}: ${m.schedules} schedules, ${m.steps} steps, longest ${seconds(m.elapsed_ms)}`;
    if (m.bug) {
      console.log(bug_line(String(m.bug.class), String(m.bug.message)));
      console.log(`${what}; replay: ${bold(`mmlab replay ${String(m.bug.replay)}`)}`);
    } else {
      console.log(`${green('clean')}: ${what}`);
      if (m.proved_bound !== null && m.proved_bound >= 0)
        console.log(`every schedule with at most ${m.proved_bound} preemptions explored`);
    }
  }
  return m.bug ? EXIT_BUG : EXIT_OK;
}
