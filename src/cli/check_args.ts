/*
 * What mmlab check refuses that only the scenario shows, before cmd_check
 * runs: parameter values only a native run can take, and --phases naming a
 * task the run does not have; and after it, a directed schedule whose
 * phases the run never reached, which is bad usage, not a clean run.
 */
import { PhaseNotReached, parse_phases, tasks_text } from '../check/strategy.js';
import { check_explorable, task_name } from '../runtime/scenario.js';
import { type CatalogueOpts, type CheckOpts, cmd_check } from './check.js';
import { config_for, scenario_arg } from './common.js';
import { as_usage, UsageError } from './usage.js';

export async function cmd_check_vetted(
  name: string | undefined,
  opts: CheckOpts & CatalogueOpts,
): Promise<number> {
  const tasks = name === undefined || opts.catalogue ? [] : vet(name, opts);
  try {
    return await cmd_check(name, opts);
  } catch (e) {
    if (e instanceof PhaseNotReached)
      throw new UsageError(`--phases: ${e.message} (${tasks_text(tasks)})`);
    throw e;
  }
}

/** The run's task names, once its parameters and phases are found fit for the explorer. */
function vet(name: string, opts: CheckOpts): string[] {
  const s = scenario_arg(name);
  const cfg = config_for(s, opts);
  as_usage(() => check_explorable(s, opts.param ?? {}));
  const tasks = Array.from({ length: cfg.cpus + s.kthreads.length }, (_, t) =>
    task_name(s, cfg, t),
  );
  if (opts.strategy === 'directed' && opts.phases !== undefined) {
    try {
      parse_phases(opts.phases, tasks);
    } catch (e) {
      throw new UsageError(`--phases: ${(e as Error).message}`);
    }
  }
  return tasks;
}
