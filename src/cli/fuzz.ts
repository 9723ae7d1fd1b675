/*
 * mmlab fuzz: random concurrent scripts under the explorer, each new bug
 * minimized and printed as a script to edit and explore again.
 */
import { spawn } from 'node:child_process';
import { CATALOGUE } from '../check/catalogue.js';
import { type Shard, WHOLE } from '../check/dfs.js';
import { merge_fuzz_parts, type PartDocument } from '../check/merge.js';
import { shard_name } from '../check/parallel.js';
import { DEFAULT_POLICY } from '../kernel/mm/policy.js';
import { type FuzzBug, type FuzzProgress, type FuzzResult, fuzz } from '../oracle/fuzz.js';
import { bug_line, plural, seconds } from './common.js';
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

/* The progress line, rewritten in place on a terminal (--jobs: only the time, the jobs run apart). */
function progress_line(t0: number): (p: FuzzProgress & { jobs?: number }) => void {
  return (p) => {
    if (!process.stderr.isTTY) return;
    const time = seconds(performance.now() - t0);
    const what = p.jobs
      ? `fuzz: ${p.jobs} jobs, ${time}`
      : `fuzz: ${plural(p.programs, 'program')}, ${p.schedules} schedules, ${plural(p.bugs, 'distinct bug')}, ${time}`;
    const now = p.minimizing ? `${what}; minimizing ${p.minimizing}` : what;
    process.stderr.write(`\r\x1b[K${now.slice(0, (process.stderr.columns || 80) - 1)}`);
  };
}

export async function cmd_fuzz(opts: FuzzOpts): Promise<number> {
  if (opts.variant !== undefined && !fuzz_variants().includes(opts.variant))
    throw new UsageError(
      `--variant: unknown variant '${opts.variant}' (known: ${fuzz_variants().join(', ')})`,
    );
  const run = run_of(opts);
  const time_s = opts.time ?? (opts.programs === undefined ? DEFAULT_FUZZ_TIME_S : undefined);
  const t0 = performance.now();
  const r =
    opts.jobs > 1
      ? await fuzz_in_jobs(opts, run.policies, time_s, t0)
      : await fuzz({
          cpus: opts.cpus,
          policies: run.policies,
          variant: opts.variant ?? '',
          seed: opts.seed,
          ...(opts.programs === undefined ? {} : { programs: opts.programs }),
          ...(time_s === undefined ? {} : { time_ms: time_s * 1000 }),
          shard: opts.shard ?? WHOLE,
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
  return fuzz_status(bugs);
}

/** A campaign's exit status: a bug, unless every one it met was triaged as Linux's own. */
export function fuzz_status(bugs: readonly FuzzBug[]): number {
  return bugs.some((b) => b.triaged === undefined) ? EXIT_BUG : EXIT_OK;
}

/* One child `mmlab fuzz ARGS --json`: its document, or an Error with its first line of stderr. */
function child(args: readonly string[]): Promise<PartDocument> {
  const source = `mmlab fuzz ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'fuzz', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('error', reject);
    p.on('close', (code) => {
      if (code === EXIT_OK || code === EXIT_BUG) resolve({ source, doc: JSON.parse(out) });
      else reject(new Error(`${source}: exit ${code}: ${err.split('\n')[0]}`));
    });
  });
}

/*
 * --jobs J: this shard (I/N) of the campaign as J processes side by side,
 * process j running shard I + N*j of N*J (program k runs where k mod N*J
 * says, so that k mod N = I still), merged as mmlab merge merges them: the
 * same programs, schedules and bugs as one process.
 */
async function fuzz_in_jobs(
  opts: FuzzOpts,
  policies: readonly string[],
  time_s: number | undefined,
  t0: number,
): Promise<FuzzResult> {
  const outer = opts.shard ?? WHOLE;
  const args = [
    ...['--cpus', String(opts.cpus), '--policy', policies.join(','), '--seed', String(opts.seed)],
    ...(opts.variant === undefined ? [] : ['--variant', opts.variant]),
    ...(opts.programs === undefined ? [] : ['--programs', String(opts.programs)]),
    ...(time_s === undefined ? [] : ['--time', String(time_s)]),
  ];
  const tick = setInterval(
    () => progress_line(t0)({ programs: 0, schedules: 0, bugs: 0, jobs: opts.jobs }),
    1000,
  );
  try {
    const docs = await Promise.all(
      Array.from({ length: opts.jobs }, (_, j) =>
        child([
          ...args,
          '--shard',
          `${outer.index + outer.count * j}/${outer.count * opts.jobs}`,
          '--json',
        ]),
      ),
    );
    const m = merge_fuzz_parts(docs);
    return {
      programs: m.programs,
      schedules: m.schedules,
      bugs: m.bugs,
      elapsed_ms: performance.now() - t0,
      minimize_ms: m.minimize_ms,
    };
  } finally {
    clearInterval(tick);
  }
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
  const fresh = r.bugs.filter((b) => b.triaged === undefined);
  for (const b of fresh) {
    console.log(bug_line(b.class, b.message));
    console.log(
      dim(
        `program ${b.program} (seed ${run.seed}, ${b.policy}): ${b.found_commands} commands, minimized to ${b.commands}, ${plural(b.preemptions, 'preemption')}; signature ${b.signature}`,
      ),
    );
    console.log(
      `the script (save it as FILE and explore it again: mmlab check --script FILE ${b.check}):`,
    );
    console.log(b.script.replace(/^/gm, '    ').trimEnd());
    console.log(`replay: ${bold(`mmlab replay ${b.replay}`)}`);
    console.log('');
  }
  const known = r.bugs.filter((b) => b.triaged !== undefined);
  for (const b of known) {
    console.log(
      `known: ${b.signature} (program ${b.program}, ${b.policy}): Linux's own, triaged benign in ${b.triaged}`,
    );
    console.log(dim(`  replay: mmlab replay ${b.replay}`));
  }
  if (known.length > 0) console.log('');
  const n = fresh.length;
  const also = known.length > 0 ? ` (and ${known.length} known)` : '';
  const found = n === 0 ? green(`no bugs${also}`) : bold(`${plural(n, 'distinct bug')}${also}`);
  console.log(
    `${found}: ${plural(r.programs, 'program')}, ${r.schedules} schedules in ${seconds(r.elapsed_ms)} [seed ${run.seed}, ${run.cpus} CPUs, ${run.policies.join(',')}${run.variant ? `, --variant ${run.variant}` : ''}]`,
  );
}
