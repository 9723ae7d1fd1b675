/*
 * The parts of a sharded search, as `mmlab check --shard I/N --json`
 * wrote them, or of a fuzz campaign (`mmlab fuzz --shard I/N --json`),
 * read back: each checked to be a part's result, all of one run and one
 * split, each part once, then merged into the result of the whole.
 */
import type { Shard } from './dfs.js';
import {
  type Exhausted,
  type Merged,
  merge_results,
  type PartResult,
  parse_shard,
  shard_name,
} from './parallel.js';

/* The fields of `mmlab check --json` that say which run a part belongs to. */
const RUN_KEYS = ['scenario', 'policy', 'variant', 'cpus', 'params', 'strategy', 'seed'] as const;
/* The same, present in DFS parts only. */
const DFS_RUN_KEYS = ['bound'] as const;
/* Every field that says which run a part is of: `script` in parts of `check --script` only. */
const PART_RUN_KEYS = [...RUN_KEYS, ...DFS_RUN_KEYS, 'script'] as const;

/** A bug as `mmlab check --json` writes it. */
type BugJson = {
  readonly preemptions: number;
  readonly replay: string;
  readonly signature: string;
} & Record<string, unknown>;
type Part = Record<string, unknown> & PartResult<BugJson>;

/** A document, and where it came from (its file), as error messages name it. */
export interface PartDocument {
  readonly source: string;
  readonly doc: unknown;
}

/** A document that is not a part, or not one of the run the others are: the message names its source. */
export class PartError extends Error {
  override name = 'PartError';
}

export interface MergedRun {
  /** The run the parts belong to, as its first part names it (`bound` for DFS). */
  readonly run: Readonly<Record<string, unknown>>;
  /** The parts the search was split into. */
  readonly split: number;
  /** DFS: the bound the parts searched to. */
  readonly bound: number;
  readonly merged: Merged<BugJson>;
}

/* What `doc` is, for a message about a document that is not an object. */
function kind(doc: unknown): string {
  if (doc === null) return 'null';
  return Array.isArray(doc) ? 'an array' : `a ${typeof doc}`;
}

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/* Whether `b` is a bug as --json writes it: at least its preemptions and replay. */
function is_bug(b: unknown): boolean {
  if (typeof b !== 'object' || b === null) return false;
  const r = b as Record<string, unknown>;
  return count(r.preemptions) && typeof r.replay === 'string';
}

/*
 * A bug read back, with its signature: a part written before signatures
 * existed has none, and its class and message stand in.
 */
function as_bug(b: unknown): BugJson {
  const r = b as Record<string, unknown> & { preemptions: number; replay: string };
  const signature =
    typeof r.signature === 'string' ? r.signature : `${String(r.class)}: ${String(r.message)}`;
  return { ...r, signature };
}

/* Why `doc` is not a part's result, or null. */
function not_a_part(doc: Record<string, unknown>): string | null {
  if (typeof doc.shard !== 'string' || !parse_shard(doc.shard)) return "no shard 'I/N'";
  if (!count(doc.schedules) || !count(doc.steps)) return 'no count of schedules and steps';
  if (doc.bug !== null && doc.bug !== undefined && !is_bug(doc.bug))
    return 'a bug without preemptions or replay';
  if (doc.bugs !== undefined && !(Array.isArray(doc.bugs) && doc.bugs.every(is_bug)))
    return 'bugs that are not a list of bugs with preemptions and replay';
  const proved = doc.proved_bound;
  if (proved !== undefined && (!Number.isSafeInteger(proved) || (proved as number) < -1))
    return `a proved_bound of ${JSON.stringify(proved)}`;
  if (![undefined, 'schedules', 'time'].includes(doc.exhausted as string | undefined))
    return `an exhausted budget of ${JSON.stringify(doc.exhausted)}`;
  for (const k of RUN_KEYS) if (!(k in doc)) return `no '${k}'`;
  return null;
}

/* `doc`, a result of `command --json` in which `why_not` finds nothing wrong; else a PartError. */
function result_of(
  command: string,
  { source, doc }: PartDocument,
  why_not: (d: Record<string, unknown>) => string | null,
): Record<string, unknown> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new PartError(`${source}: not a result of ${command} --json (it holds ${kind(doc)})`);
  const d = doc as Record<string, unknown>;
  const why = why_not(d);
  if (why) throw new PartError(`${source}: not a result of ${command} --json (${why})`);
  return d;
}

