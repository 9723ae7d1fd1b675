/*
 * A concurrent script as a scenario (docs/scripts.md, "Concurrent
 * scripts"): the setup runs in the prologue on cpu0, as a sequential
 * script runs; then CPU i runs section i, each command through
 * user_space.ts's run_command(), as a thread of each process it names:
 * it takes its own mm reference (mmget) the first time it names the
 * process and puts it at the end of its section. Each process keeps its
 * own reference (from mm_alloc or the fork) until its `exit`, as its task
 * keeps task->mm until exit_mm(), or else until the epilogue; a CPU naming
 * a process that has exited gets ESRCH, and puts the reference it held
 * (its thread was killed). The epilogue runs validate_mm() on each live
 * mm, records the outcome (every result, each process's maps, the word at
 * every address the script touches), then tears everything down; check()
 * holds the outcome to the serial orders' (linearizable.ts).
 *
 * The same scenario runs one serial order on one CPU (serial_scenario()):
 * the outcome check's reference runs are this very code.
 */
import { SPINLOCK, spin_lock, spin_lock_init, spin_unlock } from '../kernel/locking/spinlock.js';
import { check_mm_caches_empty, validate_mm } from '../kernel/mm/debug.js';
import { mmget, mmput } from '../kernel/mm/mmap.js';
import {
  mmap_read_lock,
  mmap_read_unlock,
  mmap_write_lock,
  mmap_write_unlock,
} from '../kernel/mm/mmap_lock.js';
import { RCU_GP_KTHREAD } from '../kernel/rcu/tree.js';
import { defineStruct } from '../runtime/layout.js';
import type { KernelMemory } from '../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../runtime/ops.js';
import type { Scenario } from '../runtime/scenario.js';
import { SCENARIOS } from '../scenarios/index.js';
import { type Command, type ConcurrentScript, type Line, PAGE_SIZE } from './ast.js';
import {
  exiting_sections,
  fork_children,
  parse_concurrent,
  print_concurrent,
  type SectionStep,
  steps_of,
} from './concurrent.js';
import { check_linearizable } from './linearizable.js';
import type { FinalWord, MapsLine, Result } from './print.js';
import {
  check_memory,
  copy_pins,
  fault_page,
  first_process,
  type Pins,
  populate,
  proc_maps,
  read_word,
  restore_pins,
  run_command,
  tear_down,
  type UserSpace,
  unlinked_range,
} from './user_space.js';

/** What one run of a concurrent script gives: what the outcome check compares. */
export interface ScriptOutcome {
  /** cpus[i][j]: the result of section i's command j (format_result() prints its line). */
  readonly cpus: readonly (readonly Result[])[];
  /** Each live process's VMAs in the window, by increasing pid. */
  readonly maps: readonly { readonly pid: number; readonly vmas: readonly MapsLine[] }[];
  /** Each live process's word at each address a read or write names, by pid, then address. */
  readonly contents: readonly FinalWord[];
}

const PROCESS = defineStruct('script_process', {
  mm: "the process's own reference: stored by the prologue or (store_release) by the fork that creates it, read by the CPUs that name it (load_acquire); 0 before its fork and after its exit. A process a section exits: read and cleared under its TASK.alloc_lock",
});

/*
 * The task of a process that a section exits: its task_lock(), which
 * get_task_mm() holds across reading task->mm and taking a reference, and
 * exit_mm() across clearing it, so that no CPU takes a reference to an mm
 * whose last one the exit is putting. A process no section exits needs
 * none: its slot goes from 0 to its mm once (the fork's store_release)
 * and keeps it until every CPU is done, so a lookup can race nothing.
 */
const TASK = defineStruct('task_struct', {
  alloc_lock: [SPINLOCK.$, "itself: task_lock(), over the process's PROCESS.mm"],
});

/** Kernel memory of a script run: its objects, and room for its page tables and pages. */
const SCRIPT_MEMORY_WORDS = 1 << 22;

/*
 * What the user space of one executor keeps beside kernel memory: the
 * setup's files (the prologue's, once per executor), and per
 * run the references each CPU holds and the results it printed. Each CPU
 * touches only its own slots; the epilogue and check() read them after
 * every CPU ended.
 */
