#!/usr/bin/env -S node --single-threaded-gc
import { availableParallelism } from 'node:os';
/*
 * mmlab's command line. Exit status: 0 success / no bug, 1 bug found or
 * mismatch, 2 bad usage or bad input (one line on stderr naming it).
 * With --json, stdout carries one JSON document and nothing else.
 */
import { Command, CommanderError, Option } from 'commander';
import { SEARCH_STRATEGIES } from '../check/strategy.js';
import { SCENARIOS } from '../scenarios/index.js';
import { EXECUTORS } from '../scenarios/workload.js';
import { WORKLOADS } from '../scenarios/workloads/index.js';
import { type BenchOpts, cmd_bench, cpus_list, MAX_BENCH_CPUS, policy_list } from './bench.js';
import {
  BUG_CLASS_HELP,
  bug_class_arg,
  type CatalogueOpts,
  type CheckOpts,
  cmd_check,
  DEFAULT_SEEDS,
  shard_arg,
} from './check.js';
import {
  DEFAULT_CHECK_SEED,
  param_option,
  policy_option,
  seconds_arg,
  variant_option,
} from './common.js';
import { demo } from './demo.js';
import { cmd_diff } from './diff.js';
import { cmd_fuzz, DEFAULT_FUZZ_TIME_S, type FuzzOpts } from './fuzz.js';
import { cmd_list } from './list.js';
import { cmd_merge } from './merge.js';
import { cmd_replay } from './replay.js';
import { cmd_report, DEFAULT_REPORT } from './report.js';
import { cmd_run, ZERO_PAGE_MODES } from './run.js';
import { cmd_stress } from './stress.js';
import { EXIT_OK, EXIT_USAGE, int_arg, one_line, UsageError } from './usage.js';

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
    .option(
      '--script <file>',
      'explore a concurrent script (docs/scripts.md, "Concurrent scripts") instead of a scenario; - reads standard input',
    )
    .addOption(policy_option())
    .addOption(variant_option())
    .addOption(
      new Option('--strategy <name>', 'exploration strategy')
        .choices([...SEARCH_STRATEGIES, 'directed'])
        .default('random'),
    )
    .option(
      '--seed <n>',
      'seed of the strategy',
      int_arg('--seed', 0, 0xffffffff),
      DEFAULT_CHECK_SEED,
    )
    .option(
      '--schedules <n>',
      "schedules to run in all (with --jobs, shared among the jobs; with --shard, this part's own)",
      int_arg('--schedules', 1),
      10_000,
    )
    .option(
      '--depth <d>',
      'PCT, focus and word: the bug depth to aim at',
      int_arg('--depth', 1, 10),
      3,
    )
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
      `explore on N worker threads (this machine has ${availableParallelism()} CPUs): the search splits into N fixed parts (DFS subtrees, or every N-th schedule), each with an equal share of --schedules, each run to its first bug, its share or its bound without stopping the others; the bug kept has the fewest preemptions (the lowest part's on a tie), so the result and the schedule count are the same from run to run for a seed and N (with --time each part also stops at the deadline by its own clock, and the count may vary)`,
      int_arg('--jobs', 1, 256),
    )
    .option(
      '--keep-going',
      'go on past each bug: report every distinct bug the search meets (by class, kernel function and field), each with its replay string',
    )
    .option('--bug-class <class>', BUG_CLASS_HELP, bug_class_arg)
    .option(
      '--catalogue',
      'every seed and historical variant against its scenario, and each fixed kernel on the same budget',
    )
    .option(
      '--seeds <n>',
      `catalogue: searches a variant gets, each with its own random seed (default ${DEFAULT_SEEDS})`,
      int_arg('--seeds', 1, 1000),
    )
    .option(
      '--stress <sec>',
      'catalogue: also run each variant natively (mm-stress) this long',
      seconds_arg('--stress'),
    )
    .option(
      '--list',
      'list every scenario (or SCENARIO): its variants and parameters, each with its meaning',
    )
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      "\nEach scenario's variants and parameters, with their meaning: mmlab check --list (one: mmlab check SCENARIO --list)",
    )
    .action(
      (
        name: string | undefined,
        opts: CheckOpts & CatalogueOpts & { list?: boolean },
        cmd: Command,
      ) => {
        refuse_ignored_flags(cmd, opts);
        run(opts.list ? cmd_list(name, opts) : cmd_check(name, opts));
      },
    );

  program
    .command('fuzz')
    .description(
      'random concurrent scripts under the explorer; every new bug minimized and printed as a script (mmlab check --script) with its replay string',
    )
    .option(
      '--cpus <n>',
      'CPUs each program runs on (its cpu sections)',
      int_arg('--cpus', 2, 4),
      2,
    )
    .option(
      '--policy <list>',
      'policies, comma-separated: program k runs under the (k mod n)-th',
      policy_list,
    )
    .addOption(variant_option())
    .option(
      '--time <sec>',
      `stop starting programs after this many seconds (default ${DEFAULT_FUZZ_TIME_S} without --programs)`,
      seconds_arg('--time'),
    )
    .option(
      '--programs <n>',
      'run programs 0 to N-1 (with --shard, this part of them)',
      int_arg('--programs', 1),
    )
    .option(
      '--seed <n>',
      'seed of the campaign: program k is seeded from it and k',
      int_arg('--seed', 0, 0xffffffff),
      1,
    )
    .option(
      '--jobs <n>',
      'run the campaign as N processes side by side, each a shard of it, merged (the same programs, schedules and bugs as one)',
      int_arg('--jobs', 1, 256),
      1,
    )
    .option(
      '--shard <i/n>',
      'run the programs k with k mod N = I (merge the parts with mmlab merge)',
      shard_arg,
    )
    .option('--json', 'print one JSON document')
    .action((opts: FuzzOpts) => run(cmd_fuzz(opts)));

  program
    .command('merge')
    .description(
      'merge the JSON results of the parts of a run (mmlab check or mmlab fuzz --shard I/N --json)',
    )
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
    .option('--seconds <sec>', 'run until this many seconds have passed', seconds_arg('--seconds'))
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
    .description('run a script on the model and print its output (the language: docs/scripts.md)')
    .argument('<script>', 'script file, or - for standard input')
    .addOption(policy_option())
    .option('--json', 'print one JSON document')
    .option('--stats', 'print the per-VMA lock counters after the output')
    .addOption(
      new Option(
        '--zero-page <mode>',
        "a read fault maps the shared zero page (on, mainline), a page of its own (off), or as this machine's kernel does (auto)",
      )
        .choices(ZERO_PAGE_MODES)
        .default('on'),
    )
    .action((path: string, opts: Parameters<typeof cmd_run>[1]) => run(cmd_run(path, opts)));

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
    .option('--lines', 'timing: under each row, the cache lines CPUs waited for longest')
    .option('--json', 'print one JSON document')
    .action((name: string, opts: BenchOpts) => run(cmd_bench(name, opts)));

  program
    .command('report')
    .description(
      'the main job: bug catalogue, benchmarks and scaling curves in one self-contained HTML file',
    )
    .option('--out <file>', 'where to write it', DEFAULT_REPORT)
    .option(
      '--quick',
      'a short run to see the page (a minute or two): fault-vs-mprotect alone, one search a bug, 2 CPUs natively and 1 to 4 simulated',
    )
    .action((opts: { out?: string; quick?: boolean }) => run(cmd_report(opts)));

  program
    .command('demo')
    .description(
      'a short tour: the lock self-test explored, broken, replayed and run natively; scripts against this kernel; seed 000',
    )
    .action(() => run(demo()));

  return program;
}

