#!/usr/bin/env -S node --single-threaded-gc
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
/*
 * mmlab's command line. Exit status: 0 success / no bug, 1 bug found or
 * mismatch, 2 bad usage or bad input (one line on stderr naming it).
 * With --json, stdout carries one JSON document and nothing else.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXECUTORS } from '../bench/workload.js';
import { WORKLOADS } from '../bench/workloads/index.js';
import { CATALOGUE, run_catalogue } from '../check/catalogue.js';
import { BoundedDfs, type Shard, WHOLE } from '../check/dfs.js';
import { type BugReport, type CheckResult, Explorer } from '../check/explorer.js';
import {
  merge_results,
  type PartResult,
  parse_shard,
  run_parallel,
  shard_name,
} from '../check/parallel.js';
import { decode_replay, hex32 } from '../check/replay.js';
import { find_scenario, SCENARIOS } from '../check/scenarios/index.js';
import {
  Directed,
  Pct,
  parse_phases,
  SEARCH_STRATEGIES,
  type SearchStrategy,
  search_strategy,
} from '../check/strategy.js';
import { timeline_html } from '../check/timeline.js';
import { DEFAULT_POLICY, POLICIES } from '../kernel/mm/policy.js';
import { diff } from '../oracle/diff.js';
import type { Strategy } from '../runtime/executors/explore.js';
import { run_native } from '../runtime/executors/native.js';
import { KernelBug } from '../runtime/ops.js';
import { make_config, type RunConfig, type Scenario } from '../runtime/scenario.js';
import type { Script } from '../script/ast.js';
import { ScriptError } from '../script/ast.js';
import { parse_script } from '../script/parse.js';
import { format_run, type ModelRun, run_model } from '../script/run_model.js';
import { type BenchOpts, cmd_bench, cpus_list, MAX_BENCH_CPUS, policy_list } from './bench.js';
import { demo } from './demo.js';
import { cmd_report, DEFAULT_REPORT } from './report.js';
import { bold, dim, green, red } from './style.js';
import { as_usage, EXIT_BUG, EXIT_OK, EXIT_USAGE, int_arg, UsageError } from './usage.js';

function seconds_arg(name: string) {
  return (v: string): number => {
    if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number of seconds, not '${v}'`);
    return Number(v);
  };
}

function param_arg(v: string, prev: Record<string, number>): Record<string, number> {
  const m = /^([a-z_][a-z0-9_]*)=(\d+)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--param needs KEY=INTEGER, not '${v}'`);
  return { ...prev, [m[1]!]: Number(m[2]) };
}

/* The options several commands take, alike in each. */
const policy_option = () =>
  new Option('--policy <name>', 'address-space locking design')
    .choices(POLICIES)
    .default(DEFAULT_POLICY);
const variant_option = () => new Option('--variant <name>', 're-introduce a historical bug');
const param_option = () =>
  new Option('--param <key=value>', 'set a scenario parameter (repeatable)')
    .default({})
    .argParser(param_arg);

function config_for(
  s: Scenario,
  opts: { cpus?: number; policy?: string; variant?: string; param?: Record<string, number> },
): RunConfig {
  return as_usage(() =>
    make_config(s, {
      cpus: opts.cpus,
      policy: opts.policy,
      variant: opts.variant,
      params: opts.param,
    }),
  );
}

function scenario_arg(name: string): Scenario {
  return as_usage(() => find_scenario(name));
}

/** The first line of every bug report on the terminal. */
function bug_line(cls: string, message: string): string {
  return `${red(bold(`BUG: ${cls}`))}: ${message}`;
}

