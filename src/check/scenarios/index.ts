/*
 * Every scenario mmlab knows, by name.
 */
import type { Scenario } from '../../runtime/scenario.js';
import { scenario as fault_vs_mprotect } from './fault_vs_mprotect.js';
import { scenario as fault_vs_munmap } from './fault_vs_munmap.js';
import { scenario as lock_selftest } from './lock_selftest.js';
import { scenario as mm_stress } from './mm_stress.js';
import { scenario as vma_races } from './vma_races.js';

export const SCENARIOS: ReadonlyMap<string, Scenario> = new Map<string, Scenario>(
  [
    lock_selftest as Scenario,
    mm_stress as Scenario,
    fault_vs_mprotect as Scenario,
    fault_vs_munmap as Scenario,
    vma_races as Scenario,
  ].map((s) => [s.name, s]),
);

export function find_scenario(name: string): Scenario {
  const s = SCENARIOS.get(name);
  if (!s)
    throw new Error(`unknown scenario '${name}' (known: ${[...SCENARIOS.keys()].join(', ')})`);
  return s;
}
