/*
 * mmlab check [SCENARIO]: explore the interleavings of a scenario and
 * report the first bug with its replay string; --catalogue runs every
 * seed variant against its scenario.
 */

import { InvalidArgumentError } from 'commander';
import type { Catalogue } from '../check/catalogue.js';
import {
  type CatalogueCheck,
  check_catalogue,
  type StressComparison,
} from '../check/catalogue_stress.js';
import { type Shard, WHOLE } from '../check/dfs.js';
import { BUG_CLASSES } from '../check/explorer.js';
import { type Exhausted, parse_shard, shard_name } from '../check/parallel.js';
import { decode_replay } from '../check/replay.js';
import {
  type CheckOptions,
  type CheckOutcome,
  check_scenario,
  run_tasks,
} from '../check/search.js';
import {
  PhaseNotReached,
  parse_phases,
  type SearchStrategy,
  tasks_text,
} from '../check/strategy.js';
import { check_explorable, type RunConfig, type Scenario } from '../runtime/scenario.js';
import { SCENARIOS } from '../scenarios/index.js';
import { type ConcurrentScript, ScriptError } from '../script/ast.js';
import { check_script } from '../script/check_script.js';
import { parse_concurrent, print_concurrent } from '../script/concurrent.js';
import { script_scenario } from '../script/scenario.js';
import {
  bug_json,
  config_for,
  OutputFile,
  plural,
  print_bug,
  run_json,
  scenario_arg,
  seconds,
  table_row,
  write_timeline,
} from './common.js';
import { read_capped } from './run.js';
import { bold, dim, green, red } from './style.js';
import { as_usage, EXIT_BUG, EXIT_OK, UsageError } from './usage.js';

export interface CheckOpts {
  depth: number;
  bound: number;
  shard?: Shard;
  jobs?: number;
  html?: string;
  phases?: string;
  policy?: string;
  variant?: string;
  strategy: string;
  seed: number;
  schedules: number;
  time?: number;
  cpus?: number;
  param?: Record<string, number>;
  json?: boolean;
  keepGoing?: boolean;
  bugClass?: string;
  /** A concurrent script to explore instead of a scenario (- for standard input). */
  script?: string;
}

export const BUG_CLASS_HELP = `report only bugs of this class, searching past the others (${BUG_CLASSES.join(', ')})`;

export function bug_class_arg(v: string): string {
  if (!(BUG_CLASSES as readonly string[]).includes(v))
    throw new InvalidArgumentError(
      `--bug-class: unknown class '${v}' (known: ${BUG_CLASSES.join(', ')})`,
    );
  return v;
}

/*
 * What the options ask check_scenario for; a directed schedule's phases
 * checked against the run's `tasks`, before any work.
 */
function check_options(opts: CheckOpts, tasks: readonly string[]): CheckOptions {
  const time_ms = {
    ...(opts.time === undefined ? {} : { time_ms: opts.time * 1000 }),
    ...(opts.bugClass === undefined ? {} : { bug_class: opts.bugClass }),
    ...(opts.keepGoing ? { keep_going: true } : {}),
  };
  if (opts.strategy === 'directed') {
    if (!opts.phases) throw new UsageError('--strategy directed needs --phases TASK:OP:NAME,...');
    if (opts.shard || (opts.jobs ?? 1) > 1)
      throw new UsageError('--shard and --jobs split a search, not a directed schedule');
    try {
      return { strategy: 'directed', phases: parse_phases(opts.phases, tasks), ...time_ms };
    } catch (e) {
      throw new UsageError(`--phases: ${(e as Error).message}`);
    }
  }
  if (opts.phases) throw new UsageError('--phases goes with --strategy directed');
  const { seed, schedules, depth, bound } = opts;
  return {
    strategy: opts.strategy as SearchStrategy,
    seed,
    schedules,
    depth,
    bound,
    shard: opts.shard ?? WHOLE,
    jobs: opts.jobs ?? 1,
    ...time_ms,
  };
}

/*
 * check_scenario(); a directed schedule whose phases the run never
 * reached is bad usage (the phases name what never happens), not a clean run.
 */
async function check_or_usage(
  target: Target,
  options: CheckOptions,
  tasks: readonly string[],
): Promise<CheckOutcome> {
  try {
    return await target.check(options);
  } catch (e) {
    if (e instanceof PhaseNotReached)
      throw new UsageError(`--phases: ${e.message} (${tasks_text(tasks)})`);
    throw e;
  }
}

