/*
 * mmlab diff: random scripts on the model and on this machine's kernel.
 * Every script is run by both; a mismatch is minimized to the smallest
 * script that still disagrees, and reported with its first differing line.
 */

import type { BootParams } from '../kernel/boot.js';
import { DEFAULT_POLICY } from '../kernel/mm/policy.js';
import { Rng } from '../scenarios/random.js';
import { parse_script } from '../script/parse.js';
import { format_run, run_model } from '../script/run_model.js';
import { random_script } from './gen.js';
import { linux_boot_params, linux_has_secretmem, oracle_failed, run_on_linux } from './linux.js';
import { minimize_script } from './minimize.js';

interface Mismatch {
  /** Index of the script in this run (seeded from the run's seed and the index). */
  readonly index: number;
  /** The minimized script. */
  readonly script: string;
  /** The first line where the outputs differ, 1-based, with each runner's text. */
  readonly line: number;
  readonly model: string;
  readonly linux: string;
}

interface DiffResult {
  readonly scripts: number;
  /** How the model was booted to run as this machine's kernel (linux_boot_params()). */
  readonly boot: BootParams;
  readonly mismatches: readonly Mismatch[];
  readonly elapsed_ms: number;
}

/** Both runners' output for one script text (the model's errors become output too). */
function both(text: string): { model: string; linux: string } {
  const linux = run_on_linux(text);
  if (linux.status !== 0) throw oracle_failed('a script', linux);
  let model: string;
  try {
    model = format_run(run_model(parse_script(text), DEFAULT_POLICY, linux_boot_params()));
  } catch (e) {
    model = `model failed: ${(e as Error).message}\n`;
  }
  return { model, linux: linux.stdout };
}

/** The first differing line of two outputs: its number and each side's text. */
export function first_difference(
  a: string,
  b: string,
): { line: number; a: string; b: string } | null {
  if (a === b) return null;
  const al = a.split('\n');
  const bl = b.split('\n');
  for (let i = 0; ; i++) {
    if (al[i] !== bl[i]) return { line: i + 1, a: al[i] ?? '(end)', b: bl[i] ?? '(end)' };
  }
}

/* Script `index` of a run from `seed`: with secret files where the oracle can make them. */
function script_for(seed: number, index: number, secret: boolean): string {
  return random_script(new Rng(Math.imul(seed ^ 0x2545f491, 0x9e3779b1) ^ index), { secret });
}

export function diff(opts: { count: number; seed: number }): DiffResult {
  const t0 = performance.now();
  // The oracle built and probed before any script: one that cannot run here
  // (OracleError: no cc, an unsafe cache, a crash) stops the run before any work.
  const boot = linux_boot_params();
  const secret = linux_has_secretmem();
  const mismatches: Mismatch[] = [];
  for (let i = 0; i < opts.count; i++) {
    const text = script_for(opts.seed, i, secret);
    const out = both(text);
    if (out.model !== out.linux) {
      const small = minimize_script(text, (candidate) => {
        const o = both(candidate);
        return o.model !== o.linux;
      });
      // minimize_script gives the text back when nothing smaller disagrees: out is its run.
      const o = small === text ? out : both(small);
      const d = first_difference(o.model, o.linux)!;
      mismatches.push({ index: i, script: small, line: d.line, model: d.a, linux: d.b });
    }
  }
  return {
    scripts: opts.count,
    boot,
    mismatches,
    elapsed_ms: performance.now() - t0,
  };
}
