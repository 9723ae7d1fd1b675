/*
 * Explore a concurrent script as `mmlab check --script` does (and `mmlab
 * fuzz` each program it makes): every sanitizer, validate_mm() where the
 * kernel calls it, and the outcome check against every serial order.
 */
import { make_config } from '../check/kernel.js';
import { type CheckOptions, type CheckOutcome, check_scenario } from '../check/search.js';
import type { ConcurrentScript } from './ast.js';
import { check_concurrent, print_concurrent } from './concurrent.js';
import { allowed_outcomes } from './linearizable.js';
import { script_scenario } from './scenario.js';

/**
 * Check `s` on one CPU a section under `cfg` as `o` says. Throws a
 * ScriptError for a script parse_concurrent() would refuse (check_concurrent()),
 * and an Error for an unknown policy or variant, before any work.
 */
export async function check_script(
  s: ConcurrentScript,
  cfg: { policy: string; variant: string },
  o: CheckOptions,
): Promise<CheckOutcome> {
  check_concurrent(s);
  const scenario = script_scenario(s);
  const run_cfg = make_config(scenario, { cpus: s.cpus.length, ...cfg });
  // The serial orders first: the explored runs' checks are then lookups.
  allowed_outcomes(s, print_concurrent(s), run_cfg);
  return check_scenario(scenario, run_cfg, o);
}
