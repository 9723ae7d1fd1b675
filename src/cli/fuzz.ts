/*
 * mmlab fuzz: random concurrent scripts under the explorer, each new bug
 * minimized and printed as a script to edit and explore again.
 */
import { CATALOGUE } from '../check/catalogue.js';
import { type Shard, WHOLE } from '../check/dfs.js';
import { shard_name } from '../check/parallel.js';
import { DEFAULT_POLICY } from '../kernel/mm/policy.js';
import { type FuzzBug, type FuzzProgress, fuzz } from '../oracle/fuzz.js';
import { bug_line, seconds } from './common.js';
import { bold, dim, green } from './style.js';
import { EXIT_BUG, EXIT_OK, UsageError } from './usage.js';

export interface FuzzOpts {
  cpus: number;
  policy?: string[];
  variant?: string;
  time?: number;
  programs?: number;
  seed: number;
  jobs: number;
  shard?: Shard;
  json?: boolean;
}

/** The campaign's length when neither --time nor --programs bounds it. */
export const DEFAULT_FUZZ_TIME_S = 60;

/** The variants --variant takes: the catalogue's, each a historical or seed bug put back. */
export function fuzz_variants(): string[] {
  return [...new Set(CATALOGUE.map((c) => c.variant))];
}

/** What the run is, as the summary line and the JSON say it. */
function run_of(opts: FuzzOpts) {
  return {
    seed: opts.seed,
    cpus: opts.cpus,
    policies: opts.policy ?? [DEFAULT_POLICY],
    variant: opts.variant ?? null,
    programs_budget: opts.programs ?? null,
    shard: shard_name(opts.shard ?? WHOLE),
  };
}

/* The progress line, rewritten in place on a terminal. */
function progress_line(t0: number): (p: FuzzProgress) => void {
  return (p) => {
    if (!process.stderr.isTTY) return;
    const what = `fuzz: ${plural(p.programs, 'program')}, ${p.schedules} schedules, ${p.bugs} distinct bug${p.bugs === 1 ? '' : 's'}, ${seconds(performance.now() - t0)}`;
    const now = p.minimizing ? `${what}; minimizing ${p.minimizing}` : what;
    process.stderr.write(`\r\x1b[K${now.slice(0, (process.stderr.columns || 80) - 1)}`);
  };
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export async function cmd_fuzz(opts: FuzzOpts): Promise<number> {
  if (opts.variant !== undefined && !fuzz_variants().includes(opts.variant))
    throw new UsageError(
      `--variant: unknown variant '${opts.variant}' (known: ${fuzz_variants().join(', ')})`,
    );
  const run = run_of(opts);
  const time_s = opts.time ?? (opts.programs === undefined ? DEFAULT_FUZZ_TIME_S : undefined);
  const t0 = performance.now();
  const r = await fuzz({
    cpus: opts.cpus,
    policies: run.policies,
    variant: opts.variant ?? '',
    seed: opts.seed,
    ...(opts.programs === undefined ? {} : { programs: opts.programs }),
    ...(time_s === undefined ? {} : { time_ms: time_s * 1000 }),
    shard: opts.shard ?? WHOLE,
    jobs: opts.jobs,
    progress: progress_line(t0),
  });
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  const { programs, schedules, bugs } = r;
  if (opts.json)
    console.log(
      JSON.stringify({
        programs,
        schedules,
        bugs,
        ...run,
        elapsed_ms: Math.round(r.elapsed_ms),
        minimize_ms: Math.round(r.minimize_ms),
      }),
    );
  else print_fuzz({ programs, schedules, bugs, elapsed_ms: r.elapsed_ms }, run);
  return bugs.length > 0 ? EXIT_BUG : EXIT_OK;
}

/** A run as the summary line names it. */
export interface FuzzRun {
  readonly seed: number;
  readonly cpus: number;
  readonly policies: readonly string[];
  readonly variant: string | null;
}

/** Each bug with its script and replay string, then one line for the campaign. */
export function print_fuzz(
  r: {
    readonly programs: number;
    readonly schedules: number;
    readonly bugs: readonly FuzzBug[];
    readonly elapsed_ms: number;
  },
  run: FuzzRun,
): void {
  for (const b of r.bugs) {
    console.log(bug_line(b.class, b.message));
    console.log(
      dim(
        `program ${b.program} (seed ${run.seed}, ${b.policy}): ${b.found_commands} commands, minimized to ${b.commands}, ${b.preemptions} preemptions; signature ${b.signature}`,
      ),
    );
    console.log(
      `the script (save it as FILE and explore it again: mmlab check --script FILE ${b.check}):`,
    );
    console.log(b.script.replace(/^/gm, '    ').trimEnd());
    console.log(`replay: ${bold(`mmlab replay ${b.replay}`)}`);
    console.log('');
  }
  const n = r.bugs.length;
  const found = n === 0 ? green('no bugs') : bold(`${n} distinct bug${n === 1 ? '' : 's'}`);
  console.log(
    `${found}: ${plural(r.programs, 'program')}, ${r.schedules} schedules in ${seconds(r.elapsed_ms)} [seed ${run.seed}, ${run.cpus} CPUs, ${run.policies.join(',')}${run.variant ? `, --variant ${run.variant}` : ''}]`,
  );
}
