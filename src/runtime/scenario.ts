/*
 * A scenario: what each CPU runs, over objects that setup() lays out in a
 * freshly booted kernel memory. The same scenario runs natively, under the
 * explorer and in a replay; its setup is deterministic, so every executor
 * sees the same addresses.
 */
import type { BootParams, BootRecord, Kernel } from './boot.js';
import { KernelMemory, PAGE_WORDS } from './memory.js';
import { type KernelContext, type KGen, KStack } from './ops.js';

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
  readonly stop: (sys: BootRecord) => { flag: number; kick: number };
}

/** One parameter of a scenario, for listings and for the native runs that size it otherwise. */
interface ParamDoc {
  /** One line: what it sets. */
  readonly doc: string;
  /** Its default natively (mmlab stress), where the explorer's is too small to measure anything. */
  readonly native?: number;
  /**
   * A value only a native run can take, and what it means there (iterations
   * 0: until stopped): a schedule of it would never end, the explorer refuses it.
   */
  readonly native_only?: { readonly value: number; readonly means: string };
}

export interface Scenario<G = unknown> {
  readonly name: string;
  readonly description: string;
  /** import.meta.url of the module that exports this scenario as `scenario`. */
  readonly module: string;
  /**
   * A scenario made from text (a concurrent script): the text, from which
   * `module`'s scenario_from_source() makes it again, in a worker or a
   * replay; its replay strings carry it.
   */
  readonly source?: string;
  readonly variants: readonly string[];
  readonly default_cpus: number;
  readonly max_cpus: number;
  /**
   * Default parameters, sized for the explorer: each schedule of the fixed
   * kernel ends well within its step limit. A run may override any of them
   * (and no other).
   */
  readonly params: Readonly<Record<string, number>>;
  /** The largest value a parameter takes, where it has one (a selector, a bit mask). */
  readonly param_max?: Readonly<Record<string, number>>;
  /** What each parameter means (`mmlab check --list`), and where a native run differs. */
  readonly param_docs?: Readonly<Record<string, ParamDoc>>;
  /** One line for each variant: the mistake it re-introduces, and the seed document that found it. */
  readonly variant_docs?: Readonly<Record<string, string>>;
  /** Words of kernel memory: a number, or computed from the configuration. */
  readonly memory_words: number | ((cfg: RunConfig) => number);
  readonly kthreads: readonly Kthread[];
  /** The kernel command line it boots with; absent: a mainline kernel's. */
  readonly boot?: BootParams;
  /**
   * An Error naming the problem if `cfg` cannot run (a layout that does not
   * fit its window): instantiate() asks before booting, and a command that
   * runs many configurations asks of each before running any.
   */
  readonly check_config?: (cfg: RunConfig) => void;
  /** Lay out the scenario's objects. `G` must survive structuredClone (it goes to workers). */
  setup(m: KernelMemory, sys: BootRecord, cfg: RunConfig): G;
  /**
   * Code run once on cpu0 alone before any task starts, in every executor:
   * it builds the state every schedule starts from (an mm, its VMAs, its
   * pages), so that exploration spends its steps on the race itself. It
   * must not sleep or spin: nothing else runs yet.
   */
  prologue?(k: KernelContext, g: G, cfg: RunConfig): KGen;
  /**
   * Code cpu0 runs once every CPU is done, the kthreads still running: the
   * process exiting after its threads were joined. The explorer does not
   * explore it (a woken kthread runs first, as in a sequential run), so a
   * schedule's choices stay on the race; its sanitizers still watch it.
   */
  epilogue?(k: KernelContext, g: G, cfg: RunConfig): KGen;
  /** The code CPU `k.cpu` runs. */
  cpu(k: KernelContext, g: G, cfg: RunConfig): KGen;
  /**
   * A word the CPUs poll to end early: a native run for S seconds sets it
   * to 1 then (explored runs end by their parameters instead).
   */
  stop_word?(g: G): number;
  /** Figures worth printing after a run (counters and the like), read from memory. */
  report?(m: KernelMemory, sys: BootRecord, g: G, cfg: RunConfig): Record<string, number>;
  /** After every task ended: throw a KernelBug if an outcome is wrong. */
  check(m: KernelMemory, sys: BootRecord, g: G, cfg: RunConfig): void;
}

/** Validate and complete a run configuration for `s` on `kernel`; throws a usage Error. */
export function make_config(
  kernel: Kernel,
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
  const policy = opts.policy ?? kernel.default_policy;
  if (!kernel.policies.includes(policy)) {
    throw new Error(`unknown policy '${policy}' (known: ${kernel.policies.join(', ')})`);
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
      throw new Error(`${s.name}: unknown parameter '${key}' (${known_params(s)})`);
    const max = s.param_max?.[key] ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(v) || v < 0 || v > max)
      throw new Error(`${s.name}: parameter ${key} must be an integer from 0 to ${max}, not ${v}`);
    params[key] = v;
  }
  return { cpus, policy, variant, params };
}

/**
 * What a native run sets over the explorer's defaults (ParamDoc.native):
 * make_config() takes them as parameters, below the user's own.
 */
