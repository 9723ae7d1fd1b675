/*
 * A scenario: what each CPU runs, over objects that setup() lays out in a
 * freshly booted kernel memory. The same scenario runs natively, under the
 * explorer and in a replay; its setup is deterministic, so every executor
 * sees the same addresses.
 */
import type { KernelSymbols } from '../kernel/boot.js';
import { DEFAULT_POLICY, POLICIES } from '../kernel/mm/policy.js';
import type { KernelMemory } from './memory.js';
import type { KernelContext, KGen } from './ops.js';

export interface RunConfig {
  /** CPUs running scenario code (kthreads come on top). */
  readonly cpus: number;
  /** The address-space locking design (--policy). */
  readonly policy: string;
  /** The bug variant re-introduced ('' for the fixed kernel). */
  readonly variant: string;
  /** Scenario parameters, e.g. iterations. */
  readonly params: Readonly<Record<string, number>>;
}

/** A kernel thread that runs beside the CPUs until the executor stops it. */
export interface Kthread {
  readonly name: string;
  readonly fn: (k: KernelContext) => KGen;
  /** kthread_stop(): the executor sets `flag`, bumps `kick` and futex-wakes it. */
  readonly stop: (sys: KernelSymbols) => { flag: number; kick: number };
}

export interface Scenario<G = unknown> {
  readonly name: string;
  readonly description: string;
  /** import.meta.url of the module that exports this scenario as `scenario`. */
  readonly module: string;
  readonly variants: readonly string[];
  readonly default_cpus: number;
  readonly max_cpus: number;
  /** Default parameters; a run may override any of them (and no other). */
  readonly params: Readonly<Record<string, number>>;
  /** Words of kernel memory: a number, or computed from the configuration. */
  readonly memory_words: number | ((cfg: RunConfig) => number);
  readonly kthreads: readonly Kthread[];
  /** Lay out the scenario's objects. `G` must survive structuredClone (it goes to workers). */
  setup(m: KernelMemory, sys: KernelSymbols, cfg: RunConfig): G;
  /** The code CPU `k.cpu` runs. */
  cpu(k: KernelContext, g: G, cfg: RunConfig): KGen;
  /**
   * A word the CPUs poll to end early: a native run for S seconds sets it
   * to 1 then (explored runs end by their parameters instead).
   */
  stop_word?(g: G): number;
  /** Figures worth printing after a run (counters and the like), read from memory. */
  report?(m: KernelMemory, sys: KernelSymbols, g: G, cfg: RunConfig): Record<string, number>;
  /** After every task ended: throw a KernelBug if an outcome is wrong. */
  check(m: KernelMemory, sys: KernelSymbols, g: G, cfg: RunConfig): void;
}

/** Validate and complete a run configuration for `s`; throws a usage Error. */
export function make_config(
  s: Scenario,
  opts: {
    cpus?: number | undefined;
    policy?: string | undefined;
    variant?: string | undefined;
    params?: Record<string, number> | undefined;
  },
): RunConfig {
  const cpus = opts.cpus ?? s.default_cpus;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > s.max_cpus) {
    throw new Error(`${s.name}: --cpus must be 1..${s.max_cpus}, not ${cpus}`);
  }
  const policy = opts.policy ?? DEFAULT_POLICY;
  if (!POLICIES.includes(policy)) {
    throw new Error(`unknown policy '${policy}' (known: ${POLICIES.join(', ')})`);
  }
  const variant = opts.variant ?? '';
  if (variant !== '' && !s.variants.includes(variant)) {
    throw new Error(
      `${s.name}: unknown variant '${variant}' (known: ${s.variants.join(', ') || 'none'})`,
    );
  }
  const params = { ...s.params };
  for (const [key, v] of Object.entries(opts.params ?? {})) {
    if (!(key in s.params))
      throw new Error(
        `${s.name}: unknown parameter '${key}' (known: ${Object.keys(s.params).join(', ')})`,
      );
    if (!Number.isInteger(v) || v < 0)
      throw new Error(`${s.name}: parameter ${key} must be a non-negative integer`);
    params[key] = v;
  }
  return { cpus, policy, variant, params };
}

/** The kernel memory a run of `s` with `cfg` needs, in words. */
export function memory_words(s: Scenario, cfg: RunConfig): number {
  return typeof s.memory_words === 'number' ? s.memory_words : s.memory_words(cfg);
}
