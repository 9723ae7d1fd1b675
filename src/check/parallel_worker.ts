/*
 * One part of a parallel exploration, on its worker thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { run_shard, type ShardJob } from './parallel.js';

export function explore_main(): void {
  const { job, abort } = workerData as { job: ShardJob; abort: SharedArrayBuffer };
  parentPort!.postMessage({ type: 'done', result: run_shard(job, new Int32Array(abort)) });
}
