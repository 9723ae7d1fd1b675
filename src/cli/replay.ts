/* mmlab replay STRING: a schedule printed by check, replayed bit for bit. */
import { Explorer } from '../check/explorer.js';
import { decode_replay, hex32 } from '../check/replay.js';
import {
  bug_json,
  config_for,
  OutputFile,
  print_bug,
  run_json,
  scenario_arg,
  write_timeline,
} from './common.js';
import { dim, green } from './style.js';
import { as_usage, EXIT_BUG, EXIT_OK } from './usage.js';

export function cmd_replay(str: string, opts: { json?: boolean; html?: string }): number {
  const rec = as_usage(() => decode_replay(str));
  const html = opts.html === undefined ? undefined : new OutputFile('--html', opts.html);
  const s = scenario_arg(rec.scenario);
  const cfg = config_for(s, {
    cpus: rec.cpus,
    policy: rec.policy,
    variant: rec.variant,
    param: rec.params,
  });
  const explorer = new Explorer(s, cfg);
  let outcome: ReturnType<Explorer['trace']>['outcome'];
  let trace: ReturnType<Explorer['trace']>['trace'];
  try {
    ({ outcome, trace } = explorer.trace(rec.choices, rec.hash));
  } catch (e) {
    // The schedule does not fit this scenario: a mismatch, not bad usage.
    if (opts.json) console.log(JSON.stringify({ bug: null, mismatch: (e as Error).message }));
    else console.error(`mmlab replay: ${(e as Error).message}`);
    return EXIT_BUG;
  }
  const report = outcome.bug ? explorer.report(outcome) : null;
  if (html) write_timeline(html, explorer, report, rec.choices, s.name);
  if (opts.json) {
    console.log(
      JSON.stringify({
        ...run_json(s, cfg),
        bug: bug_json(report),
        steps: outcome.steps,
        hash: report?.hash ?? hex32(outcome.hash),
      }),
    );
  } else if (report) {
    print_bug(
      report,
      dim(`replayed ${outcome.steps} steps bit for bit (trace hash ${report.hash})`),
    );
  } else {
    console.log(explorer.table(trace, -1));
    console.log(`${green('no bug')}: replayed ${outcome.steps} steps of ${s.name} bit for bit`);
  }
  return report ? EXIT_BUG : EXIT_OK;
}
