/* mmlab diff: random scripts on the model and on this machine's kernel. */
import { diff } from '../oracle/diff.js';
import { OracleError } from '../oracle/linux.js';
import { dim, red } from './style.js';
import { EXIT_BUG, EXIT_OK, UsageError } from './usage.js';

/**
 * f(), with an oracle that cannot run here (no cc, an unsafe cache
 * directory, a failed build or run) made bad usage: its one line, exit 2.
 */
function with_oracle<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof OracleError) throw new UsageError(e.message);
    throw e;
  }
}

export function cmd_diff(opts: { count: number; seed: number; json?: boolean }): number {
  const r = with_oracle(() => diff({ count: opts.count, seed: opts.seed }));
  if (opts.json) {
    console.log(
      JSON.stringify({
        scripts: r.scripts,
        mismatches: r.mismatches.length,
        seed: opts.seed,
        forbid_zeropage: r.boot.forbid_zeropage ?? false,
        failures: r.mismatches,
        elapsed_ms: Math.round(r.elapsed_ms),
      }),
    );
  } else {
    for (const m of r.mismatches) {
      console.log(
        `${red('mismatch')} in script ${m.index} (seed ${opts.seed}), output line ${m.line}:`,
      );
      console.log(`  model: ${m.model}`);
      console.log(`  linux: ${m.linux}`);
      console.log(m.script.replace(/^/gm, '    ').trimEnd());
    }
    if (r.boot.forbid_zeropage)
      console.log(
        dim(
          "this machine's kernel maps no zero page on a read fault (mm_forbids_zeropage()): the model ran booted so too",
        ),
      );
    console.log(`${r.scripts} scripts, ${r.mismatches.length} mismatches`);
  }
  return r.mismatches.length > 0 ? EXIT_BUG : EXIT_OK;
}