/* One `mmlab check --shard I/N --json` result, checked. */
function as_part(part: PartDocument): Part {
  const d = result_of('mmlab check', part, not_a_part);
  return {
    ...d,
    shard: parse_shard(d.shard as string)!,
    bug: d.bug ? as_bug(d.bug) : null,
    // A part without --keep-going's list found its one bug, or none.
    bugs: Array.isArray(d.bugs) ? d.bugs.map(as_bug) : d.bug ? [as_bug(d.bug)] : [],
    schedules: d.schedules as number,
    steps: d.steps as number,
    elapsed_ms: Number(d.elapsed_ms ?? 0),
    proved_bound: (d.proved_bound ?? null) as number | null,
    exhausted: (d.exhausted ?? null) as Exhausted | null,
  };
}

/*
 * Each of `docs` read as a part by `as` (a PartError if it is not), in
 * order, each taken only once those before it passed; at least one.
 */
function read_parts<P>(
  docs: Iterable<PartDocument>,
  as: (d: PartDocument) => P,
): { sources: string[]; parts: P[] } {
  const sources: string[] = [];
  const parts: P[] = [];
  for (const d of docs) {
    parts.push(as(d));
    sources.push(d.source);
  }
  if (parts.length === 0) throw new PartError('no parts to merge');
  return { sources, parts };
}

/* The longest value a message about parts of different runs quotes. */
const QUOTED_CHARS = 60;

/* Parts of one run (equal in `keys`), each part once, all of one split; else the first source that is not. */
function check_parts(
  sources: readonly string[],
  parts: readonly (Record<string, unknown> & { readonly shard: Shard })[],
  keys: readonly string[],
): void {
  const first = parts[0]!;
  const seen = new Map<number, string>();
  for (const [i, p] of parts.entries()) {
    for (const k of keys) {
      const [mine, theirs] = [JSON.stringify(p[k]), JSON.stringify(first[k])];
      if (mine === theirs) continue;
      // A script is too long to quote: name the field alone.
      const quoted = Math.max(mine?.length ?? 0, theirs?.length ?? 0) <= QUOTED_CHARS;
      throw new PartError(
        quoted
          ? `${sources[i]}: ${k} ${mine} differs from ${sources[0]}'s ${theirs}: parts of different runs`
          : `${sources[i]}: its ${k} differs from ${sources[0]}'s: parts of different runs`,
      );
    }
    const name = shard_name(p.shard);
    if (p.shard.count !== first.shard.count)
      throw new PartError(
        `${sources[i]}: part ${name} of a search split in ${p.shard.count}, ${sources[0]} part ${shard_name(first.shard)} of one split in ${first.shard.count}: parts of different splits`,
      );
    const again = seen.get(p.shard.index);
    if (again !== undefined)
      throw new PartError(
        `${sources[i]}: part ${name} again (${again} is part ${name}): each part merges once`,
      );
    seen.set(p.shard.index, sources[i]!);
  }
}

/**
 * The parts in `docs`, at least one, merged; PartError names the first
 * document (in their order) that is not a part of the first one's run.
 * Each document is taken from `docs` only once those before it passed.
 */
export function merge_parts(docs: Iterable<PartDocument>): MergedRun {
  const { sources, parts } = read_parts(docs, as_part);
  check_parts(sources, parts, PART_RUN_KEYS);
  const first = parts[0]!;
  const run: Record<string, unknown> = {};
  for (const k of PART_RUN_KEYS) if (k in first) run[k] = first[k];
  return {
    run,
    split: first.shard.count,
    bound: Number(first.bound),
    merged: merge_results(parts),
  };
}

/* The fields of `mmlab fuzz --json` that say which campaign a part belongs to. */
const FUZZ_RUN_KEYS = ['seed', 'cpus', 'policies', 'variant', 'programs_budget'] as const;

/** A bug as `mmlab fuzz --json` writes it (src/oracle/fuzz.ts's FuzzBug). */
export interface FuzzBugJson {
  readonly signature: string;
  readonly class: string;
  /** The minimized concurrent script, as `mmlab check --script` reads it. */
  readonly script: string;
  /** Its failing schedule; the string carries the script. */
  readonly replay: string;
  /** The flags of `mmlab check --script FILE` that find it again in `script`. */
  readonly check: string;
  readonly message: string;
  /** The policy its program ran under. */
  readonly policy: string;
  /** The program of the campaign that found it first. */
  readonly program: number;
  readonly preemptions: number;
  /** The commands of the program that found it, and of `script`. */
  readonly found_commands: number;
  readonly commands: number;
  /** Where it was triaged as Linux's own and benign (src/check/triaged.ts): known, not minimized, no failure. */
  readonly triaged?: string;
}