interface Globals {
  /** The process table: PROCESS.mm of pid p at table + p. */
  readonly table: number;
  /** The tasks of the processes a section exits: TASK of pid p at tasks + p * TASK.$.size (0: none exits). */
  readonly tasks: number;
  readonly us: UserSpace;
  /** The pins the setup left (the prologue's, once per search): every schedule starts from them. */
  setup_pins: Pins;
  /** held[cpu]: pid -> the mm reference that CPU's thread holds. */
  held: Map<number, number>[];
  results: Result[][];
  outcome: ScriptOutcome | null;
  /** A serial run: the CPU whose next command runs, step by step. */
  order: readonly number[];
  /** A serial run: each CPU's `maps` between its start and its end, the maps at each step since. */
  reading: Map<number, { mm: number; states: MapsLine[][] }>;
  /**
   * A serial run: each CPU's unmapping from its first unlink step to its
   * command step: the mm, and the range each unlink step so far took out
   * of the index (null: none, a brk that does not shrink the heap).
   */
  unlinked: Map<number, { mm: number; ranges: ([number, number] | null)[] }>;
}

/** Every variant any scenario declares: each is a change to kernel code, which a script runs too. */
export const SCRIPT_VARIANTS: readonly string[] = [
  ...new Set([...SCENARIOS.values()].flatMap((s) => s.variants)),
];

/** The scenario that explores `s`: one CPU a section. */
export function script_scenario(s: ConcurrentScript): Scenario<Globals> {
  return program_scenario(s, 'concurrent');
}

/** The scenario that runs `s` one serial order at a time on one CPU (its globals' `order`). */
export function serial_scenario(s: ConcurrentScript): Scenario<Globals> {
  return program_scenario(s, 'serial');
}

/** scenario_from_source() of the text print_concurrent() wrote: how a worker or a replay makes it again. */
export function scenario_from_source(text: string): Scenario<Globals> {
  return script_scenario(parse_concurrent(text));
}

/** What every run of a script's scenario reads: the script, and what is known of it before it runs. */
interface Program {
  readonly s: ConcurrentScript;
  /** The child each fork creates (fork_children()). */
  readonly children: ReadonlyMap<Line, number>;
  readonly nr_pids: number;
  /** Every address a read or write names, ascending: the words the outcome records. */
  readonly addrs: readonly number[];
  /** steps[cpu]: each step a serial order places (steps_of()): its command, and which part. */
  readonly steps: readonly (readonly SectionStep[])[];
  /** The pids some section exits: each looked up under its task_lock(). */
  readonly exiting: ReadonlySet<number>;
}

function program_scenario(s: ConcurrentScript, mode: 'concurrent' | 'serial'): Scenario<Globals> {
  const children = fork_children(s);
  const lines = [...s.setup, ...s.cpus.flat()];
  const addrs = lines.flatMap((l) =>
    l.cmd.op === 'read' || l.cmd.op === 'write' ? [l.cmd.addr] : [],
  );
  const p: Program = {
    s,
    children,
    nr_pids: children.size + 1,
    addrs: [...new Set(addrs)].sort((a, b) => a - b),
    steps: steps_of(s),
    exiting: new Set(exiting_sections(s).keys()),
  };
  const cpus = mode === 'concurrent' ? s.cpus.length : 1;
  const text = print_concurrent(s);
  return {
    name: 'script',
    description: `a concurrent script of ${s.cpus.length} sections`,
    module: import.meta.url,
    ...(mode === 'concurrent' ? { source: text } : {}),
    variants: SCRIPT_VARIANTS,
    default_cpus: cpus,
    max_cpus: cpus,
    params: {},
    memory_words: SCRIPT_MEMORY_WORDS,
    kthreads: [RCU_GP_KTHREAD],
    setup: (m) => ({
      table: m.boot_alloc(PROCESS.$, 'p', p.nr_pids),
      tasks: task_locks(m, p),
      us: { m, files: new Map(), pins: new Map() },
      setup_pins: new Map(),
      held: [],
      results: [],
      outcome: null,
      order: [],
      reading: new Map(),
      unlinked: new Map(),
    }),
    prologue: (k, g) => run_setup(k, g, p),
    cpu: (k, g) => (mode === 'concurrent' ? run_section(k, g, p) : run_serial(k, g, p)),
    epilogue: (k, g) => record_outcome(k, g, p),
    check(m, sys, g, cfg) {
      check_mm_caches_empty(m, sys, 'after every process exited');
      if (mode === 'concurrent') check_linearizable(s, text, cfg, g.outcome!);
    },
  };
}

