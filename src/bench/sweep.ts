/*
 * A sweep: every workload × policy × CPU count on one executor, the way
 * the report and `npm run bench` measure them. Native points run one at
 * a time (a native run needs the cores to itself), timing points side by
 * side on every core (what they measure is simulated time).
 */
import { POLICIES } from '../kernel/mm/policy.js';
import type { Progress } from '../report/progress.js';
import { type CostProfile, PROFILES } from '../runtime/executors/timing_costs.js';
import { release_native_pool, run_bench } from './bench.js';
import type { BenchResult } from './result.js';
import { run_timing_points } from './timing_pool.js';
import type { ExecutorName } from './workload.js';
import { find_workload, WORKLOADS } from './workloads/index.js';

/** A workload, a policy and a CPU count, by name. */
export interface SweepPoint {
  readonly workload: string;
  readonly policy: string;
  readonly cpus: number;
}

/** Every workload × policy × CPU count, in that order. */
export function sweep_points(cpus: readonly number[]): SweepPoint[] {
  const points: SweepPoint[] = [];
  for (const workload of WORKLOADS.keys())
    for (const policy of POLICIES) for (const n of cpus) points.push({ workload, policy, cpus: n });
  return points;
}

/** A point as a progress bar names it. */
export const point_label = (p: SweepPoint): string => `${p.workload} ${p.policy} ${p.cpus}`;

/** Every workload × policy × CPU count on one executor, one bar for all of them. */
export async function sweep(
  progress: Progress,
  title: string,
  executor: ExecutorName,
  cpus: readonly number[],
  profile?: CostProfile,
): Promise<BenchResult[]> {
  const points = sweep_points(cpus);
  const bar = progress.step(title, points.length);
  let out: BenchResult[] = [];
  if (executor === 'timing') {
    // Simulated time: the points run side by side on every core, figures unchanged.
    out = await run_timing_points(
      points.map((p) => ({ ...p, profile: profile ?? PROFILES.hw })),
      (p) => bar.tick(point_label(p)),
    );
  } else {
    // One at a time: a native run needs the cores to itself. Each workload
    // and policy from its most CPUs down, so that its first point warms
    // every worker its later points run on (bench.ts, WORKER_WARM_RUNS).
    const by_point = new Array<BenchResult>(points.length);
    for (const i of descending_cpus(points)) {
      const p = points[i]!;
      bar.tick(point_label(p));
      by_point[i] = await run_bench({ ...p, workload: find_workload(p.workload), executor });
    }
    out = by_point;
    await release_native_pool();
  }
  bar.done();
  return out;
}

/* The indices of `points`, each workload and policy's kept together, its most CPUs first. */
function descending_cpus(
  points: readonly { workload: string; policy: string; cpus: number }[],
): number[] {
  const group = (i: number) => `${points[i]!.workload} ${points[i]!.policy}`;
  const first = new Map<string, number>();
  points.forEach((_, i) => {
    if (!first.has(group(i))) first.set(group(i), i);
  });
  return points
    .map((_, i) => i)
    .sort(
      (a, b) => first.get(group(a))! - first.get(group(b))! || points[b]!.cpus - points[a]!.cpus,
    );
}
