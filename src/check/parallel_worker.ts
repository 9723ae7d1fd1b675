/*
 * One part of a parallel exploration, on its worker thread. A scenario
 * made from text is made again here by its module (imported by `imp`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Scenario } from '../runtime/scenario.js';
import { find_scenario } from '../scenarios/index.js';
import { run_shard_of, type ShardJob } from './parallel.js';

type FromSource = { scenario_from_source(text: string): Scenario };

export async function explore_main(imp: (url: string) => Promise<FromSource>): Promise<void> {
  const job = workerData as ShardJob;
  const s = job.source
    ? (await imp(job.source.module)).scenario_from_source(job.source.text)
    : find_scenario(job.scenario);
  parentPort!.postMessage({ type: 'done', result: run_shard_of(s, job) });
}
