import { type CheckResult, Explorer } from '../src/check/explorer.js';
import { RandomWalk } from '../src/check/strategy.js';
import { make_config, type Scenario } from '../src/runtime/scenario.js';

/** Explore `schedules` random schedules of `s` with the given configuration. */
export function explore(
  s: Scenario,
  opts: { cpus?: number; variant?: string; params?: Record<string, number> } = {},
  schedules = 10_000,
  seed = 1,
): CheckResult {
  const ex = new Explorer(s, make_config(s, opts));
  return ex.check(new RandomWalk(seed, schedules));
}