/* Each process's TASK, where a section exits one (else 0: none is looked up under a lock). */
function task_locks(m: KernelMemory, p: Program): number {
  if (p.exiting.size === 0) return 0;
  const tasks = m.boot_alloc(TASK.$, 'task_struct', p.nr_pids);
  for (let pid = 0; pid < p.nr_pids; pid++)
    spin_lock_init(m, task_lock_of(tasks, pid), 'task_struct.alloc_lock');
  return tasks;
}

function task_lock_of(tasks: number, pid: number): number {
  return tasks + pid * TASK.$.size + TASK.alloc_lock;
}

/** The user thread the setup runs on, for its pins (a section's is its CPU). */
const SETUP_THREAD = -1;

/* The setup, as a sequential script runs: each process's own reference in the table. */
function* run_setup(k: KernelContext, g: Globals, p: Program): KGen {
  g.us.pins.clear();
  yield k.store(g.table, yield* call(first_process(k)));
  for (const l of p.s.setup) {
    const mm = yield k.load(g.table + l.pid);
    const { child } = yield* call(run_command(k, g.us, l, mm, SETUP_THREAD));
    check_memory(g.us.m, l.line);
    if (l.cmd.op === 'fork') yield k.store(g.table + p.children.get(l)!, child);
    if (l.cmd.op === 'exit') yield k.store(g.table + l.pid, 0);
  }
  g.setup_pins = copy_pins(g.us.pins);
}

/* CPU k.cpu's section, then its threads' references put. */
function* run_section(k: KernelContext, g: Globals, p: Program): KGen {
  restore_pins(g.us, g.setup_pins, k.cpu);
  g.held[k.cpu] = new Map();
  g.results[k.cpu] = [];
  for (const l of p.s.cpus[k.cpu]!) yield* call(thread_line(k, g, p, k.cpu, l));
  yield* call(put_held(k, g, k.cpu));
}

/*
 * One serial order (g.order) of every section's steps, on this one CPU: a
 * CPU's next step is its next command's next one (serial_steps()). A
 * fault that signals is the command's result, and its later steps do
 * nothing; a populating mmap's result is its mapping's; a lookup that
 * finds the process gone is the exit's result (ESRCH).
 */
function* run_serial(k: KernelContext, g: Globals, p: Program): KGen {
  p.s.cpus.forEach((_, cpu) => {
    restore_pins(g.us, g.setup_pins, cpu);
  });
  g.held = p.s.cpus.map(() => new Map());
  g.results = p.s.cpus.map(() => []);
  const steps = p.s.cpus.map(() => 0);
  g.reading.clear();
  g.unlinked.clear();
  for (const cpu of g.order) {
    const n = steps[cpu]++;
    const { index, step } = p.steps[cpu]![n]!;
    const first = n === 0 || p.steps[cpu]![n - 1]!.index !== index;
    const l = p.s.cpus[cpu]![index]!;
    const ended = g.results[cpu]!.length > index;
    if (step.kind === 'command') g.unlinked.delete(cpu);
    if (step.kind === 'map') yield* call(thread_line(k, g, p, cpu, without_populate(l)));
    else if (step.kind === 'lookup') yield* call(thread_mm(k, g, p, cpu, l.pid, true));
    else if (step.kind === 'open') yield* call(maps_start(k, g, p, cpu, l));
    else if (step.kind === 'unlink' && !ended) yield* call(unlink_step(k, g, p, cpu, l, first));
    else if (ended && l.cmd.op === 'mmap') yield* call(thread_populate(k, g, cpu, l, index));
    else if (ended) continue;
    else if (step.kind === 'fault') yield* call(thread_fault(k, g, p, cpu, l, step.addr, first));
    else yield* call(thread_line(k, g, p, cpu, l, first));
    if (l.cmd.op === 'maps' && step.kind === 'command') maps_end(g, cpu);
    const mm = g.held[cpu]!.get(l.pid);
    for (const r of g.reading.values()) {
      const now = unlinked_from(g, r.mm, yield* call(proc_maps(k, g.us, r.mm)));
      const before = r.states.at(-1);
      if (step.kind === 'command' && r.mm === mm && before !== undefined)
        r.states.push(...remap_move_states(l.cmd, before, now));
      r.states.push(now);
    }
  }
  for (let cpu = 0; cpu < p.s.cpus.length; cpu++) yield* call(put_held(k, g, cpu));
}

