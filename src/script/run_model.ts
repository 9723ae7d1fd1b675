/*
 * Run a script on mmlab's model: the explore executor with one CPU (and
 * the RCU grace-period kthread), so the sequential run is the very kernel
 * the concurrent designs run, not a second implementation. The CPU plays
 * user space: it calls the system calls of each script process (an mm of
 * its own) in script order, and user reads and writes go through the
 * MMU walk and the fault path (user_space.ts runs each command).
 */
import { Explorer } from '../check/explorer.js';
import { Sequential } from '../check/strategy.js';
import type { BootParams } from '../kernel/boot.js';
import { check_mm_caches_empty } from '../kernel/mm/debug.js';
import { DEFAULT_POLICY } from '../kernel/mm/policy.js';
import { RCU_GP_KTHREAD } from '../kernel/rcu/tree.js';
import { vm_events_sum } from '../kernel/sched.js';
import type { KernelMemory } from '../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../runtime/ops.js';
import type { RunConfig, Scenario } from '../runtime/scenario.js';
import type { Script } from './ast.js';
import { format_maps_line, format_result, type MapsLine } from './print.js';
import {
  check_memory,
  first_process,
  proc_maps,
  run_command,
  tear_down,
  type UserSpace,
} from './user_space.js';

export interface ModelRun {
  /** One result line per command. */
  readonly results: readonly string[];
  /** Each live process's VMAs in the window, by increasing pid. */
  readonly maps: readonly { readonly pid: number; readonly vmas: readonly MapsLine[] }[];
  /** Steps the model took. */
  readonly steps: number;
  /** The per-VMA lock's vm event counters over the run. */
  readonly counters: Readonly<Record<string, number>>;
}

/*
 * One booted machine serves every script: the explore executor resets its
 * memory to the post-boot snapshot before each run, so `mmlab diff` does
 * not boot 2000 kernels.
 */
interface ScriptMachine {
  explorer: Explorer;
  input: { script: Script; results: string[]; maps: { pid: number; vmas: MapsLine[] }[] };
}
const machines = new Map<string, ScriptMachine>();

function script_machine(policy: string, params: BootParams): ScriptMachine {
  const key = `${policy} ${JSON.stringify(params)}`;
  const known = machines.get(key);
  if (known) return known;
  const input = {
    script: { lines: [], files: [] } as Script,
    results: [] as string[],
    maps: [] as { pid: number; vmas: MapsLine[] }[],
  };
  const scenario: Scenario<null> = {
    name: 'script',
    description: 'a script, one system call after another',
    module: import.meta.url,
    variants: [],
    default_cpus: 1,
    max_cpus: 1,
    params: {},
    memory_words: SCRIPT_MEMORY_WORDS,
    kthreads: [RCU_GP_KTHREAD],
    boot: params,
    setup: () => null,
    cpu: (k) => user_space(k, explorer.exec.m, input.script, input.results, input.maps),
    check: (m, sys) => check_mm_caches_empty(m, sys, 'after every process exited'),
  };
  const explorer = new Explorer(
    scenario,
    { cpus: 1, policy, variant: '', params: {} } satisfies RunConfig,
    // One CPU, and a kthread the sequential strategy runs whenever it is
    // woken: nothing is concurrent, so the data-race detector would only cost time.
    { max_steps: Number.MAX_SAFE_INTEGER, kcsan: false },
  );
  const machine = { explorer, input };
  machines.set(key, machine);
  return machine;
}

/**
 * Run `script` on the model, booted with `params` (a mainline kernel's by
 * default). Throws a KernelBug if the model breaks an invariant.
 */
export function run_model(
  script: Script,
  policy: string = DEFAULT_POLICY,
  params: BootParams = {},
): ModelRun {
  const { explorer, input } = script_machine(policy, params);
  input.script = script;
  input.results = [];
  input.maps = [];
  const strategy = new Sequential();
  strategy.begin(0);
  const out = explorer.exec.run(strategy);
  if (out.bug) throw out.bug;
  const counters = vm_events_sum(explorer.exec.m.words, explorer.exec.sys.tasks);
  return { results: input.results, maps: input.maps, steps: out.steps, counters };
}

/*
 * The script machine's kernel memory: 64 MiB, room for some 15,000
 * populated pages with their page tables and VMAs (the 10,000-command
 * benchmark script needs about half of it).
 */
const SCRIPT_MEMORY_WORDS = 1 << 24;

function* user_space(
  k: KernelContext,
  m: KernelMemory,
  script: Script,
  results: string[],
  maps: { pid: number; vmas: MapsLine[] }[],
): KGen {
  const us: UserSpace = { m, files: new Map(), pins: new Map() };
  const mms = new Map<number, number>([[0, yield* call(first_process(k))]]);
  let next_pid = 1;
  // The line of the command run last: where memory ran out, if it did.
  let ran = 0;
  for (const l of script.lines) {
    check_memory(m, ran);
    ran = l.line;
    const { result, child } = yield* call(run_command(k, us, l, mms.get(l.pid)!, 0));
    results.push(format_result(result));
    if (l.cmd.op === 'fork') mms.set(next_pid++, child);
    if (l.cmd.op === 'exit') mms.delete(l.pid);
  }
  check_memory(m, ran);
  for (const pid of [...mms.keys()].sort((a, b) => a - b))
    maps.push({ pid, vmas: yield* call(proc_maps(k, us, mms.get(pid)!)) });
  yield* call(tear_down(k, us, mms.values()));
}

/** The script's output text, as every runner prints it. */
export function format_run(run: Pick<ModelRun, 'results' | 'maps'>): string {
  const lines = [...run.results];
  for (const { pid, vmas } of run.maps) {
    lines.push(`p${pid} maps:`);
    for (const v of vmas) lines.push(format_maps_line(v));
  }
  return `${lines.join('\n')}\n`;
}
