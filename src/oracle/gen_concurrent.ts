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
 * A section may also pin a page the setup wrote (mapped and populated:
 * where a pin races with fork's COW, seed 004) and unpin it later in the
 * section, which reads the word through the pin.
 *
 * The outcome check compares a run with every serial order of the CPUs'
 * steps (a command, or three for a read or write across pages): their
 * number, (n_0 + ... + n_k)! / (n_0! ... n_k!), is kept at most
 * MAX_FUZZ_ORDERS by shortening the longest section.
 */
import type { Rng } from '../scenarios/random.js';
import type { ConcurrentScript, Line } from '../script/ast.js';
import {
  multinomial,
  parse_concurrent,
  print_concurrent,
  section_steps,
  serial_orders,
} from '../script/concurrent.js';
import { type Aim, chance, type Op, ScriptGen, weighted } from './gen.js';

/** The most commands a CPU's section has. */
export const MAX_SECTION = 3;
/**
 * The most serial orders of the CPUs' commands a program has: far below
 * what the outcome check allows, since it runs them for every program.
 */
export const MAX_FUZZ_ORDERS = 200;

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

/** How often a section pins a page the setup wrote, and how often such a pin is gup_fast's. */
const PIN_PERCENT = 15;
const FAST_PIN_PERCENT = 60;

/*
 * With PIN_PERCENT, `pin A [fast]` before one of the section's commands
 * and `unpin A` after a later one (or at the end), A the aligned word of
 * an address the setup wrote, in a process the section names. The pair
 * replaces a command when the section has room for it alone (its serial
 * orders stay as they were).
 */
function with_pin(rng: Rng, lines: Line[], written: readonly number[]): Line[] {
  if (written.length === 0 || lines.length < 2 || !chance(rng, PIN_PERCENT)) return lines;
  const addr = written[rng.below(written.length)]! & ~3;
  const at = rng.below(lines.length - 1);
  const { pid, line } = lines[at]!;
  const pin: Line = { line, pid, cmd: { op: 'pin', addr, fast: chance(rng, FAST_PIN_PERCENT) } };
  const unpin: Line = { line, pid, cmd: { op: 'unpin', addr } };
  // Two of the section's commands give way, so that its length stays the same.
  const rest = lines.slice(at + 1, -1);
  return [...lines.slice(0, at), pin, ...rest, unpin];
}

/** 1 to MAX_SECTION commands a CPU, the longest cut until the orders of commands are few enough. */
function section_lengths(rng: Rng, cpus: number): number[] {
  const lengths = Array.from({ length: cpus }, () => 1 + rng.below(MAX_SECTION));
  while (multinomial(lengths) > MAX_FUZZ_ORDERS) {
    const longest = lengths.indexOf(Math.max(...lengths));
    lengths[longest]!--;
  }
  return lengths;
}

/*
 * The sections cut until their serial orders, which count the three steps
 * of a read or write across pages (serial_steps()), are at most
 * MAX_FUZZ_ORDERS: the section with the most steps loses its last
 * command; one left with a single command is a straddling access, which
 * is moved to the last word of its first page.
 */
function fit_orders(sections: readonly Line[][]): Line[][] {
  const cut = sections.map((c) => [...c]);
  while (serial_orders({ cpus: cut }) > MAX_FUZZ_ORDERS) {
    const steps = section_steps({ cpus: cut });
    const most = cut[steps.indexOf(Math.max(...steps))]!;
    if (most.length > 1) most.pop();
    else most[0] = within_a_page(most[0]!);
  }
  return cut;
}

/* A read or write across pages moved to the last word of its first page. */
function within_a_page(l: Line): Line {
  if (l.cmd.op !== 'read' && l.cmd.op !== 'write') return l;
  return { ...l, cmd: { ...l.cmd, addr: l.cmd.addr & ~3 } };
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
 * One CPU's section, its commands in processes the setup left (mostly
 * p0, whose mm every CPU shares: two CPUs in p0 are two of its threads).
 * An exit ends the CPU's thread of that process, and here its section; a
 * child forked in a section is never named, so that a section's commands
 * do not depend on which fork came first.
 */
function section(gen: ScriptGen, rng: Rng, length: number, pids: readonly number[]): Line[] {
  for (let i = 0; i < length; i++) {
    const pid = pids.length === 1 || chance(rng, 70) ? 0 : pids[1 + rng.below(pids.length - 1)]!;
    if (gen.run(pid, weighted(rng, SECTION_OPS)).op === 'exit') break;
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
  const drawn = section_lengths(rng, cpus).map((length) => {
    gen.restore(after_setup);
    return section(gen, rng, length, pids);
  });
  // Pins drawn last: the commands drawn before them are what they were before pins existed.
  const sections = fit_orders(drawn).map((lines) => with_pin(rng, lines, after_setup.written));
  const files = setup_lines.flatMap((l) =>
    l.cmd.op === 'file' ? [{ name: l.cmd.name, pages: l.cmd.pages }] : [],
  );
  // Printed and read back: the lines numbered as the text has them, and every name checked.
  return parse_concurrent(print_concurrent({ files, setup: setup_lines, cpus: sections }));
}
