/*
 * What several commands share: their common options, the run a result
 * describes, a bug as the terminal and JSON show it, tables, and the
 * files a command writes (checked before any work, written whole after).
 */

import {
  closeSync,
  existsSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import type { BugReport, Explorer } from '../check/explorer.js';
import { make_config } from '../check/kernel.js';
import type { ReplayRecord } from '../check/replay.js';
import { DEFAULT_POLICY, POLICIES } from '../kernel/mm/policy.js';
import { timeline_html } from '../report/timeline_html.js';
import type { RunConfig, Scenario } from '../runtime/scenario.js';
import { find_scenario } from '../scenarios/index.js';
import { bold, red } from './style.js';
import { as_usage, fs_why, UsageError } from './usage.js';

export function seconds_arg(name: string) {
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
export const policy_option = () =>
  new Option('--policy <name>', 'address-space locking design')
    .choices(POLICIES)
    .default(DEFAULT_POLICY);
export const variant_option = () => new Option('--variant <name>', 're-introduce a historical bug');
export const param_option = () =>
  new Option('--param <key=value>', 'set a scenario parameter (repeatable)')
    .default({})
    .argParser(param_arg);

export function config_for(
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

export function scenario_arg(name: string): Scenario {
  return as_usage(() => find_scenario(name));
}

/** The first line of every bug report on the terminal. */
export function bug_line(cls: string, message: string): string {
  return `${red(bold(`BUG: ${cls}`))}: ${message}`;
}

/** Counters as one line: `name value, name value, ...`. */
export function counters_line(c: Readonly<Record<string, number>>): string {
  return Object.entries(c)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

export function print_bug(bug: BugReport, intro: string): void {
  console.log(bug_line(bug.class, bug.message));
  console.log(intro);
  console.log('');
  console.log(bug.table);
  console.log('');
  console.log(`replay: ${bold(`mmlab replay ${bug.replay}`)}`);
}

/** What every JSON result starts with: the run it describes. */
export function run_json(
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

export function bug_json(bug: BugReport | null): object | null {
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
/* One line of a table: cells padded to their column's width. */
export function table_row(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => c.padEnd(widths[i]!))
    .join('  ')
    .trimEnd();
}

/** mmlab check's --seed when none is given (the demo searches with it too). */
export const DEFAULT_CHECK_SEED = 1;

// Counted nouns read the same on the terminal as in the report.
export { plural } from '../report/format.js';

export function seconds(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/**
 * A file a command writes when its work is done: its path is checked
 * before any work starts (a probe file made and removed beside it), so
 * that a bad path costs nothing, and it is written whole (a temporary
 * renamed over it), so that no half-written or temporary file is left.
 */
export class OutputFile {
  private readonly tmp: string;

  constructor(
    readonly flag: string,
    readonly path: string,
  ) {
    this.tmp = `${path}.${process.pid}.tmp`;
    const dir = dirname(resolve(path));
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new UsageError(`${flag} ${path}: no directory ${dir}`);
    const there = existsSync(path) ? statSync(path) : null;
    if (there?.isDirectory()) throw new UsageError(`${flag} ${path}: a directory, not a file`);
    if (there && !there.isFile()) throw new UsageError(`${flag} ${path}: not a regular file`);
    this.attempt(() => closeSync(openSync(this.tmp, 'wx')));
    rmSync(this.tmp, { force: true });
  }

  write(content: string): void {
    this.attempt(() => {
      writeFileSync(this.tmp, content);
      renameSync(this.tmp, this.path);
    });
  }

  /* f(), with a failure to write turned into one line of bad usage and no temporary left. */
  private attempt(f: () => void): void {
    try {
      f();
    } catch (e) {
      rmSync(this.tmp, { force: true });
      throw new UsageError(`${this.flag} ${this.path}: cannot write: ${fs_why(e)}`);
    }
  }
}

/** The timeline page of a replay string's schedule as one HTML page. */
export function write_timeline(
  out: OutputFile,
  explorer: Explorer,
  bug: BugReport | null,
  rec: Pick<ReplayRecord, 'choices' | 'past_triaged'>,
  title: string,
): void {
  const { trace } = explorer.trace(rec.choices, undefined, rec.past_triaged ?? false);
  out.write(timeline_html(explorer, trace, bug, title));
}
