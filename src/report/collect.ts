/*
 * What `mmlab report` measures, in the order the page shows it: the bug
 * catalogue, every workload natively on this machine's cores (1, 2, ...),
 * the same points on the simulated multicore with the `js` profile (the
 * model checked against the machine), and the scaling curves from 1 to
 * 256 simulated CPUs with the `hw` profile. Each long step drives a
 * progress bar on stderr.
 */
import { availableParallelism, cpus as os_cpus } from 'node:os';
import { powers_of_two } from '../bench/bench.js';
import type { Progress } from '../bench/progress.js';
import { sweep } from '../bench/sweep.js';
import { run_timing_points } from '../bench/timing_pool.js';
import { CATALOGUE, type Catalogue, run_catalogue } from '../check/catalogue.js';
import { PROFILES, profile_constants } from '../runtime/executors/timing_costs.js';
import { WORKLOADS } from '../scenarios/workloads/index.js';
import { PFT_PUBLISHED_CPUS, PFT_REFCNT, PFT_RWSEM } from './pft_published.js';
import type { ReportData } from './section.js';

interface ReportOptions {
  /** Seeds per catalogue variant, and each search's time limit. */
  readonly catalogue_seeds: number;
  readonly catalogue_time_ms: number;
  /** Native CPU counts: powers of two up to this machine's cores. */
  readonly native_cpus: readonly number[];
  /** Simulated CPU counts of the scaling curves. */
  readonly scaling_cpus: readonly number[];
  /** The workloads measured, by name (absent: every workload). */
  readonly workloads?: readonly string[];
  /** A short run's budget, said at the top of the page (absent: the full run). */
  readonly short_run?: string;
}

export function default_report_options(): ReportOptions {
  return {
    catalogue_seeds: 2,
    catalogue_time_ms: 5000,
    native_cpus: powers_of_two(Math.min(availableParallelism(), 16)),
    scaling_cpus: powers_of_two(256),
  };
}

/*
 * mmlab report --quick: the page in a minute or two, to see what it shows.
 * Each point is measured as in the full run, but fewer of them: one workload that has every kind of chart (scaling
 * curves, latency, the p99 with the interfering CPU and alone, native
 * beside the model, the lock counters), one search a bug with 2 s searches
 * (seeds 000 and 002 take 0.3 to 0.7 s on 2 shared cores), 2 CPUs
 * natively, 1 to 4 simulated.
 */
export function quick_report_options(): ReportOptions {
  return {
    catalogue_seeds: 1,
    catalogue_time_ms: 2000,
    native_cpus: [2],
    scaling_cpus: [1, 2, 4],
    workloads: ['fault-vs-mprotect'],
    short_run:
      'a quick run (mmlab report --quick): fault-vs-mprotect alone, one search a bug, 2 CPUs natively and 1 to 4 simulated; mmlab report measures every workload',
  };
}

function machine(): string {
  const model = os_cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${availableParallelism()} CPUs (${model}), Node ${process.version}`;
}

export async function collect_report(opts: ReportOptions, progress: Progress): Promise<ReportData> {
  const durations_ms: Record<string, number> = {};
  const timed = async <T>(part: string, f: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    durations_ms[part] = performance.now() - t0;
    return r;
  };

  const catalogue = await timed('catalogue', (): Catalogue => {
    // Each variant: a search per seed, then the fixed kernel's.
    const bar = progress.step(
      'bug catalogue (DFS, each seed variant)',
      CATALOGUE.length * (opts.catalogue_seeds + 1),
    );
    const c = run_catalogue({
      seeds: opts.catalogue_seeds,
      schedules: 10_000,
      time_ms: opts.catalogue_time_ms,
      progress: (what) => bar.tick(what),
    });
    bar.done();
    return c;
  });
  const native = await timed('native', () =>
    sweep(
      progress,
      'native runs on this machine',
      'native',
      opts.native_cpus,
      undefined,
      opts.workloads,
    ),
  );
  const timing_js = await timed('timing-js', () =>
    sweep(
      progress,
      'timing model, js profile',
      'timing',
      opts.native_cpus,
      PROFILES.js,
      opts.workloads,
    ),
  );
  const scaling = await timed('scaling', async () => [
    ...(await sweep(
      progress,
      'scaling, hw profile',
      'timing',
      opts.scaling_cpus,
      PROFILES.hw,
      opts.workloads,
    )),
    ...(opts.workloads === undefined || opts.workloads.includes('pft')
      ? await pft_at_published_cpus(progress, opts.scaling_cpus)
      : []),
  ]);
  return {
    generated: new Date().toISOString(),
    machine: machine(),
    catalogue,
    native,
    timing_js,
    scaling,
    workloads: [...WORKLOADS.values()]
      .filter((w) => opts.workloads?.includes(w.name) ?? true)
      .map((w) => ({
        name: w.name,
        description: w.description,
        op: w.op,
        ...(w.interferer_op ? { interferer_op: w.interferer_op } : {}),
      })),
    profiles: Object.values(PROFILES).map((p) => ({
      name: p.name,
      constants: profile_constants(p),
      ...(p.step_weights ? { step_weights: p.step_weights } : {}),
      ...(p.host_speed === undefined ? {} : { host_speed: p.host_speed }),
    })),
    durations_ms,
    ...(opts.short_run === undefined ? {} : { short_run: opts.short_run }),
  };
}

/*
 * pft under the two policies the published measurement compares, at its
 * CPU counts that the scaling curves lack: the points its targets are
 * checked at (pft_published.ts).
 */
async function pft_at_published_cpus(progress: Progress, have: readonly number[]) {
  const points = [PFT_RWSEM, PFT_REFCNT].flatMap((policy) =>
    PFT_PUBLISHED_CPUS.filter((n) => !have.includes(n)).map((cpus) => ({
      workload: 'pft',
      policy,
      cpus,
      profile: PROFILES.hw,
    })),
  );
  const bar = progress.step('pft at the published CPU counts, hw profile', points.length);
  const out = await run_timing_points(points, (p) => bar.tick(`pft ${p.policy} ${p.cpus}`));
  bar.done();
  return out;
}