/* What check --catalogue reads; any other flag given with it would be ignored. */
const CATALOGUE_FLAGS = ['--catalogue', '--seeds', '--schedules', '--time', '--stress', '--json'];

/*
 * A check flag the run would ignore is bad usage, not silence: --bound or
 * --depth given to a strategy that has none (a user reading "clean" as a
 * proof to that bound), a scenario's flags given to --catalogue, which
 * runs each variant its own way. Defaults are not what the user gave.
 */
function refuse_ignored_flags(cmd: Command, opts: { strategy: string; catalogue?: boolean }): void {
  const given = cmd.options
    .filter((o) => cmd.getOptionValueSource(o.attributeName()) === 'cli')
    .map((o) => o.long ?? '');
  if (opts.catalogue) {
    // --list with --catalogue is refused by cmd_list(), naming both.
    const ignored = given.filter((f) => !CATALOGUE_FLAGS.includes(f) && f !== '--list');
    if (ignored.length > 0)
      throw new UsageError(
        `${ignored.join(', ')} ${ignored.length === 1 ? 'does' : 'do'} not go with --catalogue, which runs each variant under its own scenario, policy and strategy (it takes ${CATALOGUE_FLAGS.slice(1).join(', ')})`,
      );
    return;
  }
  if (given.includes('--bound') && opts.strategy !== 'dfs')
    throw new UsageError('--bound goes with --strategy dfs');
  if (given.includes('--depth') && !['pct', 'focus', 'word'].includes(opts.strategy))
    throw new UsageError('--depth goes with --strategy pct, focus or word');
}

