/*
 * TEMPORARY: stands in for wt-script's check_script (the outcome check
 * left out) until that branch has it; deleted then.
 */
import { make_config } from '../check/kernel.js';
import { type CheckOptions, type CheckOutcome, check_scenario } from '../check/search.js';
import type { ConcurrentScript } from '../script/ast.js';
import { script_scenario } from '../script/scenario.js';

export function check_script(
  s: ConcurrentScript,
  cfg: { policy: string; variant: string },
  o: CheckOptions,
): Promise<CheckOutcome> {
  const sc = script_scenario(s);
  return check_scenario(sc, make_config(sc, { policy: cfg.policy, variant: cfg.variant }), o);
}
