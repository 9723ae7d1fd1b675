/*
 * Random concurrent scripts for `mmlab fuzz`, from the generator of
 * `mmlab diff` (gen.ts): a setup prefix that maps memory (files, mappings,
 * a stack, writes, maybe a fork), then 2 to 4 CPUs each running 1 to 3
 * commands of any kind.
 *
 * Commands of different CPUs meet only where they touch the same memory,
 * so every section starts from the setup's guessed mappings (each CPU's
 * own commands then move its guess on): most ranges and accesses of every
 * CPU aim at what the setup mapped. Stacks are frequent and so are faults
 * just below them, where a stack grows.
 *
 * The outcome check compares a run with every serial order of the CPUs'
 * commands: their number, (n_0 + ... + n_k)! / (n_0! ... n_k!), is kept
 * at most MAX_SERIAL_ORDERS by shortening the longest section.
 */
import type { Rng } from '../scenarios/random.js';
import type { ConcurrentScript, Line } from '../script/ast.js';
import { type Aim, chance, type Op, ScriptGen, weighted } from './gen.js';

export const MIN_CPUS = 2;
export const MAX_CPUS = 4;
/** The most commands a CPU's section has. */
export const MAX_SECTION = 3;
/** The most serial orders of the CPUs' commands a program has. */
export const MAX_SERIAL_ORDERS = 200;

const FUZZ_AIM: Aim = { growsdown_percent: 25, below_stack_percent: 35 };

/** What a CPU runs: every kind of command but `file` (files belong to the setup). */
const SECTION_OPS: readonly (readonly [Op, number])[] = [
  ['mmap', 12],
  ['munmap', 10],
  ['mprotect', 10],
  ['mremap', 12],
  ['madvise', 8],
  ['brk', 4],
  ['write', 18],
  ['read', 18],
  ['fork', 4],
  ['exit', 4],
];

/** The serial orders of sections of these lengths: the multinomial coefficient. */
export function serial_orders(lengths: readonly number[]): number {
  let orders = 1;
  let n = 0;
  for (const len of lengths) {
    for (let i = 1; i <= len; i++) orders = (orders * ++n) / i;
  }
  return Math.round(orders);
}

/** 1 to MAX_SECTION commands a CPU, the longest cut until the orders are few enough. */
function section_lengths(rng: Rng, cpus: number): number[] {
  const lengths = Array.from({ length: cpus }, () => 1 + rng.below(MAX_SECTION));
  while (serial_orders(lengths) > MAX_SERIAL_ORDERS) {
    const longest = lengths.indexOf(Math.max(...lengths));
    lengths[longest]!--;
  }
  return lengths;
}

/** The setup: a file or two, mappings, maybe a stack, writes into them, maybe a fork. */
function setup(gen: ScriptGen, rng: Rng): void {
  for (let i = rng.below(3); i > 0; i--) gen.declare_file();
  for (let i = 1 + rng.below(3); i > 0; i--) gen.run(0, 'mmap');
  if (chance(rng, 60)) gen.stack(0);
  for (let i = rng.below(3); i > 0; i--) gen.run(0, 'write');
  if (chance(rng, 30)) gen.run(0, 'fork');
}

/**
 * Which process a CPU's command runs in: mostly p0, whose mm every CPU
 * shares (two CPUs in p0 are two of its threads), else a child the setup
 * forked that no other CPU has let exit.
 */
function pick_pid(rng: Rng, pids: readonly number[], gone: ReadonlySet<number>): number {
  const children = pids.filter((p) => p > 0 && !gone.has(p));
  return children.length === 0 || chance(rng, 70) ? 0 : children[rng.below(children.length)]!;
}

/**
 * One CPU's section. A child exits only when no other CPU ran in it (a
 * process exits when its last thread does, and each section is a
 * thread), and ends the section; a child forked in a section is never
 * named, since which number it gets would depend on the order of forks.
 */
function section(
  gen: ScriptGen,
  rng: Rng,
  length: number,
  pids: readonly number[],
  threads: Map<number, Set<number>>,
  cpu: number,
  gone: Set<number>,
): Line[] {
  for (let i = 0; i < length; i++) {
    const pid = pick_pid(rng, pids, gone);
    const cpus = threads.get(pid) ?? new Set<number>();
    const own = pid > 0 && [...cpus].every((c) => c === cpu);
    const op = weighted(
      rng,
      SECTION_OPS.map(([o, w]) => [o, o === 'exit' && !own ? 0 : w] as const),
    );
    threads.set(pid, cpus.add(cpu));
    gen.run(pid, op);
    if (op === 'exit') {
      gone.add(pid);
      break;
    }
  }
  return gen.take();
}

/** One random concurrent script for `cpus` CPUs; the same Rng state gives the same script. */
export function random_concurrent(rng: Rng, cpus: number): ConcurrentScript {
  const gen = new ScriptGen(rng, FUZZ_AIM);
  setup(gen, rng);
  const setup_lines = gen.take();
  const after_setup = gen.save();
  const pids = gen.pids();
  /** The CPUs that ran in each process so far. */
  const threads = new Map<number, Set<number>>();
  const gone = new Set<number>();
  const sections = section_lengths(rng, cpus).map((length, cpu) => {
    gen.restore(after_setup);
    return section(gen, rng, length, pids, threads, cpu, gone);
  });
  const files = setup_lines.flatMap((l) =>
    l.cmd.op === 'file' ? [{ name: l.cmd.name, pages: l.cmd.pages }] : [],
  );
  return { files, setup: setup_lines, cpus: sections };
}
