/*
 * mmlab fuzz: random concurrent scripts (gen_concurrent.ts), each explored
 * under several strategies with every sanitizer, validate_mm() and the
 * outcome check as its oracle. A bug whose signature is new to the
 * campaign is minimized (fewest commands by minimize.ts, then fewest
 * preemptions by the check's own retelling) and kept with its script and
 * replay string.
 *
 * Program k of seed S is seeded from (S, k) alone and runs the same
 * searches wherever it runs, so a campaign splits by programs: shard I of
 * N runs the programs k with k mod N = I, and the parts' bugs, each
 * tagged with its program, merge into the bugs of the whole.
 */
import type { Shard } from '../check/dfs.js';
import type { BugReport } from '../check/explorer.js';
import type { FuzzBugJson } from '../check/merge.js';
import type { CheckOptions, CheckOutcome } from '../check/search.js';
import type { SearchStrategy } from '../check/strategy.js';
import { triage_of } from '../check/triaged.js';
import { Rng } from '../scenarios/random.js';
import type { ConcurrentScript } from '../script/ast.js';
import { check_script } from '../script/check_script.js';
import { parse_concurrent, print_concurrent } from '../script/concurrent.js';
import { duel_concurrent, random_concurrent } from './gen_concurrent.js';
import { minimize_concurrent } from './minimize.js';

/** One search a program gets: a strategy, its depth and its schedules. */
export interface Phase {
  readonly strategy: SearchStrategy;
  readonly depth: number;
  readonly schedules: number;
}

/*
 * Random walks first (cheap, and they find the shallow races), then PCT
 * aimed at bugs of depth 2 and 3 (a task left to run alone for long
 * stretches: the races of the seeds need that), then word, whose change
 * points fall where a task reads a word another wrote.
 */
export const PHASES: readonly Phase[] = [
  { strategy: 'random', depth: 1, schedules: 200 },
  { strategy: 'pct', depth: 2, schedules: 100 },
  { strategy: 'pct', depth: 3, schedules: 100 },
  { strategy: 'word', depth: 2, schedules: 100 },
];

/*
 * A duel's search (gen_duel.ts): DFS, every schedule of at most 1, then 2,
 * then 3 preemptions, until the budget ends. Its races hide behind two or
 * three preemptions at single accesses, where the phases above rarely
 * stop a CPU. The budget ends bound 2 of most duels (of the two-CPU
 * duels 9 to 99 of seed 1 under vma-refcnt, 7 of 10 within 8,000: 930 to
 * 10,608 schedules) and reaches into bound 3, where the deepest of the
 * seeds' lifetime races lies: in program 69, a duel that moves the VMA a
 * fault is on, seed 001's put after 4,951 schedules (seed 000's up_read()
 * after 435). A duel's 8,000 schedules against another program's 500
 * make the tenth of the programs that duel a large share of a
 * campaign's time (docs/calibration-log.md, "validate_mm()'s page scan").
 */
export const DUEL_PHASES: readonly Phase[] = [{ strategy: 'dfs', depth: 0, schedules: 8000 }];

/*
 * A duel in which a CPU ends a process (gen_duel.ts: the child that a
 * freed VMA was mapped again into exits on a third CPU) gets word at depth
 * 5 too. Its race, 9bbffee67ffd's, stops the reader after three of its
 * accesses to the recycled VMA's vm_refcnt and the RCU kthread once: with
 * three CPUs and the kthread, DFS's 8,000 schedules end within bound 1,
 * where word met it after 1,407 and 3,087 schedules in the first two such
 * duels of seed 1 (each with its program's seed), and after 67 to 4,023 on
 * docs/examples/scripts/recycle-exit.txt with seeds 1 to 6 (under 2 s).
 */
export const EXIT_DUEL_PHASES: readonly Phase[] = [
  ...DUEL_PHASES,
  { strategy: 'word', depth: 5, schedules: 5000 },
];

/**
 * The time after which a bug's minimization asks no more candidates: the
 * call under way and the final search of the smallest script come on top,
 * so that the whole stays within a minute.
 */
export const MINIMIZE_TIME_MS = 45_000;
/** The most predicate calls one bug's minimization makes. */
const MINIMIZE_CALLS = 2000;
/** The schedules a bug found past the first may be re-searched for fewer preemptions (as check's). */
const RETELL_SCHEDULES = 5000;

export type ScriptChecker = (
  s: ConcurrentScript,
  cfg: { readonly policy: string; readonly variant: string },
  o: CheckOptions,
) => Promise<CheckOutcome>;