export function native_params(s: Scenario): Record<string, number> {
  const params: Record<string, number> = {};
  for (const [key, d] of Object.entries(s.param_docs ?? {}))
    if (d.native !== undefined) params[key] = d.native;
  return params;
}

/**
 * The parameters of a native run of `s` (mmlab stress): its native sizes
 * (native_params()), the user's own over them, then `seconds` (a run until
 * stopped: iters 0) and `seed`. Throws a usage Error where `s` cannot
 * take them.
 */
export function stress_params(
  s: Scenario,
  user: Readonly<Record<string, number>> = {},
  opts: { seconds?: number | undefined; seed?: number | undefined } = {},
): Record<string, number> {
  const params = { ...native_params(s), ...user };
  if (opts.seconds !== undefined) {
    if (!s.stop_word || !('iters' in s.params))
      throw new Error(`${s.name} cannot run for a time: ${untimed(s)}`);
    if (user.iters !== undefined)
      throw new Error('--seconds and --param iters both say how long to run: give one');
    params.iters = 0;
  }
  if (opts.seed !== undefined) {
    if (!('seed' in s.params)) throw new Error(`${s.name} takes no seed (${known_params(s)})`);
    params.seed = opts.seed;
  }
  return params;
}

/* What a scenario that cannot run for a time runs instead, suggesting only what exists. */
function untimed(s: Scenario): string {
  return 'iters' in s.params
    ? 'give its iterations instead (--param iters=N)'
    : `it runs once, to its end (${known_params(s)})`;
}

/** The parameters `s` takes, as an error names them: `known: a, b`, or that it has none. */
function known_params(s: Scenario): string {
  const keys = Object.keys(s.params);
  return keys.length > 0 ? `known: ${keys.join(', ')}` : `${s.name} has no parameters`;
}

/**
 * Refuse parameters only a native run can take (ParamDoc.native_only):
 * the explorer would report the schedule that never ends as a livelock.
 */
export function check_explorable(
  s: Scenario,
  params: Readonly<Record<string, number>>,
  cpus = s.default_cpus,
): void {
  if (cpus > explorable_cpus(s))
    throw new Error(
      `--cpus ${cpus}: the explorer drives at most ${EXPLORER_MAX_TASKS} tasks, and ${s.name} runs ${s.kthreads.length} kthread(s) beside its CPUs: at most ${explorable_cpus(s)} CPUs`,
    );
  for (const [key, v] of Object.entries(params)) {
    const only = s.param_docs?.[key]?.native_only;
    if (only && only.value === v)
      throw new Error(`--param ${key}=${v} ${only.means}: natively only (mmlab stress)`);
  }
}

/** The most tasks (CPUs and kthreads) the explorer schedules: a schedule keeps each choice of task in a byte. */
export const EXPLORER_MAX_TASKS = 255;

/** The most CPUs `s` can be explored on: its own bound, and the explorer's beside its kthreads. */
export function explorable_cpus(s: Scenario): number {
  return Math.min(s.max_cpus, EXPLORER_MAX_TASKS - s.kthreads.length);
}

/** The kernel memory a run of `s` with `cfg` needs, in words. */
export function memory_words(s: Scenario, cfg: RunConfig): number {
  const words = typeof s.memory_words === 'number' ? s.memory_words : s.memory_words(cfg);
  // Kernel memory is whole pages: a size computed from parameters is rounded up.
  return Math.ceil(words / PAGE_WORDS) * PAGE_WORDS;
}

/** A booted kernel with the scenario's objects laid out: where every run starts. */
export interface Instance {
  /** The CPUs, then the kthreads. */
  readonly nr_tasks: number;
  readonly m: KernelMemory;
  readonly sys: BootRecord;
  readonly globals: unknown;
}

/*
 * Every executor starts here, so that all of them see the same addresses.
 * `buffer`: one of at least memory_words(s, cfg) words to boot in, zeroed.
 */
export function instantiate(
  kernel: Kernel,
  s: Scenario,
  cfg: RunConfig,
  buffer?: SharedArrayBuffer,
): Instance {
  s.check_config?.(cfg);
  const nr_tasks = cfg.cpus + s.kthreads.length;
  const m = KernelMemory.create(memory_words(s, cfg), buffer);
  const sys = kernel.boot(m, nr_tasks, s.boot);
  return { nr_tasks, m, sys, globals: s.setup(m, sys, cfg) };
}

/** Task `t`'s name in reports: cpuN for a CPU, the kthread's own name after them. */
export function task_name(s: Scenario, cfg: RunConfig, t: number): string {
  return t < cfg.cpus ? `cpu${t}` : (s.kthreads[t - cfg.cpus]?.name ?? `task${t}`);
}

/** The code task `k.cpu` runs: the scenario's CPU code, or its kthread's. */
export function task_code(s: Scenario, k: KernelContext, globals: unknown, cfg: RunConfig): KGen {
  return k.cpu < cfg.cpus ? s.cpu(k, globals, cfg) : s.kthreads[k.cpu - cfg.cpus]!.fn(k);
}

/** task_code() on a KStack of its own, as an executor steps it. */
export function task_stack(
  s: Scenario,
  k: KernelContext,
  globals: unknown,
  cfg: RunConfig,
): KStack {
  return new KStack(task_code(s, k, globals, cfg), k);
}
