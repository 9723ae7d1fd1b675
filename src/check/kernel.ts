/*
 * The runtime's entry points with this model's kernel wired in: the
 * runtime boots whatever kernel it is handed (src/runtime/boot.ts), and
 * every run of mmlab, explored, native or timed, runs src/kernel/boot.ts's.
 */
import { KERNEL } from '../kernel/boot.js';
import * as native from '../runtime/executors/native.js';
import * as timing from '../runtime/executors/timing.js';
import * as scenario from '../runtime/scenario.js';

type Config = Parameters<typeof scenario.make_config>[2];

/** Validate and complete a run configuration for `s`; throws a usage Error. */
export function make_config(s: scenario.Scenario, opts: Config): scenario.RunConfig {
  return scenario.make_config(KERNEL, s, opts);
}

/** A booted kernel with `s`'s objects laid out, as every executor starts. */
export function instantiate(s: scenario.Scenario, cfg: scenario.RunConfig): scenario.Instance {
  return scenario.instantiate(KERNEL, s, cfg);
}

export function run_native(
  s: scenario.Scenario,
  cfg: scenario.RunConfig,
  opts?: native.NativeOptions,
): Promise<native.NativeResult> {
  return native.run_native(KERNEL, s, cfg, opts);
}

export function run_timing(
  s: scenario.Scenario,
  cfg: scenario.RunConfig,
  opts: timing.TimingOptions,
): timing.TimingResult {
  return timing.run_timing(KERNEL, s, cfg, opts);
}
