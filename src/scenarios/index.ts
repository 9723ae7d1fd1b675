/*
 * Every scenario mmlab knows, by name.
 */
import type { Scenario } from '../runtime/scenario.js';
import { scenario as detach_vs_reader } from './races/detach_vs_reader.js';
import { scenario as fault_vs_fork } from './races/fault_vs_fork.js';
import { scenario as fault_vs_mremap } from './races/fault_vs_mremap.js';
import { scenario as fault_vs_munmap } from './races/fault_vs_munmap.js';
import { scenario as gup_fast_vs_fork } from './races/gup_fast_vs_fork.js';
import { scenario as lock_selftest } from './races/lock_selftest.js';
import { scenario as lookup_retry } from './races/lookup_retry.js';
import { scenario as maps_race } from './races/maps_race.js';
import { scenario as mm_stress } from './races/mm_stress.js';
import { scenario as range_merge_split } from './races/range_merge_split.js';
import { scenario as readers_vs_writer } from './races/readers_vs_writer.js';
import { scenario as recycle_exit } from './races/recycle_exit.js';
import { scenario as stack_expand } from './races/stack_expand.js';
import { scenario as vma_lock_order } from './races/vma_lock_order.js';
import { scenario as vma_races } from './races/vma_races.js';
import { scenario as vma_recycle } from './races/vma_recycle.js';
// fault-vs-mprotect is a benchmark workload too: one scenario serves both.
import { scenario as fault_vs_mprotect } from './workloads/fault_vs_mprotect.js';

export const SCENARIOS: ReadonlyMap<string, Scenario> = new Map<string, Scenario>(
  [
    lock_selftest as Scenario,
    mm_stress as Scenario,
    fault_vs_mprotect as Scenario,
    fault_vs_munmap as Scenario,
    vma_races as Scenario,
    gup_fast_vs_fork as Scenario,
    vma_recycle as Scenario,
    range_merge_split as Scenario,
    fault_vs_mremap as Scenario,
    fault_vs_fork as Scenario,
    readers_vs_writer as Scenario,
    detach_vs_reader as Scenario,
    // The historical variants' scenarios.
    stack_expand as Scenario,
    recycle_exit as Scenario,
    lookup_retry as Scenario,
    vma_lock_order as Scenario,
    maps_race as Scenario,
  ].map((s) => [s.name, s]),
);

export function find_scenario(name: string): Scenario {
  const s = SCENARIOS.get(name);
  if (!s)
    throw new Error(`unknown scenario '${name}' (known: ${[...SCENARIOS.keys()].join(', ')})`);
  return s;
}
