/*
 * mmlab merge FILE...: the parts of a sharded search (mmlab check --shard
 * I/N --json), read back and joined into the result of the whole.
 */
import { readFileSync } from 'node:fs';
import {
  type Exhausted,
  merge_results,
  type PartResult,
  parse_shard,
  shard_name,
} from '../check/parallel.js';
import { proved_line } from './check.js';
import { bug_line, seconds } from './common.js';
import { bold, green } from './style.js';
import { EXIT_BUG, EXIT_OK, UsageError } from './usage.js';

/* The fields of `mmlab check --json` that say which run a part belongs to. */
const RUN_KEYS = ['scenario', 'policy', 'variant', 'cpus', 'params', 'strategy', 'seed'] as const;
/* The same, present in DFS parts only. */
const DFS_RUN_KEYS = ['bound'] as const;

type BugJson = { readonly preemptions: number } & Record<string, unknown>;
type Part = Record<string, unknown> & PartResult<BugJson>;

/* What `doc` is, for a message about a document that is not an object. */
function kind(doc: unknown): string {
  if (doc === null) return 'null';
  return Array.isArray(doc) ? 'an array' : `a ${typeof doc}`;
}

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/* Why `doc` is not a part's result, or null. */
function not_a_part(doc: Record<string, unknown>): string | null {
  if (typeof doc.shard !== 'string' || !parse_shard(doc.shard)) return "no shard 'I/N'";
  if (!count(doc.schedules) || !count(doc.steps)) return 'no count of schedules and steps';
  const bug = doc.bug;
  if (bug !== null && bug !== undefined) {
    const b = bug as Record<string, unknown>;
    if (typeof bug !== 'object' || !count(b.preemptions) || typeof b.replay !== 'string')
      return 'a bug without preemptions or replay';
  }
  const proved = doc.proved_bound;
  if (proved !== undefined && (!Number.isSafeInteger(proved) || (proved as number) < -1))
    return `a proved_bound of ${JSON.stringify(proved)}`;
  if (![undefined, 'schedules', 'time'].includes(doc.exhausted as string | undefined))
    return `an exhausted budget of ${JSON.stringify(doc.exhausted)}`;
  for (const k of RUN_KEYS) if (!(k in doc)) return `no '${k}'`;
  return null;
}

/* One `mmlab check --shard I/N --json` result, read back for a merge. */
export function read_part(path: string): Part {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path}: not a JSON result of mmlab check (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new UsageError(`${path}: not a result of mmlab check --json (it holds ${kind(doc)})`);
  const d = doc as Record<string, unknown>;
  const why = not_a_part(d);
  if (why) throw new UsageError(`${path}: not a result of mmlab check --json (${why})`);
  return {
    ...d,
    shard: parse_shard(d.shard as string)!,
    bug: (d.bug ?? null) as BugJson | null,
    schedules: d.schedules as number,
    steps: d.steps as number,
    elapsed_ms: Number(d.elapsed_ms ?? 0),
    proved_bound: (d.proved_bound ?? null) as number | null,
    exhausted: (d.exhausted ?? null) as Exhausted | null,
  };
}

/* Parts of one run, each part once, all of one split; else the first file that is not. */
function check_parts(paths: readonly string[], parts: readonly Part[]): void {
  const first = parts[0]!;
  const seen = new Map<number, string>();
  for (const [i, p] of parts.entries()) {
    for (const k of [...RUN_KEYS, ...DFS_RUN_KEYS]) {
      if (JSON.stringify(p[k]) !== JSON.stringify(first[k]))
        throw new UsageError(
          `${paths[i]}: ${k} ${JSON.stringify(p[k])} differs from ${paths[0]}'s ${JSON.stringify(first[k])}: parts of different runs`,
        );
    }
    const name = shard_name(p.shard);
    if (p.shard.count !== first.shard.count)
      throw new UsageError(
        `${paths[i]}: part ${name} of a search split in ${p.shard.count}, ${paths[0]} part ${shard_name(first.shard)} of one split in ${first.shard.count}: parts of different splits`,
      );
    const again = seen.get(p.shard.index);
    if (again !== undefined)
      throw new UsageError(
        `${paths[i]}: part ${name} again (${again} is part ${name}): each part merges once`,
      );
    seen.set(p.shard.index, paths[i]!);
  }
}

/** The most parts a line names. */
const NAMED_PARTS = 5;

/* Parts by name, the first few of a long list. */
function parts_named(names: readonly string[]): string {
  const more = names.length - NAMED_PARTS;
  const listed = names.slice(0, NAMED_PARTS).join(', ');
  return `part${names.length === 1 ? '' : 's'} ${listed}${more > 0 ? ` and ${more} more` : ''}`;
}

export function cmd_merge(paths: readonly string[], opts: { json?: boolean }): number {
  const parts = paths.map(read_part);
  check_parts(paths, parts);
  const first = parts[0]!;
  const m = merge_results(parts);
  const run: Record<string, unknown> = {};
  for (const k of [...RUN_KEYS, ...DFS_RUN_KEYS]) run[k] = first[k];
  if (opts.json) {
    console.log(JSON.stringify({ ...run, ...m, budget_exhausted: m.exhausted !== null }));
  } else {
    const what = `${m.shards.length} parts${m.complete ? ' (all of them)' : ` of ${first.shard.count} (incomplete)`}: ${m.schedules} schedules, ${m.steps} steps, longest ${seconds(m.elapsed_ms)}`;
    if (m.bug) {
      console.log(bug_line(String(m.bug.class), String(m.bug.message)));
      console.log(`${what}; replay: ${bold(`mmlab replay ${String(m.bug.replay)}`)}`);
    } else {
      console.log(`${green('clean')}: ${what}`);
      const budget = `the ${m.exhausted === 'time' ? '--time budget' : 'budget'} of ${parts_named(m.exhausted_parts)}`;
      const line =
        m.proved_bound === null
          ? null
          : proved_line(m.proved_bound, Number(first.bound), m.exhausted, budget);
      if (line) console.log(line);
    }
  }
  return m.bug ? EXIT_BUG : EXIT_OK;
}
