/*
 * mmlab merge FILE...: the parts of a sharded search (mmlab check --shard
 * I/N --json), read back and joined into the result of the whole.
 */
import { readFileSync } from 'node:fs';
import { type MergedRun, merge_parts, type PartDocument, PartError } from '../check/merge.js';
import { proved_line } from './check.js';
import { bug_line, seconds } from './common.js';
import { bold, green } from './style.js';
import { EXIT_BUG, EXIT_OK, UsageError } from './usage.js';

/* The JSON document in the file at `path`. */
function read_json(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path}: not a JSON result of mmlab check (${(e as Error).message})`);
  }
}

/* The files, each read as merge_parts() comes to it: the first bad one, in order, is named. */
function* documents(paths: readonly string[]): Generator<PartDocument> {
  for (const source of paths) yield { source, doc: read_json(source) };
}

/* merge_parts() of the files; one that is no part of the first one's run is bad usage. */
function merge_files(paths: readonly string[]): MergedRun {
  try {
    return merge_parts(documents(paths));
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
  const { run, split, bound, merged: m } = merge_files(paths);
  if (opts.json) {
    console.log(JSON.stringify({ ...run, ...m, budget_exhausted: m.exhausted !== null }));
  } else {
    const what = `${m.shards.length} parts${m.complete ? ' (all of them)' : ` of ${split} (incomplete)`}: ${m.schedules} schedules, ${m.steps} steps, longest ${seconds(m.elapsed_ms)}`;
    if (m.bug) {
      console.log(bug_line(String(m.bug.class), String(m.bug.message)));
      console.log(`${what}; replay: ${bold(`mmlab replay ${m.bug.replay}`)}`);
      // Parts run with --keep-going: every distinct bug of all of them, once.
      if (m.bugs.length > 1) {
        console.log(bold(`${m.bugs.length} distinct bugs:`));
        for (const b of m.bugs) {
          console.log(`  ${b.signature} (${b.preemptions} preemptions): ${String(b.message)}`);
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