/* The outcome (each live process validated, its maps, then its words), then every reference put. */
function* record_outcome(k: KernelContext, g: Globals, p: Program): KGen {
  const maps: { pid: number; vmas: MapsLine[] }[] = [];
  const contents: FinalWord[] = [];
  const live: number[] = [];
  for (let pid = 0; pid < p.nr_pids; pid++) {
    const mm = yield k.load(g.table + pid);
    if (mm === 0) continue;
    live.push(mm);
    // CONFIG_DEBUG_VM_MAPLE_TREE's check of the index against the VMAs, once every CPU is done.
    yield* call(mmap_write_lock(k, mm));
    yield* call(validate_mm(k, mm));
    yield* call(mmap_write_unlock(k, mm));
    maps.push({ pid, vmas: yield* call(proc_maps(k, g.us, mm)) });
    for (const addr of p.addrs)
      contents.push({ pid, addr, read: yield* call(read_word(k, mm, addr)) });
  }
  g.outcome = { cpus: g.results, maps, contents };
  yield* call(tear_down(k, g.us, live));
}

/*
 * The mm of process `pid` as CPU `cpu`'s thread of it: its reference
 * taken the first time; 0, with ESRCH printed, while no fork has created
 * the process yet, or once it has exited (found at a command's first
 * step: a command under way finishes on the mm it holds).
 */
function* thread_mm(
  k: KernelContext,
  g: Globals,
  p: Program,
  cpu: number,
  pid: number,
  first: boolean,
): KGen<number> {
  const held = g.held[cpu]!;
  let mm = held.get(pid) ?? 0;
  if (p.exiting.has(pid) && first) mm = yield* call(get_task_mm(k, g, cpu, pid));
  else if (mm === 0) {
    mm = yield k.load_acquire(g.table + pid);
    if (mm !== 0) {
      yield* call(mmget(k, mm));
      held.set(pid, mm);
    }
  }
  if (mm === 0) g.results[cpu]!.push({ kind: 'errno', value: 'ESRCH' });
  return mm;
}

/*
 * thread_mm() of a process a section exits, at each command: its mm read
 * under task_lock(), and referenced there the first time, as
 * get_task_mm() does. Once the process has exited the thread is a killed
 * one: the reference it held is put (its exit_mm()), and it gets 0.
 */
function* get_task_mm(k: KernelContext, g: Globals, cpu: number, pid: number): KGen<number> {
  const held = g.held[cpu]!;
  const lock = task_lock_of(g.tasks, pid);
  yield* spin_lock(k, lock);
  const mm = yield k.load_acquire(g.table + pid);
  if (mm !== 0 && !held.has(pid)) yield* call(mmget(k, mm));
  yield* spin_unlock(k, lock);
  const mine = held.get(pid);
  if (mm !== 0) held.set(pid, mm);
  else if (mine !== undefined) {
    held.delete(pid);
    yield* call(mmput(k, mine));
  }
  return mm;
}

/*
 * A section's `exit` of `pid`, whose mm the exiting thread holds a
 * reference to: the process's own reference dropped, as exit_mm() does
 * (kernel/exit.c): task->mm cleared under task_lock() inside
 * mmap_read_lock(), then put (unless another CPU's exit of it came
 * first). The thread's reference is put after it (run_command()); the
 * last one tears the mm down, on this CPU or on whichever CPU's thread
 * of it puts its own last.
 */
function* exit_mm(k: KernelContext, g: Globals, pid: number, mm: number): KGen {
  const lock = task_lock_of(g.tasks, pid);
  yield* call(mmap_read_lock(k, mm));
  yield* spin_lock(k, lock);
  const own = yield k.load_acquire(g.table + pid);
  if (own !== 0) yield k.store_release(g.table + pid, 0);
  yield* spin_unlock(k, lock);
  yield* call(mmap_read_unlock(k, mm));
  if (own !== 0) yield* call(mmput(k, own));
}

