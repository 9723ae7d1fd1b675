/*
 * Timing points on worker threads. A timing run is deterministic and
 * single-threaded, and what it measures is simulated time, so points can
 * run side by side on every core without changing a figure: the report's
 * sweeps (hundreds of points up to 256 CPUs) take a fraction of the time.
 * Native points never come here: they need the cores to themselves.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CostProfile } from '../runtime/executors/timing_costs.js';
import { sibling_url, worker_source } from '../runtime/worker_source.js';
import { BenchError } from './bench.js';
import type { BenchResult } from './result.js';

/**
 * A timing point as it crosses to a worker: the workload by name, the
 * profile whole (plain data), so that a calibration can run profiles of
 * its own.
 */
export interface TimingPoint {
  readonly workload: string;
  readonly policy: string;
  readonly cpus: number;
  readonly profile: CostProfile;
}

export type PoolMessage =
  | { type: 'result'; index: number; result: BenchResult }
  | { type: 'done' }
  | { type: 'bug'; bug_class: string | null; message: string; stack: string };

/**
 * Every point, `jobs` workers each taking every jobs-th; results in the
 * points' order. `tick` is told each point as its result arrives. The
 * first failure rejects with a BenchError (and stops the other workers).
 */
export async function run_timing_points(
  points: readonly TimingPoint[],
  tick: (p: TimingPoint) => void,
  jobs = availableParallelism(),
): Promise<BenchResult[]> {
  const out = new Array<BenchResult | undefined>(points.length);
  const code = worker_source(
    [sibling_url(import.meta.url, 'timing_pool_worker')],
    'pool_main',
    () => '',
  );
  const workers: Worker[] = [];
  const n = Math.max(1, Math.min(jobs, points.length));
  try {
    await Promise.all(
      Array.from({ length: n }, (_, k) => {
        const mine = points
          .map((p, index) => ({ p, index }))
          .filter(({ index }) => index % n === k);
        return new Promise<void>((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: mine });
          workers.push(w);
          w.on('message', (msg: PoolMessage) => {
            if (msg.type === 'bug') reject(new BenchError(msg.message, msg.bug_class));
            else if (msg.type === 'done') resolve();
            else {
              out[msg.index] = msg.result;
              tick(points[msg.index]!);
            }
          });
          w.on('error', reject);
          w.on('exit', (code) => {
            if (code !== 0) reject(new Error(`timing worker ${k} exited with ${code}`));
          });
        });
      }),
    );
  } finally {
    for (const w of workers) void w.terminate();
  }
  return out.map((r, i) => {
    if (!r) throw new Error(`timing point ${i} returned no result`);
    return r;
  });
}