const FUZZ_BUG_TEXTS = [
  'signature',
  'class',
  'script',
  'replay',
  'check',
  'message',
  'policy',
] as const;
const FUZZ_BUG_COUNTS = ['program', 'preemptions', 'found_commands', 'commands'] as const;

/** Whether `doc` is (meant as) a result of `mmlab fuzz --json`, not of check. */
export function is_fuzz_document(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && 'programs' in doc && !('scenario' in doc);
}

function is_fuzz_bug(b: unknown): b is FuzzBugJson {
  if (typeof b !== 'object' || b === null) return false;
  const r = b as Record<string, unknown>;
  return (
    FUZZ_BUG_TEXTS.every((k) => typeof r[k] === 'string') &&
    FUZZ_BUG_COUNTS.every((k) => count(r[k])) &&
    (r.triaged === undefined || typeof r.triaged === 'string')
  );
}

type FuzzPart = Record<string, unknown> & {
  readonly shard: Shard;
  readonly programs: number;
  readonly schedules: number;
  readonly bugs: readonly FuzzBugJson[];
};

/* Why `doc` is not a part of a fuzz campaign, or null. */
function not_a_fuzz_part(d: Record<string, unknown>): string | null {
  if (typeof d.shard !== 'string' || !parse_shard(d.shard)) return "no shard 'I/N'";
  if (!count(d.programs) || !count(d.schedules)) return 'no count of programs and schedules';
  if (!Array.isArray(d.bugs) || !d.bugs.every(is_fuzz_bug))
    return `bugs that are not a list of bugs with ${[...FUZZ_BUG_TEXTS, ...FUZZ_BUG_COUNTS].join(', ')}`;
  for (const k of FUZZ_RUN_KEYS) if (!(k in d)) return `no '${k}'`;
  return null;
}

function as_fuzz_part(part: PartDocument): FuzzPart {
  const d = result_of('mmlab fuzz', part, not_a_fuzz_part);
  return {
    ...d,
    shard: parse_shard(d.shard as string)!,
    programs: d.programs as number,
    schedules: d.schedules as number,
    bugs: d.bugs as FuzzBugJson[],
  };
}

export interface MergedFuzz {
  /** The campaign, as its first part names it. */
  readonly run: Readonly<Record<string, unknown>>;
  /** The parts merged, as `i/n`, and whether they are all of the campaign's. */
  readonly shards: readonly string[];
  readonly complete: boolean;
  readonly programs: number;
  readonly schedules: number;
  /**
   * One per signature: the one of the lowest program, in program order,
   * as one run of the whole campaign finds and keeps them.
   */
  readonly bugs: readonly FuzzBugJson[];
  /** The longest part: the wall time when they ran side by side. */
  readonly elapsed_ms: number;
  /** The longest minimization of a bug, in any part. */
  readonly minimize_ms: number;
}

/**
 * The parts of one `mmlab fuzz --shard I/N` campaign, merged; PartError
 * names the first document (in their order) that is not a part of the
 * first one's campaign.
 */
export function merge_fuzz_parts(docs: Iterable<PartDocument>): MergedFuzz {
  const { sources, parts } = read_parts(docs, as_fuzz_part);
  check_parts(sources, parts, FUZZ_RUN_KEYS);
  const first = parts[0]!;
  const run: Record<string, unknown> = {};
  for (const k of FUZZ_RUN_KEYS) run[k] = first[k];
  const seen = new Set<string>();
  // A stable sort: within one program, the order its searches found them.
  const bugs = parts
    .flatMap((p) => p.bugs)
    .sort((a, b) => a.program - b.program)
    .filter((b) => !seen.has(b.signature) && seen.add(b.signature));
  return {
    run,
    shards: parts.map((p) => shard_name(p.shard)),
    complete: new Set(parts.map((p) => p.shard.index)).size === first.shard.count,
    programs: parts.reduce((n, p) => n + p.programs, 0),
    schedules: parts.reduce((n, p) => n + p.schedules, 0),
    bugs,
    elapsed_ms: Math.max(0, ...parts.map((p) => Number(p.elapsed_ms ?? 0))),
    minimize_ms: Math.max(0, ...parts.map((p) => Number(p.minimize_ms ?? 0))),
  };
}