/** Counters as one line: `name value, name value, ...`. */
function counters_line(c: Readonly<Record<string, number>>): string {
  return Object.entries(c)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

function print_bug(bug: BugReport, intro: string): void {
  console.log(bug_line(bug.class, bug.message));
  console.log(intro);
  console.log('');
  console.log(bug.table);
  console.log('');
  console.log(`replay: ${bold(`mmlab replay ${bug.replay}`)}`);
}

/** What every JSON result starts with: the run it describes. */
function run_json(
  s: Scenario,
  cfg: RunConfig,
): {
  scenario: string;
  policy: string;
  variant: string | null;
  cpus: number;
  params: Readonly<Record<string, number>>;
} {
  return {
    scenario: s.name,
    policy: cfg.policy,
    variant: cfg.variant || null,
    cpus: cfg.cpus,
    params: cfg.params,
  };
}

function bug_json(bug: BugReport | null): object | null {
  return (
    bug && {
      class: bug.class,
      message: bug.message,
      task: bug.task,
      replay: bug.replay,
      preemptions: bug.preemptions,
      steps: bug.steps,
      hash: bug.hash,
    }
  );
}

interface CheckOpts {
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
}

function make_strategy(opts: CheckOpts, shard: Shard): Strategy {
  if (opts.strategy === 'directed') {
    if (!opts.phases) throw new UsageError('--strategy directed needs --phases TASK:OP:NAME,...');
    if (opts.shard || (opts.jobs ?? 1) > 1)
      throw new UsageError('--shard and --jobs split a search, not a directed schedule');
    const phases = opts.phases;
    return as_usage(() => new Directed(parse_phases(phases)));
  }
  if (opts.phases) throw new UsageError('--phases goes with --strategy directed');
  return search_strategy(opts.strategy as SearchStrategy, { ...opts, shard });
}

function shard_arg(v: string): Shard {
  const shard = parse_shard(v);
  if (!shard) throw new InvalidArgumentError(`--shard needs I/N with 0 <= I < N, not '${v}'`);
  return shard;
}

async function cmd_check(
  name: string | undefined,
  opts: CheckOpts & CatalogueOpts,
): Promise<number> {
  if (opts.catalogue) {
    if (name) throw new UsageError('check --catalogue takes no SCENARIO: it runs its own');
    return cmd_catalogue(opts);
  }
  if (opts.seeds !== undefined || opts.stress !== undefined)
    throw new UsageError('--seeds and --stress go with --catalogue');
  if (!name)
    throw new UsageError(`check needs a SCENARIO (known: ${[...SCENARIOS.keys()].join(', ')})`);
  const s = scenario_arg(name);
  const cfg = config_for(s, opts);
  // A bad --strategy or --phases is bad usage: say so before booting the model.
  const shard = opts.shard ?? WHOLE;
  const strategy = make_strategy(opts, shard);
  const html = opts.html === undefined ? undefined : html_target(opts.html);
  const explorer = new Explorer(s, cfg);
  const time_ms = opts.time === undefined ? undefined : opts.time * 1000;
  const jobs = opts.jobs ?? 1;
  let r: Pick<CheckResult, 'bug' | 'schedules' | 'steps' | 'elapsed_ms'>;
  let proved: number | null;
  if (jobs > 1) {
    const parts = await run_parallel(
      {
        scenario: s.name,
        cfg,
        strategy: opts.strategy as SearchStrategy,
        options: { ...opts, shard },
        ...(time_ms === undefined ? {} : { time_ms }),
      },
      jobs,
    );
    r = merge_results(parts);
    // The jobs' parts together are this shard: its bound is what every part proved.
    proved = parts.every((p) => p.proved_bound !== null)
      ? Math.min(...parts.map((p) => p.proved_bound!))
      : null;
  } else {
    r = explorer.check(strategy, time_ms === undefined ? {} : { time_ms });
    proved = strategy instanceof BoundedDfs ? strategy.proved : null;
  }
  // A random walk's or PCT's failure, retold with the fewest preemptions DFS finds.
  const bug =
    r.bug && (opts.strategy === 'random' || opts.strategy === 'pct')
      ? explorer.fewest_preemptions(r.bug, MINIMIZE_MS)
      : r.bug;
  const label = `${s.name}${cfg.variant ? ` --variant ${cfg.variant}` : ''}`;
  const pct = strategy instanceof Pct ? strategy.bound(explorer.exec.nr_tasks) : null;
  // Only a failure has a schedule worth drawing.
  if (html && bug) write_html(html, explorer, bug, decode_replay(bug.replay).choices, label);
  else if (html) console.error(`mmlab check: no failing schedule, ${html} not written`);
  if (opts.json) {
    console.log(
      JSON.stringify({
        ...run_json(s, cfg),
        strategy: opts.strategy,
        seed: opts.seed,
        shard: shard_name(shard),
        jobs,
        bug: bug_json(bug),
        ...(bug && r.bug && bug !== r.bug ? { found_preemptions: r.bug.preemptions } : {}),
        schedules: r.schedules,
        steps: r.steps,
        elapsed_ms: Math.round(r.elapsed_ms * 10) / 10,
        ...(proved !== null ? { proved_bound: proved } : {}),
        ...(pct !== null ? { pct_probability: pct } : {}),
      }),
    );
  } else if (bug) {
    const retold =
      bug !== r.bug
        ? `, retold by dfs with ${bug.preemptions} (found with ${r.bug!.preemptions})`
        : '';
    print_bug(
      bug,
      dim(
        `found in ${label} by ${opts.strategy} (seed ${opts.seed}) after ${r.schedules} schedules, ${r.elapsed_ms.toFixed(0)} ms${retold}; ${bug.preemptions} preemptions, ${bug.steps} steps, trace hash ${bug.hash} (replayed and matched)`,
      ),
    );
  } else {
    const rate =
      r.elapsed_ms > 0 ? ` (${(r.steps / r.elapsed_ms / 1000).toFixed(1)}M steps/s)` : '';
    console.log(
      `${green('clean')}: ${label}, ${r.schedules} schedules, ${r.steps} steps in ${r.elapsed_ms.toFixed(0)} ms${rate} [${opts.strategy}, seed ${opts.seed}]`,
    );
    if (proved !== null && proved >= 0)
      console.log(
        `every schedule with at most ${proved} preemption${proved === 1 ? '' : 's'} explored (up to reordering of commuting accesses)`,
      );
  }
  if (pct !== null && !opts.json)
    console.log(
      dim(
        `PCT depth ${opts.depth}: each schedule finds a bug of depth ${opts.depth} with probability >= ${pct.toExponential(2)} (1/(n k^(d-1)), n = ${explorer.exec.nr_tasks} tasks, k = the longest schedule's choices)`,
      ),
    );
  return bug ? EXIT_BUG : EXIT_OK;
}

/** How long a random walk's failure may be re-searched for fewer preemptions. */
const MINIMIZE_MS = 3000;

/* An --html path whose directory exists: checked before the run, written after it. */
function html_target(path: string): string {
  const dir = dirname(resolve(path));
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`--html ${path}: no directory ${dir}`);
  return path;
}