export interface FuzzOptions {
  /** CPUs each program runs on (its sections). */
  readonly cpus: number;
  /** Program k runs under policies[k mod policies.length]. */
  readonly policies: readonly string[];
  /** The catalogue variant put back ('' for the fixed kernel). */
  readonly variant: string;
  readonly seed: number;
  /** Programs 0 .. programs-1 of the campaign (this shard's share of them); unbounded if absent. */
  readonly programs?: number;
  /** Stop starting programs after this long; unbounded if absent (then `programs` must be set). */
  readonly time_ms?: number;
  readonly shard: Shard;
  /** Called after each search. */
  readonly progress?: (p: FuzzProgress) => void;
}

export interface FuzzProgress {
  readonly programs: number;
  readonly schedules: number;
  readonly bugs: number;
  /** A bug being minimized: its signature. */
  readonly minimizing?: string;
}

/** A bug found, minimized: its script, replay string and where it was found. */
export type FuzzBug = FuzzBugJson;

export interface FuzzResult {
  readonly programs: number;
  readonly schedules: number;
  /** Distinct by signature, in the order their programs came. */
  readonly bugs: readonly FuzzBug[];
  readonly elapsed_ms: number;
  /** The longest minimization of a bug (0 without bugs). */
  readonly minimize_ms: number;
}

