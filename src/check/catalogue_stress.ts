/*
 * The catalogue as `mmlab check --catalogue` runs it: the explorer's
 * searches, then, for comparison, each seed variant natively. Natively
 * there is no KASAN and no schedule control: a bug shows only by what it
 * breaks, if the threads happen to interleave so.
 */

import { find_scenario } from '../scenarios/index.js';
import { CATALOGUE, type Catalogue, type CatalogueOptions, run_catalogue } from './catalogue.js';
import { make_config, run_native } from './kernel.js';

/** One seed variant run natively: on mm-stress, then on its catalogue scenario. */
export interface StressComparison {
  readonly variant: string;
  readonly policy: string;
  readonly stress_found: boolean;
  readonly stress_class: string | null;
  readonly stress_ms: number;
  readonly stress_steps: number;
  readonly scenario: string;
  /** Runs of the scenario, each on fresh worker threads, until a bug or the time. */
  readonly scenario_runs: number;
  readonly scenario_found: boolean;
  readonly scenario_class: string | null;
  readonly scenario_ms: number;
}

/*
 * Each seed variant natively: half of `seconds_each` on mm-stress
 * (everything at once, for as long as it runs), half on the catalogue's
 * own scenario run again and again.
 */
async function stress_comparison(
  seconds_each: number,
  progress?: (what: string) => void,
): Promise<StressComparison[]> {
  const stress = find_scenario('mm-stress');
  const out: StressComparison[] = [];
  for (const c of CATALOGUE) {
    progress?.(`${c.variant}: mm-stress natively for ${seconds_each / 2} s`);
    const cfg = make_config(stress, { policy: c.policy, variant: c.variant, params: { iters: 0 } });
    const r = await run_native(stress, cfg, { seconds: seconds_each / 2 });
    const s = find_scenario(c.scenario);
    const race_cfg = make_config(s, { policy: c.policy, variant: c.variant, params: c.params });
    progress?.(`${c.variant}: ${c.scenario} natively for ${seconds_each / 2} s`);
    const t0 = performance.now();
    let runs = 0;
    let race_bug: string | null = null;
    while (race_bug === null && performance.now() - t0 < (seconds_each / 2) * 1000) {
      const one = await run_native(s, race_cfg, { watchdog_ms: 2000 });
      runs++;
      race_bug = one.bug?.class ?? null;
    }
    out.push({
      variant: c.variant,
      policy: c.policy,
      stress_found: r.bug !== null,
      stress_class: r.bug?.class ?? null,
      stress_ms: Math.round(r.elapsed_ms),
      stress_steps: r.steps.reduce((a, b) => a + b, 0),
      scenario: c.scenario,
      scenario_runs: runs,
      scenario_found: race_bug !== null,
      scenario_class: race_bug,
      scenario_ms: Math.round(performance.now() - t0),
    });
  }
  return out;
}

export interface CatalogueCheck {
  readonly catalogue: Catalogue;
  /** With `stress_s`: each variant natively, that many seconds. */
  readonly stress: readonly StressComparison[] | null;
  /** Every seed found in every seed's search, and every fixed kernel clean. */
  readonly passed: boolean;
}

export async function check_catalogue(
  opts: CatalogueOptions & { readonly stress_s?: number },
): Promise<CatalogueCheck> {
  const catalogue = run_catalogue(opts);
  const stress =
    opts.stress_s === undefined ? null : await stress_comparison(opts.stress_s, opts.progress);
  return {
    catalogue,
    stress,
    passed: catalogue.entries.every((e) => e.found && e.fixed_clean),
  };
}
