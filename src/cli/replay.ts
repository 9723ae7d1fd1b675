/* mmlab replay STRING: a schedule printed by check, replayed bit for bit. */
import { decode_replay } from '../check/replay.js';
import { type Replayed, ReplayMismatch, replay_schedule } from '../check/replay_schedule.js';
import { scenario_from_source } from '../script/scenario.js';
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
  const source = rec.source;
  const s =
    source === undefined
      ? scenario_arg(rec.scenario)
      : as_usage(() => scenario_from_source(source));
  const cfg = config_for(s, {
    cpus: rec.cpus,
    policy: rec.policy,
    variant: rec.variant,
    param: rec.params,
  });
  let r: Replayed;
  try {
    r = replay_schedule(s, cfg, rec);
  } catch (e) {
    if (!(e instanceof ReplayMismatch)) throw e;
    if (opts.json) console.log(JSON.stringify({ bug: null, mismatch: e.message }));
    else console.error(`mmlab replay: ${e.message}`);
    return EXIT_BUG;
  }
  if (html) write_timeline(html, r.explorer, r.bug, rec, s.name);
  if (opts.json) {
    console.log(
      JSON.stringify({
        ...run_json(s, cfg),
        bug: bug_json(r.bug),
        steps: r.steps,
        hash: r.hash,
      }),
    );
  } else if (r.bug) {
    print_bug(r.bug, dim(`replayed ${r.steps} steps bit for bit (trace hash ${r.bug.hash})`));
  } else {
    console.log(r.table);
    console.log(`${green('no bug')}: replayed ${r.steps} steps of ${s.name} bit for bit`);
  }
  return r.bug ? EXIT_BUG : EXIT_OK;
}
