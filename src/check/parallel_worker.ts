/*
 * One part of a parallel exploration, on its worker thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { run_shard, type ShardJob } from './parallel.js';

export function explore_main(): void {
  parentPort!.postMessage({ type: 'done', result: run_shard(workerData as ShardJob) });
}
