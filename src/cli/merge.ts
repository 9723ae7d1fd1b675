/*
 * mmlab merge FILE...: the parts of a sharded search (mmlab check --shard
 * I/N --json) or fuzz campaign (mmlab fuzz --shard I/N --json), read back
 * and joined into the result of the whole.
 */
import { readFileSync } from 'node:fs';
import {
  is_fuzz_document,
  type MergedFuzz,
  merge_fuzz_parts,
  merge_parts,
  type PartDocument,
  PartError,
} from '../check/merge.js';
import { proved_line } from './check.js';
import { bug_line, plural, seconds } from './common.js';
import { fuzz_status, print_fuzz } from './fuzz.js';
import { bold, green } from './style.js';
import { EXIT_BUG, EXIT_OK, fs_why, UsageError } from './usage.js';

/* The JSON document in the file at `path`. */
function read_json(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${path}: cannot read: ${fs_why(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(
      `${path}: not a JSON result of mmlab check or fuzz (${(e as Error).message})`,
    );
  }
}

/*
 * The files after the first (read already), each read as the merge comes
 * to it: the first bad one, in order, is named.
 */
function* documents(first: PartDocument, paths: readonly string[]): Generator<PartDocument> {
  yield first;
  for (const source of paths.slice(1)) yield { source, doc: read_json(source) };
}

/* merge(docs); a document that is no part of the first one's run is bad usage. */
function merging<T>(merge: (docs: Iterable<PartDocument>) => T, docs: Iterable<PartDocument>): T {
  try {
    return merge(docs);
  } catch (e) {
    if (e instanceof PartError) throw new UsageError(e.message);
    throw e;
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
  const first = { source: paths[0]!, doc: read_json(paths[0]!) };
  if (is_fuzz_document(first.doc))
    return merge_fuzz(merging(merge_fuzz_parts, documents(first, paths)), opts);
  const { run, split, bound, merged: m } = merging(merge_parts, documents(first, paths));
  if (opts.json) {
    console.log(JSON.stringify({ ...run, ...m, budget_exhausted: m.exhausted !== null }));
  } else {
    const what = `${plural(m.shards.length, 'part')}${m.complete ? ' (all of them)' : ` of ${split} (incomplete)`}: ${m.schedules} schedules, ${m.steps} steps, longest ${seconds(m.elapsed_ms)}`;
    if (m.bug) {
      console.log(bug_line(String(m.bug.class), String(m.bug.message)));
      console.log(`${what}; replay: ${bold(`mmlab replay ${m.bug.replay}`)}`);
      // Parts run with --keep-going: every distinct bug of all of them, once.
      if (m.bugs.length > 1) {
        console.log(bold(`${plural(m.bugs.length, 'distinct bug')}:`));
        for (const b of m.bugs) {
          console.log(
            `  ${b.signature} (${plural(b.preemptions, 'preemption')}): ${String(b.message)}`,
          );
          console.log(`    replay: mmlab replay ${b.replay}`);
        }
      }
    } else {
      console.log(`${green('clean')}: ${what}`);
      const budget = `the ${m.exhausted === 'time' ? '--time budget' : 'budget'} of ${parts_named(m.exhausted_parts)}`;
      const line =
        m.proved_bound === null ? null : proved_line(m.proved_bound, bound, m.exhausted, budget);
      if (line) console.log(line);
    }
  }
  return m.bug ? EXIT_BUG : EXIT_OK;
}

/* A fuzz campaign's parts merged: printed as one run of it prints. */
function merge_fuzz(m: MergedFuzz, opts: { json?: boolean }): number {
  const { programs, schedules, bugs, elapsed_ms, run, shards, complete } = m;
  if (opts.json)
    console.log(
      JSON.stringify({ programs, schedules, bugs, ...run, shards, complete, elapsed_ms }),
    );
  else {
    console.log(
      `${plural(shards.length, 'part')}${complete ? ' (all of them)' : ' (incomplete)'} of a fuzz campaign:`,
    );
    print_fuzz(
      { programs, schedules, bugs, elapsed_ms },
      {
        seed: run.seed as number,
        cpus: run.cpus as number,
        policies: run.policies as string[],
        variant: run.variant as string | null,
      },
    );
  }
  return fuzz_status(bugs);
}
