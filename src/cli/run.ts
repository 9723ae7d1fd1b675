/* mmlab run SCRIPT: a script on the model, its output as Linux would print it. */
import { closeSync, openSync, readSync } from 'node:fs';
import { run_script, type ZeroPageMode, zero_page_boot } from '../oracle/zero_page.js';

import { KernelBug } from '../runtime/ops.js';
import { type Script, ScriptError } from '../script/ast.js';
import { parse_script } from '../script/parse.js';
import { format_run, type ModelRun } from '../script/run_model.js';
import { bug_line, counters_line } from './common.js';
import { dim } from './style.js';
import { as_usage, EXIT_BUG, EXIT_OK, fs_why, UsageError } from './usage.js';

// main.ts's --zero-page choices.
export { ZERO_PAGE_MODES } from '../oracle/zero_page.js';

/** The largest script mmlab reads: far more than any script runs in reasonable time. */
const MAX_SCRIPT_BYTES = 16 << 20;

/*
 * The text of `path` (- is standard input), read a piece at a time and
 * never past MAX_SCRIPT_BYTES: /dev/zero or an endless pipe is cut off at
 * the cap, not read until memory runs out.
 */
export function read_capped(path: string): string {
  const buf = Buffer.allocUnsafe(MAX_SCRIPT_BYTES + 1);
  let len = 0;
  try {
    const fd = path === '-' ? 0 : openSync(path, 'r');
    try {
      while (len < buf.length) {
        const n = readSync(fd, buf, len, buf.length - len, null);
        if (n === 0) break;
        len += n;
      }
    } finally {
      if (fd !== 0) closeSync(fd);
    }
  } catch (e) {
    throw new UsageError(`${path}: cannot read: ${fs_why(e)}`);
  }
  if (len > MAX_SCRIPT_BYTES)
    throw new UsageError(`${path}: a script may have at most ${MAX_SCRIPT_BYTES >> 20} MiB`);
  return buf.toString('utf8', 0, len);
}

function read_script_file(path: string): Script {
  const text = read_capped(path);
  try {
    return parse_script(text);
  } catch (e) {
    if (e instanceof ScriptError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
}

export function cmd_run(
  path: string,
  opts: { json?: boolean; stats?: boolean; policy: string; zeroPage: ZeroPageMode },
): number {
  const script = read_script_file(path);
  const boot = as_usage(() => zero_page_boot(opts.zeroPage));
  let run: ModelRun | KernelBug;
  try {
    run = run_script(script, opts.policy, boot);
  } catch (e) {
    if (e instanceof ScriptError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
  if (opts.json) {
    console.log(
      JSON.stringify(
        run instanceof KernelBug
          ? { bug: { class: run.bug_class, message: run.message }, zero_page: boot.used }
          : {
              bug: null,
              zero_page: boot.used,
              results: run.results,
              maps: run.maps,
              steps: run.steps,
              counters: run.counters,
            },
      ),
    );
  } else {
    console.error(dim(boot.note));
    if (run instanceof KernelBug) console.log(bug_line(run.bug_class, run.message));
    else {
      process.stdout.write(format_run(run));
      if (opts.stats) console.log(`stats: ${counters_line(run.counters)}`);
    }
  }
  return run instanceof KernelBug ? EXIT_BUG : EXIT_OK;
}