export function shard_arg(v: string): Shard {
  const shard = parse_shard(v);
  if (!shard) throw new InvalidArgumentError(`--shard needs I/N with 0 <= I < N, not '${v}'`);
  return shard;
}

/** What check explores: a scenario, or a concurrent script's; and how. */
interface Target {
  readonly s: Scenario;
  readonly cfg: RunConfig;
  /** What reports name it: the scenario's name, or `--script FILE`. */
  readonly name: string;
  /** A script's text as print_concurrent() writes it: which run a --json part is of. */
  readonly script?: string;
  readonly check: (o: CheckOptions) => Promise<CheckOutcome>;
}

function scenario_target(name: string | undefined, opts: CheckOpts): Target {
  if (!name)
    throw new UsageError(`check needs a SCENARIO (known: ${[...SCENARIOS.keys()].join(', ')})`);
  const s = scenario_arg(name);
  const cfg = config_for(s, opts);
  as_usage(() => check_explorable(s, cfg.params, cfg.cpus));
  return { s, cfg, name: s.name, check: (o) => check_scenario(s, cfg, o) };
}

/* --script FILE: the file read and parsed, every problem bad usage, before any work. */
function script_target(path: string, name: string | undefined, opts: CheckOpts): Target {
  if (name) throw new UsageError('check --script takes no SCENARIO: the script is the scenario');
  if (Object.keys(opts.param ?? {}).length > 0)
    throw new UsageError('--param goes with a SCENARIO, not with --script');
  if (opts.cpus !== undefined)
    throw new UsageError('--cpus goes with a SCENARIO: a script runs one CPU a section');
  let script: ConcurrentScript;
  try {
    script = parse_concurrent(read_capped(path));
  } catch (e) {
    if (e instanceof ScriptError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
  const s = script_scenario(script);
  const cfg = config_for(s, { ...opts, cpus: script.cpus.length });
  const { policy, variant } = cfg;
  return {
    s,
    cfg,
    name: `--script ${path}`,
    script: print_concurrent(script),
    // A script that outgrows the model's memory says so at its line, as mmlab run does.
    check: (o) =>
      check_script(script, { policy, variant }, o).catch((e: unknown) => {
        throw e instanceof ScriptError ? new UsageError(`${path}: ${e.message}`) : e;
      }),
  };
}

export async function cmd_check(
  name: string | undefined,
  opts: CheckOpts & CatalogueOpts,
): Promise<number> {
  if (opts.catalogue) {
    if (name || opts.script !== undefined)
      throw new UsageError('check --catalogue takes no SCENARIO or --script: it runs its own');
    return cmd_catalogue(opts);
  }
  if (opts.seeds !== undefined || opts.stress !== undefined)
    throw new UsageError('--seeds and --stress go with --catalogue');
  const target =
    opts.script === undefined
      ? scenario_target(name, opts)
      : script_target(opts.script, name, opts);
  const { s, cfg } = target;
  // A bad --strategy or --phases is bad usage: say so before booting the model.
  const tasks = run_tasks(s, cfg);
  const options = check_options(opts, tasks);
  const html = opts.html === undefined ? undefined : new OutputFile('--html', opts.html);
  const r = await check_or_usage(target, options, tasks);
  const label = `${target.name}${cfg.variant ? ` --variant ${cfg.variant}` : ''}`;
  // Only a failure has a schedule worth drawing.
  if (html && r.bug) write_timeline(html, r.explorer, r.bug, decode_replay(r.bug.replay), label);
  else if (html) console.error(`mmlab check: no failing schedule, ${html.path} not written`);
  if (opts.json) console.log(JSON.stringify(outcome_json(target, opts, r)));
  else print_outcome(label, opts, r);
  return r.bug ? EXIT_BUG : EXIT_OK;
}

/* The result as `mmlab check --json` prints it (and `mmlab merge` reads a part). */
function outcome_json({ s, cfg, script }: Target, opts: CheckOpts, r: CheckOutcome): object {
  return {
    ...run_json(s, cfg),
    ...(script !== undefined ? { script } : {}),
    strategy: opts.strategy,
    seed: opts.seed,
    shard: shard_name(opts.shard ?? WHOLE),
    jobs: opts.jobs ?? 1,
    bug: bug_json(r.bug),
    bugs: r.bugs.map((b) => ({ ...bug_json(b), signature: b.signature })),
    ...(r.found_preemptions !== null ? { found_preemptions: r.found_preemptions } : {}),
    schedules: r.schedules,
    steps: r.steps,
    elapsed_ms: Math.round(r.elapsed_ms * 10) / 10,
    ...(r.proved_bound !== null
      ? {
          bound: opts.bound,
          proved_bound: r.proved_bound,
          budget_exhausted: r.exhausted !== null,
          ...(r.exhausted ? { exhausted: r.exhausted } : {}),
        }
      : {}),
    ...(r.pct !== null ? { pct_probability: r.pct.probability } : {}),
  };
}

/* The result on the terminal: the bug, or a clean run and what it proved; PCT's bound. */
function print_outcome(label: string, opts: CheckOpts, r: CheckOutcome): void {
  const { bug, pct } = r;
  if (bug) {
    const retold =
      r.found_preemptions !== null
        ? `, retold by dfs with ${bug.preemptions} (found with ${r.found_preemptions})`
        : '';
    print_bug(
      bug,
      dim(
        `found in ${label} by ${opts.strategy} (seed ${opts.seed}) after ${r.schedules} schedules, ${r.elapsed_ms.toFixed(0)} ms${retold}; ${plural(bug.preemptions, 'preemption')}, ${bug.steps} steps, trace hash ${bug.hash} (replayed and matched)`,
      ),
    );
    if (opts.keepGoing) print_distinct(opts, r);
  } else {
    const rate =
      r.elapsed_ms > 0 ? ` (${(r.steps / r.elapsed_ms / 1000).toFixed(1)}M steps/s)` : '';
    console.log(
      `${green('clean')}: ${label}, ${r.schedules} schedules, ${r.steps} steps in ${r.elapsed_ms.toFixed(0)} ms${rate} [${opts.strategy}, seed ${opts.seed}]`,
    );
    print_proved(opts, r);
  }
  if (pct !== null)
    console.log(
      dim(
        `${opts.strategy === 'pct' ? 'PCT' : opts.strategy} depth ${opts.depth}: each schedule finds a bug of depth ${opts.depth} with probability >= ${pct.probability.toExponential(2)} (${bound_text(opts.strategy, pct.tasks)})`,
      ),
    );
}

/* How a PCT-like strategy's bound is computed (check/strategy.ts, focus.ts, word.ts). */
function bound_text(strategy: string, tasks: number): string {
  const n = `n = ${tasks} tasks`;
  if (strategy === 'word')
    return `p_W/(n! C(k,d-1) (n-1)^(d-1)), ${n}, p_W = the chance of drawing a typesafe object's word W, k = the most decisions (reads of another task's write of a word) a schedule had`;
  const k = strategy === 'focus' ? 'choices just after a synchronisation access' : 'choices';
  return `1/(n k^(d-1)), ${n}, k = the longest schedule's ${k}`;
}

/* --keep-going: every distinct bug, one line each and its replay, and how far the search went. */
function print_distinct(opts: CheckOpts, r: CheckOutcome): void {
  const { bugs } = r;
  console.log('');
  console.log(
    bold(
      `${plural(bugs.length, 'distinct bug')} in ${r.schedules} schedules, ${r.steps} steps in ${r.elapsed_ms.toFixed(0)} ms:`,
    ),
  );
  for (const b of bugs) {
    console.log(`  ${b.signature} (${plural(b.preemptions, 'preemption')}): ${b.message}`);
    console.log(`    replay: mmlab replay ${b.replay}`);
  }
  print_proved(opts, r);
}

/* What a DFS that ran to its bound or budget proved, and which budget ended it. */
function print_proved(opts: CheckOpts, r: CheckOutcome): void {
  if (r.proved_bound === null) return;
  const budget =
    r.exhausted === 'time'
      ? `the --time budget of ${opts.time} s`
      : `the budget of ${opts.schedules} schedule${opts.schedules === 1 ? '' : 's'}`;
  const line = proved_line(r.proved_bound, opts.bound, r.exhausted, budget);
  if (line) console.log(line);
}

/**
 * What a clean DFS search proved and, when `budget` (not the bound) ended
 * it, which bound it did not finish: a user asking for --bound 3 must not
 * read a proof of 2 as one of 3.
 */
export function proved_line(
  proved: number,
  bound: number,
  exhausted: Exhausted | null,
  budget: string,
): string | null {
  const explored =
    proved >= 0
      ? `every schedule with at most ${proved} preemption${proved === 1 ? '' : 's'} explored (up to reordering of commuting accesses)`
      : 'no bound explored to its end';
  if (exhausted === null) return proved >= 0 ? explored : null;
  const next = proved + 1;
  const short = next < bound ? `, short of --bound ${bound}` : '';
  return `${explored}; ${budget} ended the search before bound ${next}${short} (raise --${exhausted})`;
}

export interface CatalogueOpts {
  catalogue?: boolean;
  seeds?: number;
  stress?: number;
}

export const DEFAULT_SEEDS = 10;
const DEFAULT_CATALOGUE_TIME_S = 10;

async function cmd_catalogue(opts: CheckOpts & CatalogueOpts): Promise<number> {
  const progress = (what: string) => {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${what}`);
  };
  const r = await check_catalogue({
    seeds: opts.seeds ?? DEFAULT_SEEDS,
    schedules: opts.schedules,
    time_ms: (opts.time ?? DEFAULT_CATALOGUE_TIME_S) * 1000,
    progress,
    ...(opts.stress === undefined ? {} : { stress_s: opts.stress }),
  });
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  if (opts.json) console.log(JSON.stringify(catalogue_json(r)));
  else {
    print_catalogue(r.catalogue, opts);
    if (r.stress) print_stress(r.stress, opts.stress!);
  }
  return r.passed ? EXIT_OK : EXIT_BUG;
}

function catalogue_json({ catalogue, stress }: CatalogueCheck): object {
  return {
    entries: catalogue.entries.map((e) => ({
      ...e,
      median_ms: Math.round(e.median_ms * 10) / 10,
      worst_ms: Math.round(e.worst_ms * 10) / 10,
      fixed_ms: Math.round(e.fixed_ms * 10) / 10,
    })),
    schedules_per_s: Math.round(catalogue.schedules_per_s),
    ...(stress ? { stress } : {}),
  };
}

/* The catalogue as a table, one seed variant a row, and the budget it ran on. */
function print_catalogue(cat: Catalogue, opts: CheckOpts & CatalogueOpts): void {
  const widths = [38, 4, 16, 10, 8, 6, 9, 9, 13, 7];
  console.log(
    bold(
      table_row(
        [
          'variant',
          'seed',
          'scenario',
          'policy',
          'strategy',
          'found',
          'median',
          'worst',
          'schedules',
          'preempt',
          'fixed kernel',
        ],
        widths,
      ),
    ),
  );
  for (const e of cat.entries) {
    const fixed = e.fixed_clean
      ? green(
          `clean, ${e.fixed_schedules} schedules${e.fixed_proved_bound !== null && e.fixed_proved_bound >= 0 ? ` (every schedule with <= ${plural(e.fixed_proved_bound, 'preemption')})` : ''}`,
        )
      : red('BUG');
    console.log(
      table_row(
        [
          e.variant,
          e.seed_doc,
          e.scenario,
          e.policy,
          e.strategy,
          `${e.found_seeds}/${e.seeds}`,
          seconds(e.median_ms),
          seconds(e.worst_ms),
          `${e.median_schedules}/${e.worst_schedules}`,
          String(e.preemptions ?? '-'),
          fixed,
        ],
        widths,
      ),
    );
  }
  console.log(
    dim(
      `median and worst over ${plural(opts.seeds ?? DEFAULT_SEEDS, 'seed')}, each search (and the fixed kernel's) within ${opts.schedules} schedules and ${opts.time ?? DEFAULT_CATALOGUE_TIME_S} s, or the more an entry asks for; schedules median/worst; ${Math.round(cat.schedules_per_s)} schedules/s`,
    ),
  );
}

/* The native comparison, `seconds_each` a variant: one line each. */
function print_stress(stress: readonly StressComparison[], seconds_each: number): void {
  console.log('');
  console.log(
    bold(
      `the same bugs natively (no KASAN, no schedule control), ${seconds_each} s each: mm-stress, then the catalogue's scenario over and over`,
    ),
  );
  for (const r of stress) {
    const a = r.stress_found
      ? red(`mm-stress: ${r.stress_class} after ${seconds(r.stress_ms)}`)
      : `mm-stress: not found (${seconds(r.stress_ms)}, ${r.stress_steps} steps)`;
    const b = r.scenario_found
      ? red(`${r.scenario}: ${r.scenario_class} in run ${r.scenario_runs}`)
      : `${r.scenario}: not found in ${r.scenario_runs} runs`;
    console.log(`  ${r.variant.padEnd(38)}  ${a}; ${b}`);
  }
}