/** The seed of program k of a campaign seeded `seed`: its script and its searches. */
export function program_seed(seed: number, k: number): number {
  return (Math.imul(seed ^ 0x1b873593, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0;
}

/** A program of a campaign: its script, and whether it is a duel (searched as phases_of() says). */
export interface FuzzProgram {
  readonly script: ConcurrentScript;
  readonly duel: boolean;
}

/**
 * Every DUEL_EVERY-th program (k = 9, 19, ...) is a duel (gen_duel.ts),
 * searched by DUEL_PHASES (or EXIT_DUEL_PHASES). Whether program k is a
 * duel depends on k alone, and a program that is not is
 * random_concurrent()'s draw from its seed, whatever duels do.
 */
export const DUEL_EVERY = 10;

/** The searches program `p` gets: PHASES, DUEL_PHASES, or EXIT_DUEL_PHASES for a duel in which a CPU exits. */
export function phases_of(p: FuzzProgram): readonly Phase[] {
  if (!p.duel) return PHASES;
  return p.script.cpus.some((c) => c.some((l) => l.cmd.op === 'exit'))
    ? EXIT_DUEL_PHASES
    : DUEL_PHASES;
}

/** Program k of a campaign: a concurrent script for `cpus` CPUs, and whether it is a duel. */
export function fuzz_program(seed: number, k: number, cpus: number): FuzzProgram {
  const rng = () => new Rng(program_seed(seed, k));
  const duel = k % DUEL_EVERY === DUEL_EVERY - 1 ? duel_concurrent(rng(), cpus) : null;
  return duel === null
    ? { script: random_concurrent(rng(), cpus), duel: false }
    : { script: duel, duel: true };
}

/** The commands of a script. */
export function commands(s: ConcurrentScript): number {
  return s.setup.length + s.cpus.reduce((n, c) => n + c.length, 0);
}

type SearchOptions = Extract<CheckOptions, { readonly jobs: number }>;

/*
 * Search `p` of a program seeded `seed`, on this thread: a program's
 * searches are short, and a campaign runs side by side as processes
 * (mmlab fuzz --jobs), each a shard of it.
 */
function phase_options(p: Phase, seed: number): SearchOptions {
  const { strategy, depth, schedules } = p;
  return { strategy, depth, schedules, seed, bound: 3, shard: { index: 0, count: 1 }, jobs: 1 };
}

/** A bug as found: its report, and the program and search that found it. */
interface Found {
  readonly report: BugReport;
  readonly program: number;
  readonly script: ConcurrentScript;
  readonly policy: string;
  /** The search that found it (without keep_going). */
  readonly options: SearchOptions;
}

/*
 * The report of bug `signature` by search `o` of `s`, if it finds it:
 * stopped at the first bug of its class, which the check retells with the
 * fewest preemptions; else (another bug of the class came first, or the
 * retelling is another bug) run past each bug as the campaign did, the
 * one found retold as the check retells its first. `keep_going`: whether
 * the search had to run past other bugs, as `mmlab check` must to find it again.
 */
async function find_bug(
  check: ScriptChecker,
  s: ConcurrentScript,
  cfg: { readonly policy: string; readonly variant: string },
  o: SearchOptions,
  found: BugReport,
): Promise<{ report: BugReport; keep_going: boolean } | null> {
  const first = await check(s, cfg, { ...o, bug_class: found.class });
  if (first.bug === null) return null;
  if (first.bug.signature === found.signature) return { report: first.bug, keep_going: false };
  const all = await check(s, cfg, { ...o, keep_going: true });
  const again = all.bugs.find((b) => b.signature === found.signature);
  if (again === undefined) return null;
  if (again === all.bug) return { report: again, keep_going: true };
  const retold = all.explorer.fewest_preemptions(again, RETELL_SCHEDULES);
  return { report: retold.signature === found.signature ? retold : again, keep_going: true };
}

/**
 * The smallest script found that the search that found `f` still finds
 * its bug on (same signature), and that search's report of it; the found
 * script and report if nothing smaller does.
 */
async function minimize_bug(f: Found, variant: string, check: ScriptChecker): Promise<FuzzBug> {
  const cfg = { policy: f.policy, variant };
  const find = (s: ConcurrentScript) => find_bug(check, s, cfg, f.options, f.report);
  const text = await minimize_concurrent(
    f.script,
    async (candidate) => (await find(parse_concurrent(candidate))) !== null,
    { max_calls: MINIMIZE_CALLS, time_ms: MINIMIZE_TIME_MS },
  );
  const small = parse_concurrent(text);
  const again = await find(small);
  if (again === null) return as_found(f, variant, true);
  // Found past other bugs: `mmlab check` must run past them too.
  return as_found(
    { ...f, report: again.report, script: small },
    variant,
    again.keep_going,
    f.script,
  );
}

/**
 * Bug `f` as a campaign lists it: its script, replay string, and the flags
 * of `mmlab check --script` that find it again (`keep_going` where that
 * search must run past other bugs, or is not known not to); `found` is the
 * program's script where `f.script` is its minimization.
 */
function as_found(
  f: Found,
  variant: string,
  keep_going: boolean,
  found: ConcurrentScript = f.script,
): FuzzBug {
  const bug = f.report;
  const { strategy, seed, schedules } = f.options;
  const flags = `--strategy ${strategy}${search_flags(f.options)} --seed ${seed} --schedules ${schedules}`;
  return {
    signature: bug.signature,
    class: bug.class,
    script: print_concurrent(f.script),
    replay: bug.replay,
    check: `--policy ${f.policy}${variant ? ` --variant ${variant}` : ''} ${flags} --bug-class ${bug.class}${keep_going ? ' --keep-going' : ''}`,
    message: bug.message,
    preemptions: bug.preemptions,
    program: f.program,
    policy: f.policy,
    found_commands: commands(found),
    commands: commands(f.script),
  };
}

/** A search's flags of `mmlab check` beside the strategy: DFS's bound, PCT-like strategies' depth. */
function search_flags(o: SearchOptions): string {
  if (o.strategy === 'dfs') return ` --bound ${o.bound}`;
  return o.strategy === 'random' ? '' : ` --depth ${o.depth}`;
}

/** The programs of this shard, in order: k = I, I + N, ... below `programs`. */
function* shard_programs(o: FuzzOptions): Generator<number> {
  for (let k = o.shard.index; o.programs === undefined || k < o.programs; k += o.shard.count)
    yield k;
}

/** Run a campaign: this shard's programs, until the program or time budget is spent. */
export async function fuzz(
  o: FuzzOptions,
  check: ScriptChecker = check_script,
): Promise<FuzzResult> {
  const t0 = performance.now();
  const deadline = o.time_ms === undefined ? Number.POSITIVE_INFINITY : t0 + o.time_ms;
  const bugs: FuzzBug[] = [];
  const seen = new Set<string>();
  let programs = 0;
  let schedules = 0;
  let minimize_ms = 0;
  const progress = (minimizing?: string) =>
    o.progress?.({ programs, schedules, bugs: bugs.length, ...(minimizing ? { minimizing } : {}) });
  for (const k of shard_programs(o)) {
    if (performance.now() >= deadline) break;
    const program = fuzz_program(o.seed, k, o.cpus);
    const { script } = program;
    const policy = o.policies[k % o.policies.length]!;
    programs++;
    for (const phase of phases_of(program)) {
      const options = phase_options(phase, program_seed(o.seed, k));
      const r = await check(
        script,
        { policy, variant: o.variant },
        { ...options, keep_going: true },
      );
      schedules += r.schedules;
      for (const report of r.bugs.filter((b) => !seen.has(b.signature))) {
        seen.add(report.signature);
        const found = { report, program: k, script, policy, options };
        const triage = triage_of(report.signature, policy);
        if (triage !== undefined) {
          bugs.push({ ...as_found(found, o.variant, true), triaged: triage });
          continue;
        }
        progress(report.signature);
        const t = performance.now();
        bugs.push(await minimize_bug(found, o.variant, check));
        minimize_ms = Math.max(minimize_ms, performance.now() - t);
      }
      progress();
    }
  }
  return { programs, schedules, bugs, elapsed_ms: performance.now() - t0, minimize_ms };
}
