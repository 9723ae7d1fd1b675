/*
 * mmlab check [SCENARIO]: explore the interleavings of a scenario and
 * report the first bug with its replay string; --catalogue runs every
 * seed variant against its scenario.
 */

import { InvalidArgumentError } from 'commander';
import { CATALOGUE, run_catalogue } from '../check/catalogue.js';
import { type Shard, WHOLE } from '../check/dfs.js';
import { type CheckResult, Explorer } from '../check/explorer.js';
import { make_config, run_native } from '../check/kernel.js';
import {
  type Exhausted,
  lowest_proved,
  merge_results,
  parse_shard,
  part_result,
  run_parallel,
  shard_name,
} from '../check/parallel.js';
import { decode_replay } from '../check/replay.js';
import { find_scenario, SCENARIOS } from '../check/scenarios/index.js';
import {
  Directed,
  Pct,
  PhaseNotReached,
  parse_phases,
  type SearchStrategy,
  search_strategy,
  tasks_text,
} from '../check/strategy.js';
import type { Strategy } from '../runtime/executors/explore.js';
import { check_explorable, task_name } from '../runtime/scenario.js';
import {
  bug_json,
  config_for,
  OutputFile,
  print_bug,
  run_json,
  scenario_arg,
  seconds,
  table_row,
  write_timeline,
} from './common.js';
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
}

/** The strategy the options name; a directed schedule's phases checked against the run's `tasks`. */
export function make_strategy(opts: CheckOpts, shard: Shard, tasks: readonly string[]): Strategy {
  if (opts.strategy === 'directed') {
    if (!opts.phases) throw new UsageError('--strategy directed needs --phases TASK:OP:NAME,...');
    if (opts.shard || (opts.jobs ?? 1) > 1)
      throw new UsageError('--shard and --jobs split a search, not a directed schedule');
    const phases = opts.phases;
    try {
      return new Directed(parse_phases(phases, tasks));
    } catch (e) {
      throw new UsageError(`--phases: ${(e as Error).message}`);
    }
  }
  if (opts.phases) throw new UsageError('--phases goes with --strategy directed');
  return search_strategy(opts.strategy as SearchStrategy, { ...opts, shard });
}

/*
 * explorer.check() with `strategy`; a directed schedule whose phases the
 * run never reached is bad usage (the phases name what never happens), not a clean run.
 */
function explore_directed(
  explorer: Explorer,
  strategy: Strategy,
  time_ms: number | undefined,
  tasks: readonly string[],
): CheckResult {
  try {
    return explorer.check(strategy, time_ms === undefined ? {} : { time_ms });
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

export async function cmd_check(
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
  as_usage(() => check_explorable(s, cfg.params));
  // A bad --strategy or --phases is bad usage: say so before booting the model.
  const shard = opts.shard ?? WHOLE;
  const tasks = Array.from({ length: cfg.cpus + s.kthreads.length }, (_, t) =>
    task_name(s, cfg, t),
  );
  const strategy = make_strategy(opts, shard, tasks);
  const html = opts.html === undefined ? undefined : new OutputFile('--html', opts.html);
  const explorer = new Explorer(s, cfg);
  const time_ms = opts.time === undefined ? undefined : opts.time * 1000;
  const jobs = opts.jobs ?? 1;
  const parts =
    jobs > 1
      ? await run_parallel(
          {
            scenario: s.name,
            cfg,
            strategy: opts.strategy as SearchStrategy,
            options: { ...opts, shard },
            ...(time_ms === undefined ? {} : { time_ms }),
          },
          jobs,
        )
      : [part_result(shard, strategy, explore_directed(explorer, strategy, time_ms, tasks))];
  const r = merge_results(parts);
  // The jobs' parts together are this shard: its bound is what every part proved.
  const proved = lowest_proved(parts);
  // A random walk's or PCT's failure, retold with the fewest preemptions DFS finds.
  const bug =
    r.bug && (opts.strategy === 'random' || opts.strategy === 'pct')
      ? explorer.fewest_preemptions(r.bug, MINIMIZE_MS)
      : r.bug;
  const label = `${s.name}${cfg.variant ? ` --variant ${cfg.variant}` : ''}`;
  const pct = strategy instanceof Pct ? strategy.bound(explorer.exec.nr_tasks) : null;
  // Only a failure has a schedule worth drawing.
  if (html && bug) write_timeline(html, explorer, bug, decode_replay(bug.replay).choices, label);
  else if (html) console.error(`mmlab check: no failing schedule, ${html.path} not written`);
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
        ...(proved !== null
          ? {
              bound: opts.bound,
              proved_bound: proved,
              budget_exhausted: r.exhausted !== null,
              ...(r.exhausted ? { exhausted: r.exhausted } : {}),
            }
          : {}),
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
    if (proved !== null) {
      const budget =
        r.exhausted === 'time'
          ? `the --time budget of ${opts.time} s`
          : `the budget of ${opts.schedules} schedule${opts.schedules === 1 ? '' : 's'}`;
      const line = proved_line(proved, opts.bound, r.exhausted, budget);
      if (line) console.log(line);
    }
  }
  if (pct !== null && !opts.json)
    console.log(
      dim(
        `PCT depth ${opts.depth}: each schedule finds a bug of depth ${opts.depth} with probability >= ${pct.toExponential(2)} (1/(n k^(d-1)), n = ${explorer.exec.nr_tasks} tasks, k = the longest schedule's choices)`,
      ),
    );
  return bug ? EXIT_BUG : EXIT_OK;
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

/** How long a random walk's failure may be re-searched for fewer preemptions. */
export const MINIMIZE_MS = 3000;

export interface CatalogueOpts {
  catalogue?: boolean;
  seeds?: number;
  stress?: number;
}

/*
 * Each seed variant natively, for comparison: half the time on mm-stress
 * (everything at once, for as long as it runs), half on the catalogue's
 * own scenario run again and again, each run on fresh worker threads.
 * Natively there is no KASAN: a bug shows only by what it breaks.
 */
export async function stress_comparison(seconds_each: number, progress: (what: string) => void) {
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

export async function cmd_catalogue(opts: CheckOpts & CatalogueOpts): Promise<number> {
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