/*
 * Line `l` of section `cpu`, as that CPU's thread of process l.pid, a
 * fork's child published for every CPU, an exit's references put (the
 * process's, then the thread's by run_command()). `first`: the command's
 * first step (a later step of it runs on the mm its first one found).
 */
function* thread_line(
  k: KernelContext,
  g: Globals,
  p: Program,
  cpu: number,
  l: Line,
  first = true,
): KGen {
  const mm = yield* call(thread_mm(k, g, p, cpu, l.pid, first));
  if (mm === 0) return;
  if (l.cmd.op === 'exit') yield* call(exit_mm(k, g, l.pid, mm));
  const { result, child } = yield* call(run_command(k, g.us, l, mm, cpu));
  check_memory(g.us.m, l.line);
  g.results[cpu]!.push(result);
  if (l.cmd.op === 'fork') yield k.store_release(g.table + p.children.get(l)!, child);
  if (l.cmd.op === 'exit') g.held[cpu]!.delete(l.pid);
}

/* Access `l`'s fault of the page holding `addr` on CPU `cpu`: its signal, if any, is l's result. */
function* thread_fault(
  k: KernelContext,
  g: Globals,
  p: Program,
  cpu: number,
  l: Line,
  addr: number,
  first: boolean,
): KGen {
  const mm = yield* call(thread_mm(k, g, p, cpu, l.pid, first));
  if (mm === 0) return;
  const signal = yield* call(fault_page(k, mm, addr, l.cmd.op === 'write'));
  check_memory(g.us.m, l.line);
  if (signal !== null) g.results[cpu]!.push(signal);
}

/*
 * The start of section `cpu`'s `maps` `l` in a serial order: from here to
 * its end (maps_end()) the maps are kept after every step, since the
 * kernel's reader may show each VMA as any of them has it.
 */
function* maps_start(k: KernelContext, g: Globals, p: Program, cpu: number, l: Line): KGen {
  const mm = yield* call(thread_mm(k, g, p, cpu, l.pid, true));
  if (mm !== 0) g.reading.set(cpu, { mm, states: [] });
}

/*
 * The states between the moves of an `mremap ... fixed=` of the same size
 * over several VMAs, which remap_move() moves one at a time, each to its
 * own offset in the target: after each move but the last, the VMAs moved
 * so far are as `after` has them (at their target, and at their source
 * what MREMAP_DONTUNMAP leaves), the others as `before` has them. A
 * lockless reader may show one not yet moved beside one already moved.
 * None for any other command.
 */
function remap_move_states(
  c: Command,
  before: readonly MapsLine[],
  after: readonly MapsLine[],
): MapsLine[][] {
  if (c.op !== 'mremap' || c.fixed === null || c.new_pages !== c.old_pages) return [];
  const start = c.addr;
  const end = c.addr + c.old_pages * PAGE_SIZE;
  const shift = c.fixed - c.addr;
  const pieces = before.filter((v) => v.end > start && v.start < end);
  const states: MapsLine[][] = [];
  for (let i = 1; i < pieces.length; i++) {
    const moved = pieces.slice(0, i).flatMap((v): [number, number][] => {
      const [s, e] = [Math.max(v.start, start), Math.min(v.end, end)];
      return [
        [s, e],
        [s + shift, e + shift],
      ];
    });
    const kept = unmapped(before, moved).at(-1) ?? [...before];
    const placed = union(moved).flatMap((range) => within(after, range));
    states.push([...kept, ...placed].sort((a, b) => a.start - b.start));
  }
  return states;
}

