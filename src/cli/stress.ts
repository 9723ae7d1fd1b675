/* mmlab stress [SCENARIO]: a scenario natively, one worker thread per CPU. */
import { run_native } from '../check/kernel.js';
import { check_native_memory } from '../runtime/executors/native.js';
import { stress_params } from '../runtime/scenario.js';
import { bug_line, config_for, counters_line, run_json, scenario_arg } from './common.js';
import { dim, green } from './style.js';
import { as_usage, EXIT_BUG, EXIT_OK } from './usage.js';

export async function cmd_stress(
  name: string | undefined,
  opts: {
    cpus?: number;
    policy?: string;
    variant?: string;
    param?: Record<string, number>;
    seconds?: number;
    seed?: number;
    json?: boolean;
  },
): Promise<number> {
  const s = scenario_arg(name ?? 'mm-stress');
  const param = as_usage(() => stress_params(s, opts.param, opts));
  const cfg = config_for(s, { ...opts, param });
  as_usage(() => check_native_memory(s, cfg));
  const r = await run_native(s, cfg, opts.seconds === undefined ? {} : { seconds: opts.seconds });
  const steps = r.steps.reduce((a, b) => a + b, 0);
  if (opts.json) {
    console.log(
      JSON.stringify({
        ...run_json(s, cfg),
        bug: r.bug,
        steps,
        elapsed_ms: Math.round(r.elapsed_ms),
        counters: r.report,
      }),
    );
  } else if (r.bug) {
    console.log(bug_line(r.bug.class, r.bug.message));
    if (r.bug.stack) console.log(dim(r.bug.stack));
  } else {
    console.log(
      `${green('clean')}: ${s.name} (${cfg.policy}) natively on ${cfg.cpus} CPUs, ${steps} steps in ${r.elapsed_ms.toFixed(0)} ms`,
    );
  }
  if (!opts.json && Object.keys(r.report).length > 0) console.log(counters_line(r.report));
  return r.bug ? EXIT_BUG : EXIT_OK;
}