function fail(e: unknown, exit: (code: number) => void): void {
  // Commander turns the option parsers' InvalidArgumentError into a CommanderError,
  // which main() handles: only our own UsageError is bad usage here.
  if (e instanceof UsageError) {
    console.error(`mmlab: ${one_line(e.message)}`);
    exit(EXIT_USAGE);
    return;
  }
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  exit(EXIT_USAGE + 1);
}

/*
 * One of commander's error messages as one line of ours: a missing
 * argument named with its command ("replay needs its STRING argument"),
 * the "(Did you mean X?)" hint on the same line, and an invalid option
 * argument said once ("--cpus must be between 1 and 255, not 0"), not also wrapped in
 * "option '--cpus <n>' argument '0' is invalid.".
 */
function commander_line(message: string, command: string | undefined): string {
  const missing = /^error: missing required argument '(\w+)'$/.exec(message);
  if (missing !== null && command !== undefined)
    return `${command} needs its ${missing[1]!.toUpperCase()} argument (mmlab help ${command})`;
  const m = message
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (.*)\?\)$/, ' (did you mean $1?)');
  const invalid = /^option '(-[^ ,']+)[^']*' argument '(.*)' is invalid\. (.*)$/s.exec(m);
  if (invalid === null) return m;
  const [, flag = '', value = '', why = ''] = invalid;
  if (why.startsWith(flag)) return why;
  const choices = /^Allowed choices are (.*)\.$/.exec(why);
  return choices ? `${flag} must be one of ${choices[1]}, not '${value}'` : `${flag}: ${why}`;
}

export function main(argv: readonly string[], exit: (code: number) => void): void {
  const program = build_program(exit);
  // Bare `mmlab`: one line naming what is missing, not thirty lines of help on stderr.
  if (argv.length === 0) {
    console.error('mmlab: no command given (mmlab help lists the commands)');
    exit(EXIT_USAGE);
    return;
  }
  // `mmlab help NOSUCH`: one line, where commander would print the whole help on stderr.
  const asked = argv[0] === 'help' ? argv[1] : undefined;
  if (asked !== undefined && !program.commands.some((c) => c.name() === asked)) {
    console.error(`mmlab: unknown command '${one_line(asked)}' (mmlab help lists the commands)`);
    exit(EXIT_USAGE);
    return;
  }
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
      const command = program.commands.find((c) => c.name() === argv[0])?.name();
      console.error(`mmlab: ${one_line(commander_line(e.message, command))}`);
      exit(EXIT_USAGE);
      return;
    }
    fail(e, exit);
  }
}

main(process.argv.slice(2), (code) => {
  process.exitCode = code;
});