/* Ranges [start, end) joined where they meet or overlap, ascending. */
function union(ranges: readonly [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [s, e] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = out.at(-1);
    if (last !== undefined && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/* The parts of `lines` within [start, end). */
function within(lines: readonly MapsLine[], [start, end]: [number, number]): MapsLine[] {
  return lines.flatMap((v) =>
    v.end <= start || v.start >= end
      ? []
      : [piece(v, Math.max(v.start, start), Math.min(v.end, end))],
  );
}

/* [start, end) of line `v`: a file's (shmem's) offset moves with the start; anonymous memory shows none. */
function piece(v: MapsLine, start: number, end: number): MapsLine {
  return { ...v, start, end, offset: v.name ? v.offset + start - v.start : 0 };
}

/* `state` with each of `gaps` unmapped in turn: one state a gap. */
function unmapped(state: readonly MapsLine[], gaps: readonly [number, number][]): MapsLine[][] {
  const out: MapsLine[][] = [];
  let s = state;
  for (const [start, end] of gaps) {
    s = s.flatMap((v) => {
      if (v.end <= start || v.start >= end) return [v];
      const pieces: MapsLine[] = [];
      if (v.start < start) pieces.push(piece(v, v.start, start));
      if (v.end > end) pieces.push(piece(v, end, v.end));
      return pieces;
    });
    out.push([...s]);
  }
  return out;
}

/* The end of section `cpu`'s `maps`: its result carries every state since its start. */
function maps_end(g: Globals, cpu: number): void {
  const reading = g.reading.get(cpu);
  const results = g.results[cpu]!;
  const read = results[results.length - 1];
  g.reading.delete(cpu);
  if (reading === undefined || read?.kind !== 'maps') return;
  const last = unlinked_from(g, reading.mm, read.lines);
  results[results.length - 1] = { ...read, states: [...reading.states, last] };
}

/*
 * An unlink step of section `cpu`'s unmapping `l` (serial_steps();
 * `first`: its command's first step): its process looked up, as a
 * command's first step does, and the next range it takes out of the index
 * kept with those before until its command step. In between, a lockless
 * reader of /proc/PID/maps no longer finds those VMAs while another
 * thread's access still reaches their pages: Linux stores the index, then
 * zaps (do_vmi_align_munmap()). An mremap that fails before it unmaps
 * takes its ranges out all the same: the states a reader may show gain
 * some (that range gone), and lose none, since a serial order may place
 * the unlink steps just before the command step.
 */
function* unlink_step(
  k: KernelContext,
  g: Globals,
  p: Program,
  cpu: number,
  l: Line,
  first: boolean,
): KGen {
  const mm = yield* call(thread_mm(k, g, p, cpu, l.pid, first));
  if (mm === 0) return;
  const u = g.unlinked.get(cpu) ?? { mm, ranges: [] };
  g.unlinked.set(cpu, u);
  u.ranges.push(yield* call(unlinked_range(k, mm, l.cmd, u.ranges.length)));
}

/* The maps of `mm`, `lines`, as a lockless reader sees them: without what an unmapping under way took out of the index. */
function unlinked_from(g: Globals, mm: number, lines: readonly MapsLine[]): MapsLine[] {
  const ranges = [...g.unlinked.values()]
    .filter((u) => u.mm === mm)
    .flatMap((u) => u.ranges.filter((r) => r !== null));
  return unmapped(lines, ranges).at(-1) ?? [...lines];
}

/* An mmap's line without MAP_POPULATE: the mapping step of a populating one. */
function without_populate(l: Line): Line {
  return l.cmd.op === 'mmap' ? { ...l, cmd: { ...l.cmd, populate: false } } : l;
}

/*
 * The population step of section `cpu`'s populating mmap `l` (command
 * `index`), where its mapping step placed the mapping: its pages faulted
 * as mm_populate() faults them.
 */
function* thread_populate(k: KernelContext, g: Globals, cpu: number, l: Line, index: number): KGen {
  const placed = g.results[cpu]![index]!;
  const mm = g.held[cpu]!.get(l.pid);
  if (placed.kind !== 'address' || mm === undefined || l.cmd.op !== 'mmap') return;
  yield* call(populate(k, mm, placed.value, l.cmd.pages));
  // The population is the mmap's line's work: memory it exhausts is that line's.
  check_memory(g.us.m, l.line);
}

/* The end of a CPU's section: its threads' references put. */
function* put_held(k: KernelContext, g: Globals, cpu: number): KGen {
  for (const mm of g.held[cpu]!.values()) yield* call(mmput(k, mm));
  g.held[cpu]!.clear();
}
