/*
 * A sweep: every workload × policy × CPU count on one executor, the way
 * the report and `npm run bench` measure them. Native points run one at
 * a time (a native run needs the cores to itself), timing points side by
 * side on every core (what they measure is simulated time).
 */
import { POLICIES } from '../kernel/mm/policy.js';
import { type CostProfile, PROFILES } from '../runtime/executors/timing_costs.js';
import type { ExecutorName } from '../scenarios/workload.js';
import { find_workload, WORKLOADS } from '../scenarios/workloads/index.js';
import { NATIVE_RUNS, run_native_points } from './bench.js';
import type { Progress } from './progress.js';
import type { BenchResult } from './result.js';
import { run_timing_points } from './timing_pool.js';

/** A workload, a policy and a CPU count, by name. */
export interface SweepPoint {
  readonly workload: string;
  readonly policy: string;
  readonly cpus: number;
}

/** Every workload (of `workloads`, default all) × policy × CPU count, in that order. */
export function sweep_points(
  cpus: readonly number[],
  workloads: readonly string[] = [...WORKLOADS.keys()],
): SweepPoint[] {
  const points: SweepPoint[] = [];
  for (const workload of workloads)
    for (const policy of POLICIES) for (const n of cpus) points.push({ workload, policy, cpus: n });
  return points;
}

/** A point as a progress bar names it. */
export const point_label = (p: SweepPoint): string => `${p.workload} ${p.policy} ${p.cpus}`;

/** Every workload (of `workloads`, default all) × policy × CPU count on one executor, one bar for all of them. */
export async function sweep(
  progress: Progress,
  title: string,
  executor: ExecutorName,
  cpus: readonly number[],
  profile?: CostProfile,
  workloads?: readonly string[],
): Promise<BenchResult[]> {
  const points = sweep_points(cpus, workloads);
  if (executor === 'timing') {
    // Simulated time: the points run side by side on every core, figures unchanged.
    const bar = progress.step(title, points.length);
    const out = await run_timing_points(
      points.map((p) => ({ ...p, profile: profile ?? PROFILES.hw })),
      (p) => bar.tick(point_label(p)),
    );
    bar.done();
    return out;
  }
  // Natively one run at a time (a run needs the cores to itself), a pool's
  // points measured together in rounds, its most CPUs first (bench.ts).
  const bar = progress.step(title, points.length * (NATIVE_RUNS + 1));
  const out = await run_native_points(
    points.map((p) => ({ ...p, workload: find_workload(p.workload), executor })),
    (p, round) =>
      bar.tick(
        `${point_label({ ...p, workload: p.workload.name })} ${round === null ? 'warm-up' : `run ${round + 1} of ${NATIVE_RUNS}`}`,
      ),
  );
  bar.done();
  return out;
}