/* The timeline page of `choices`, written whole (a temporary file renamed over the target). */
function write_html(
  path: string,
  explorer: Explorer,
  bug: BugReport | null,
  choices: Uint8Array,
  title: string,
): void {
  const { trace } = explorer.trace(choices);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, timeline_html(explorer, trace, bug, title));
  renameSync(tmp, path);
}

/* The fields of `mmlab check --json` that say which run a part belongs to. */
const RUN_KEYS = ['scenario', 'policy', 'variant', 'cpus', 'params', 'strategy', 'seed'] as const;

type BugJson = { readonly preemptions: number } & Record<string, unknown>;

/* One `mmlab check --shard I/N --json` result, read back for a merge. */
function read_part(path: string): Record<string, unknown> & PartResult<BugJson> {
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

function cmd_merge(paths: readonly string[], opts: { json?: boolean }): number {
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

interface CatalogueOpts {
  catalogue?: boolean;
  seeds?: number;
  stress?: number;
}

/* One line of a table: cells padded to their column's width. */
function table_row(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => c.padEnd(widths[i]!))
    .join('  ')
    .trimEnd();
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/*
 * Each seed variant natively, for comparison: half the time on mm-stress
 * (everything at once, for as long as it runs), half on the catalogue's
 * own scenario run again and again, each run on fresh worker threads.
 * Natively there is no KASAN: a bug shows only by what it breaks.
 */
async function stress_comparison(seconds_each: number, progress: (what: string) => void) {
  const stress = find_scenario('mm-stress');
  const out = [];
  for (const c of CATALOGUE) {
    progress(`${c.variant}: mm-stress natively for ${seconds_each / 2} s`);
    const cfg = make_config(stress, { policy: c.policy, variant: c.variant, params: { iters: 0 } });
    const r = await run_native(stress, cfg, { seconds: seconds_each / 2 });
    const s = find_scenario(c.scenario);
    const race_cfg = make_config(s, { policy: c.policy, variant: c.variant, params: c.params });
    progress(`${c.variant}: ${c.scenario} natively for ${seconds_each / 2} s`);
    const t0 = performance.now();
    let runs = 0;
    let race_bug: string | null = null;
    while (race_bug === null && performance.now() - t0 < (seconds_each / 2) * 1000) {
      const one = await run_native(s, race_cfg, { watchdog_ms: 2000 });
      runs++;
      race_bug = one.bug?.class ?? null;
    }
    out.push({
      variant: c.variant,
      policy: c.policy,
      stress_found: r.bug !== null,
      stress_class: r.bug?.class ?? null,
      stress_ms: Math.round(r.elapsed_ms),
      stress_steps: r.steps.reduce((a, b) => a + b, 0),
      scenario: c.scenario,
      scenario_runs: runs,
      scenario_found: race_bug !== null,
      scenario_class: race_bug,
      scenario_ms: Math.round(performance.now() - t0),
    });
  }
  return out;
}

async function cmd_catalogue(opts: CheckOpts & CatalogueOpts): Promise<number> {
  const progress = (what: string) => {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${what}`);
  };
  const cat = run_catalogue({
    seeds: opts.seeds ?? 10,
    schedules: opts.schedules,
    time_ms: (opts.time ?? 10) * 1000,
    progress,
  });
  const stress = opts.stress === undefined ? null : await stress_comparison(opts.stress, progress);
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  const ok = cat.entries.every((e) => e.found && e.fixed_clean);
  if (opts.json) {
    console.log(
      JSON.stringify({
        entries: cat.entries.map((e) => ({
          ...e,
          median_ms: Math.round(e.median_ms * 10) / 10,
          worst_ms: Math.round(e.worst_ms * 10) / 10,
          fixed_ms: Math.round(e.fixed_ms * 10) / 10,
        })),
        schedules_per_s: Math.round(cat.schedules_per_s),
        ...(stress ? { stress } : {}),
      }),
    );
    return ok ? EXIT_OK : EXIT_BUG;
  }
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
          `clean, ${e.fixed_schedules} schedules${e.fixed_proved_bound !== null && e.fixed_proved_bound >= 0 ? ` (every schedule with <= ${e.fixed_proved_bound} preemptions)` : ''}`,
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
      `median and worst over ${opts.seeds ?? 10} seeds, each search (and the fixed kernel's) within ${opts.schedules} schedules and ${opts.time ?? 10} s; schedules median/worst; ${Math.round(cat.schedules_per_s)} schedules/s`,
    ),
  );
  if (stress) {
    console.log('');
    console.log(
      bold(
        `the same bugs natively (no KASAN, no schedule control), ${opts.stress} s each: mm-stress, then the catalogue's scenario over and over`,
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
  return ok ? EXIT_OK : EXIT_BUG;
}

function cmd_replay(str: string, opts: { json?: boolean; html?: string }): number {
  const rec = as_usage(() => decode_replay(str));
  const html = opts.html === undefined ? undefined : html_target(opts.html);
  const s = scenario_arg(rec.scenario);
  const cfg = config_for(s, {
    cpus: rec.cpus,
    policy: rec.policy,
    variant: rec.variant,
    param: rec.params,
  });
  const explorer = new Explorer(s, cfg);
  let outcome: ReturnType<Explorer['trace']>['outcome'];
  let trace: ReturnType<Explorer['trace']>['trace'];
  try {
    ({ outcome, trace } = explorer.trace(rec.choices, rec.hash));
  } catch (e) {
    // The schedule does not fit this scenario: a mismatch, not bad usage.
    if (opts.json) console.log(JSON.stringify({ bug: null, mismatch: (e as Error).message }));
    else console.error(`mmlab replay: ${(e as Error).message}`);
    return EXIT_BUG;
  }
  const report = outcome.bug ? explorer.report(outcome) : null;
  if (html) write_html(html, explorer, report, rec.choices, s.name);
  if (opts.json) {
    console.log(
      JSON.stringify({
        ...run_json(s, cfg),
        bug: bug_json(report),
        steps: outcome.steps,
        hash: report?.hash ?? hex32(outcome.hash),
      }),
    );
  } else if (report) {
    print_bug(
      report,
      dim(`replayed ${outcome.steps} steps bit for bit (trace hash ${report.hash})`),
    );
  } else {
    console.log(explorer.table(trace, -1));
    console.log(`${green('no bug')}: replayed ${outcome.steps} steps of ${s.name} bit for bit`);
  }
  return report ? EXIT_BUG : EXIT_OK;
}

async function cmd_stress(
  name: string | undefined,
  opts: {
    cpus?: number;
    policy?: string;
    variant?: string;
    param?: Record<string, number>;
    seconds?: number;
    seed?: number;
    json?: boolean;
  },
): Promise<number> {
  const s = scenario_arg(name ?? 'mm-stress');
  const param = { ...opts.param };
  // --seconds runs until stopped (iters=0), --seed seeds the CPUs' choices.
  if (opts.seconds !== undefined) {
    if (!s.stop_word || !('iters' in s.params))
      throw new UsageError(`${s.name} cannot run for a time (use --param iters=N)`);
    if (param.iters !== undefined)
      throw new UsageError('--seconds and --param iters both say how long to run: give one');
    param.iters = 0;
  }
  if (opts.seed !== undefined) {
    if (!('seed' in s.params)) throw new UsageError(`${s.name} takes no seed`);
    param.seed = opts.seed;
  }
  const cfg = config_for(s, { ...opts, param });
  const r = await run_native(s, cfg, opts.seconds === undefined ? {} : { seconds: opts.seconds });
  const steps = r.steps.reduce((a, b) => a + b, 0);
  if (opts.json) {
    console.log(
      JSON.stringify({
        ...run_json(s, cfg),
        bug: r.bug,
        steps,
        elapsed_ms: Math.round(r.elapsed_ms),
        counters: r.report,
      }),
    );
  } else if (r.bug) {
    console.log(bug_line(r.bug.class, r.bug.message));
    if (r.bug.stack) console.log(dim(r.bug.stack));
  } else {
    console.log(
      `${green('clean')}: ${s.name} (${cfg.policy}) natively on ${cfg.cpus} CPUs, ${steps} steps in ${r.elapsed_ms.toFixed(0)} ms`,
    );
  }
  if (!opts.json && Object.keys(r.report).length > 0) console.log(counters_line(r.report));
  return r.bug ? EXIT_BUG : EXIT_OK;
}

function read_script_file(path: string): Script {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  try {
    return parse_script(text);
  } catch (e) {
    if (e instanceof ScriptError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
}

function cmd_run(path: string, opts: { json?: boolean; stats?: boolean; policy: string }): number {
  const script = read_script_file(path);
  let run: ModelRun;
  try {
    run = run_model(script, opts.policy);
  } catch (e) {
    if (e instanceof ScriptError) throw new UsageError(`${path}: ${e.message}`);
    if (!(e instanceof KernelBug)) throw e;
    if (opts.json) console.log(JSON.stringify({ bug: { class: e.bug_class, message: e.message } }));
    else console.log(bug_line(e.bug_class, e.message));
    return EXIT_BUG;
  }
  if (opts.json) {
    console.log(
      JSON.stringify({
        bug: null,
        results: run.results,
        maps: run.maps,
        steps: run.steps,
        counters: run.counters,
      }),
    );
  } else {
    process.stdout.write(format_run(run));
    if (opts.stats) console.log(`stats: ${counters_line(run.counters)}`);
  }
  return EXIT_OK;
}

function cmd_diff(opts: { count: number; seed: number; json?: boolean }): number {
  const r = diff({ count: opts.count, seed: opts.seed });
  if (opts.json) {
    console.log(
      JSON.stringify({
        scripts: r.scripts,
        mismatches: r.mismatches.length,
        seed: opts.seed,
        forbid_zeropage: r.boot.forbid_zeropage ?? false,
        failures: r.mismatches,
        elapsed_ms: Math.round(r.elapsed_ms),
      }),
    );
  } else {
    for (const m of r.mismatches) {
      console.log(
        `${red('mismatch')} in script ${m.index} (seed ${opts.seed}), output line ${m.line}:`,
      );
      console.log(`  model: ${m.model}`);
      console.log(`  linux: ${m.linux}`);
      console.log(m.script.replace(/^/gm, '    ').trimEnd());
    }
    if (r.boot.forbid_zeropage)
      console.log(
        dim(
          "this machine's kernel maps no zero page on a read fault (mm_forbids_zeropage()): the model ran booted so too",
        ),
      );
    console.log(`${r.scripts} scripts, ${r.mismatches.length} mismatches`);
  }
  return r.mismatches.length > 0 ? EXIT_BUG : EXIT_OK;
}

function build_program(exit: (code: number) => void): Command {
  const program = new Command('mmlab')
    .description("a laboratory for the Linux kernel's address-space locking")
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      // Commander's own error lines are replaced by ours (one line, exit 2); help still shows.
      writeErr: (s) => {
        if (!s.startsWith('error:')) process.stderr.write(s);
      },
    });

  const run = (p: number | Promise<number>) => {
    void Promise.resolve(p).then(exit, (e) => fail(e, exit));
  };

  program
    .command('check')
    .description(
      'explore the interleavings of a scenario and report the first bug with its replay string',
    )
    .argument('[scenario]', `scenario to explore (${[...SCENARIOS.keys()].join(', ')})`)
    .addOption(policy_option())
    .addOption(variant_option())
    .addOption(
      new Option('--strategy <name>', 'exploration strategy')
        .choices([...SEARCH_STRATEGIES, 'directed'])
        .default('random'),
    )
    .option('--seed <n>', 'seed of the strategy', int_arg('--seed', 0, 0xffffffff), 1)
    .option('--schedules <n>', 'schedules to run', int_arg('--schedules', 1), 10_000)
    .option('--depth <d>', 'PCT: the bug depth to aim at', int_arg('--depth', 1, 10), 3)
    .option(
      '--bound <n>',
      'dfs: the most preemptions a schedule may have (raised from 0)',
      int_arg('--bound', 0, 20),
      3,
    )
    .option(
      '--phases <list>',
      'directed: TASK:OP:NAME (run until), TASK:+N (steps), TASK:* (drain), comma-separated',
    )
    .option('--time <sec>', 'stop after this many seconds', seconds_arg('--time'))
    .option('--cpus <n>', 'CPUs running the scenario', int_arg('--cpus', 1, 255))
    .addOption(param_option())
    .option('--html <file>', 'write the timeline of the failing schedule as one HTML page')
    .option(
      '--shard <i/n>',
      'run part I of N of the search (merge the parts with mmlab merge)',
      shard_arg,
    )
    .option(
      '--jobs <n>',
      `explore on N worker threads (this machine has ${availableParallelism()} CPUs)`,
      int_arg('--jobs', 1, 256),
    )
    .option('--catalogue', 'every seed variant against its scenario')
    .option('--seeds <n>', 'catalogue: seeds per variant', int_arg('--seeds', 1, 1000))
    .option(
      '--stress <sec>',
      'catalogue: also run each variant natively (mm-stress) this long',
      seconds_arg('--stress'),
    )
    .option('--json', 'print one JSON document')
    .action((name: string | undefined, opts: CheckOpts & CatalogueOpts) =>
      run(cmd_check(name, opts)),
    );

  program
    .command('merge')
    .description('merge the JSON results of the parts of a run (mmlab check --shard I/N --json)')
    .argument('<files...>', 'JSON results, one per part')
    .option('--json', 'print one JSON document')
    .action((paths: string[], opts: { json?: boolean }) => run(cmd_merge(paths, opts)));

  program
    .command('replay')
    .description('replay a schedule string printed by check, bit for bit')
    .argument('<string>', 'replay string (m1:...)')
    .option('--json', 'print one JSON document')
    .option('--html <file>', 'write the timeline of the schedule as one HTML page')
    .action((str: string, opts: { json?: boolean; html?: string }) => run(cmd_replay(str, opts)));

  program
    .command('stress')
    .description('run a scenario natively, one worker thread per CPU (default: mm-stress)')
    .argument('[scenario]', 'scenario to run')
    .option('--seconds <sec>', 'run until this many seconds have passed', seconds_arg)
    .option('--seed <n>', "seed of the CPUs' choices", int_arg('--seed', 0, 0xffffffff))
    .addOption(policy_option())
    .addOption(variant_option())
    .option('--cpus <n>', 'CPUs (worker threads)', int_arg('--cpus', 1, 255))
    .addOption(param_option())
    .option('--json', 'print one JSON document')
    .action((name: string | undefined, opts: Parameters<typeof cmd_stress>[1]) =>
      run(cmd_stress(name, opts)),
    );

  program
    .command('run')
    .description('run a script on the model and print its output (the language is in the README)')
    .argument('<script>', 'script file, or - for standard input')
    .addOption(policy_option())
    .option('--json', 'print one JSON document')
    .option('--stats', 'print the per-VMA lock counters after the output')
    .action((path: string, opts: { json?: boolean; stats?: boolean; policy: string }) =>
      run(cmd_run(path, opts)),
    );

  program
    .command('diff')
    .description(
      "random scripts on the model and on this machine's Linux kernel; report mismatches, minimized",
    )
    .option('--count <n>', 'scripts to run', int_arg('--count', 1, 1_000_000), 100)
    .option('--seed <n>', 'seed of the script generator', int_arg('--seed', 0, 0xffffffff), 1)
    .option('--json', 'print one JSON document')
    .action((opts: { count: number; seed: number; json?: boolean }) => run(cmd_diff(opts)));

  program
    .command('bench')
    .description(
      'measure a workload under each policy: natively on this machine, or on the simulated multicore (--executor timing)',
    )
    .argument('<workload>', `workload (${[...WORKLOADS.keys()].join(', ')})`)
    .option('--policy <list>', 'policies, comma-separated (default: all)', policy_list)
    .addOption(
      new Option('--executor <name>', 'where it runs').choices(EXECUTORS).default('native'),
    )
    .option(
      '--cpus <list>',
      `CPU counts, comma-separated (default: powers of two to ${availableParallelism()} natively, to ${MAX_BENCH_CPUS} under timing)`,
      cpus_list,
    )
    .option('--profile <name>', 'timing: the cost profile, js or hw (default hw)')
    .option('--json', 'print one JSON document')
    .action((name: string, opts: BenchOpts) => run(cmd_bench(name, opts)));

  program
    .command('report')
    .description(
      'the main job: bug catalogue, benchmarks and scaling curves in one self-contained HTML file',
    )
    .option('--out <file>', 'where to write it', DEFAULT_REPORT)
    .action((opts: { out?: string }) => run(cmd_report(opts)));

  program
    .command('demo')
    .description(
      'a short tour: the lock self-test explored, broken, replayed and run natively; scripts against this kernel; seed 000',
    )
    .action(() => run(demo()));

  return program;
}

function fail(e: unknown, exit: (code: number) => void): void {
  // Commander turns the option parsers' InvalidArgumentError into a CommanderError,
  // which main() handles: only our own UsageError is bad usage here.
  if (e instanceof UsageError) {
    console.error(`mmlab: ${e.message}`);
    exit(EXIT_USAGE);
    return;
  }
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  exit(EXIT_USAGE + 1);
}

export function main(argv: readonly string[], exit: (code: number) => void): void {
  const program = build_program(exit);
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') {
        exit(EXIT_OK);
        return;
      }
      // Help commander printed itself: asked for (mmlab help CMD), or in place of a missing command.
      if (e.code === 'commander.help') {
        exit(e.exitCode === 0 ? EXIT_OK : EXIT_USAGE);
        return;
      }
      console.error(`mmlab: ${e.message.replace(/^error: /, '')}`);
      exit(EXIT_USAGE);
      return;
    }
    fail(e, exit);
  }
}

main(process.argv.slice(2), (code) => {
  process.exitCode = code;
});
