/*
 * Every benchmark workload mmlab knows, by name, in the order reports
 * list them: the fault scalability tests first (pft, will-it-scale's
 * page_fault1/2/3), then the write side (mmap-churn), then the two
 * interference cases (a writer, a forker).
 */
import type { Workload } from '../workload.js';
import { workload as fault_vs_mprotect } from './fault_vs_mprotect.js';
import { workload as fork_gup } from './fork_gup.js';
import { workload as mmap_churn } from './mmap_churn.js';
import { workload as page_fault1 } from './page_fault1.js';
import { workload as page_fault2 } from './page_fault2.js';
import { workload as page_fault3 } from './page_fault3.js';
import { workload as pft } from './pft.js';

export const WORKLOADS: ReadonlyMap<string, Workload> = new Map<string, Workload>(
  [pft, page_fault1, page_fault2, page_fault3, mmap_churn, fault_vs_mprotect, fork_gup].map((w) => [
    w.name,
    w,
  ]),
);

export function find_workload(name: string): Workload {
  const w = WORKLOADS.get(name);
  if (!w)
    throw new Error(`unknown workload '${name}' (known: ${[...WORKLOADS.keys()].join(', ')})`);
  return w;
}
