/* One worker of timing_pool.ts: its points in turn, each result as it comes. */
import { parentPort, workerData } from 'node:worker_threads';
import { find_workload } from '../scenarios/workloads/index.js';
import { BenchError, run_bench } from './bench.js';
import type { PoolMessage, TimingPoint } from './timing_pool.js';

export async function pool_main(): Promise<void> {
  const post = (m: PoolMessage) => parentPort!.postMessage(m);
  try {
    for (const { p, index } of workerData as { p: TimingPoint; index: number }[]) {
      const result = await run_bench({
        workload: find_workload(p.workload),
        policy: p.policy,
        executor: 'timing',
        cpus: p.cpus,
        profile: p.profile,
      });
      post({ type: 'result', index, result });
    }
    post({ type: 'done' });
  } catch (e) {
    const err = e as Error;
    const bug_class = e instanceof BenchError ? e.bug_class : null;
    post({ type: 'bug', bug_class, message: err.message, stack: err.stack ?? '' });
  }
}
