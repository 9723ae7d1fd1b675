import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type CheckResult, Explorer } from '../src/check/explorer.js';
import { make_config } from '../src/check/kernel.js';
import { RandomWalk, Sequential } from '../src/check/strategy.js';
import { DEFAULT_POLICY } from '../src/kernel/mm/policy.js';
import { RCU_GP_KTHREAD } from '../src/kernel/rcu/tree.js';
import { linux_boot_params, linux_has_secretmem, run_on_linux } from '../src/oracle/linux.js';
import { call, type KernelContext, type KGen } from '../src/runtime/ops.js';
import type { Scenario } from '../src/runtime/scenario.js';
import { parse_script } from '../src/script/parse.js';
import { format_run, run_model } from '../src/script/run_model.js';

/** Explore `schedules` random schedules of `s` with the given configuration. */
export function explore(
  s: Scenario,
  opts: { cpus?: number; policy?: string; variant?: string; params?: Record<string, number> } = {},
  schedules = 10_000,
  seed = 1,
): CheckResult {
  const ex = new Explorer(s, make_config(s, opts));
  return ex.check(new RandomWalk(seed, schedules));
}

/**
 * Run `fn` as the one CPU of a freshly booted machine (with the RCU
 * kthread), sequentially, and return its result. Kernel bugs are thrown.
 */
export function run_kernel<R>(fn: (k: KernelContext) => KGen<R>, memory_words = 1 << 22): R {
  let result: { value: R } | undefined;
  const scenario: Scenario<null> = {
    name: 'kernel',
    description: 'a test body',
    module: import.meta.url,
    variants: [],
    default_cpus: 1,
    max_cpus: 1,
    params: {},
    memory_words,
    kthreads: [RCU_GP_KTHREAD],
    setup: () => null,
    *cpu(k) {
      result = { value: yield* call(fn(k)) };
    },
    check: () => {},
  };
  const ex = new Explorer(scenario, make_config(scenario, {}), {
    max_steps: Number.MAX_SAFE_INTEGER,
  });
  const s = new Sequential();
  s.begin(0);
  const out = ex.exec.run(s);
  if (out.bug) throw out.bug;
  return result!.value;
}

/**
 * Run a script on this machine's kernel, or undefined where the oracle
 * cannot run it (not x86-64 Linux; secret files it cannot make as the model does).
 */
export function on_linux(text: string): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  if (parse_script(text).files.some((f) => f.secret) && !linux_has_secretmem()) return undefined;
  const r = run_on_linux(text);
  if (r.status !== 0) throw new Error(`oracle: ${r.stderr}`);
  return r.stdout;
}

/**
 * The model's output for a script, booted as this machine's kernel is
 * (linux_boot_params()): what on_linux() must print.
 */
export function model_as_linux(text: string): string {
  return format_run(run_model(parse_script(text), DEFAULT_POLICY, linux_boot_params()));
}

const MMLAB = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** The built mmlab run as a user runs it: exit status, stdout and stderr, no colours. */
export function mmlab(...args: string[]): { code: number | null; out: string; err: string } {
  return mmlab_in(process.cwd(), ...args);
}

/** mmlab() run in the directory `cwd`, where its relative paths are. */
export function mmlab_in(
  cwd: string,
  ...args: string[]
): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MMLAB, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * fn() with these environment variables set in this process (undefined:
 * unset), and the old values back afterwards: for what reads process.env,
 * the oracle in-process and mmlab() alike.
 */
export function with_env<R>(vars: Record<string, string | undefined>, fn: () => R): R {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  set(vars);
  try {
    return fn();
  } finally {
    set(old);
  }
}
