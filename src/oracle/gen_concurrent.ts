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
 * A program may also pin (with_pin()): one section pins a word the setup
 * populated in private writable memory, accesses it, and unpins it, which
 * reads the word through the pin; other sections race it with a fork, a
 * write, madvise, mprotect or munmap of that page by the same process
 * (where a pin meets fork's COW: seed 004).
 *
 * The outcome check compares a run with every serial order of the CPUs'
 * steps (serial_steps(): a command, or its faults, mapping or lookup and
 * then the rest): their
 * number, (n_0 + ... + n_k)! / (n_0! ... n_k!), is kept at most
 * MAX_FUZZ_ORDERS by shortening the longest section.
 */
import type { Rng } from '../scenarios/random.js';
import {
  type Command,
  type ConcurrentScript,
  declared_files,
  type Line,
  PAGE_SIZE,
  straddles_pages,
  WINDOW_BYTES,
} from '../script/ast.js';
import {
  multinomial,
  parse_concurrent,
  print_concurrent,
  section_steps,
  serial_orders,
} from '../script/concurrent.js';
import type { ModelRun } from '../script/run_model.js';
import { type Aim, chance, type Op, pick, ScriptGen, weighted } from './gen.js';
import { run_setup, vma_aim, vmas_of, word_access, word_in } from './gen_aims.js';
import { duel } from './gen_duel.js';

/** The most commands a CPU's section has. */
export const MAX_SECTION = 3;
/**
 * The most serial orders of the CPUs' commands a program has: far below
 * what the outcome check allows, since it runs them for every program.
 */
export const MAX_FUZZ_ORDERS = 200;

/* A quarter of the window at most for a placed mapping: it lands in the window (docs/explorer.md, "OUTSIDE"). */
const FUZZ_AIM: Aim = {
  growsdown_percent: 25,
  below_stack_percent: 35,
  placed_max_pages: WINDOW_BYTES / PAGE_SIZE / 4,
  secret_percent: 25,
};

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

/**
 * How often a program pins: one of its sections, as seed 004's race needs
 * (a pin of a populated private page, racing a fork on another CPU, then
 * an access that shows which page the pin holds). How often the pin is
 * gup_fast's, and its observation a write (else a read).
 */
const PIN_PERCENT = 45;
const FAST_PIN_PERCENT = 75;
const PIN_WRITE_PERCENT = 80;
/** How often a program without a pin aims at a merge or a move, and how often each other CPU then starts with an access of the VMAs it changes. */
const AIM_PERCENT = 50;
const ACCESS_PERCENT = 80;
/** How often that access is a write rather than a read. */
const AIM_WRITE_PERCENT = 60;
/** How often each other section ends racing the pin: a command of the pinning process on its page. */
const PARTNER_PERCENT = 75;
const PARTNER_OPS: readonly (readonly [
  Extract<Op, 'fork' | 'write' | 'madvise' | 'mprotect' | 'munmap'>,
  number,
])[] = [
  ['fork', 60],
  ['write', 15],
  ['madvise', 15],
  ['mprotect', 10],
  ['munmap', 10],
];

/** What a program pins: a word of process `pid`, and the setup's write that populates it if one was added. */
interface PinTarget {
  readonly pid: number;
  readonly addr: number;
  readonly populate: Line | null;
}

/* Whether `addr` lies in private writable memory of `pid` (fork write-protects it for COW). */
function in_cow_memory(run: ModelRun, pid: number, addr: number): boolean {
  return vmas_of(run, pid).some(
    (v) => v.start <= addr && addr < v.end && v.perm[1] === 'w' && v.perm[3] === 'p',
  );
}

/*
 * A word the setup populated in private writable memory of a process left
 * alive (the setup run alone on the model says which: it places mappings
 * as the explored run will); if it wrote none, a word of a private
 * anonymous mapping, with the setup write that populates it.
 */
function pin_target(rng: Rng, setup: readonly Line[]): PinTarget | null {
  const run = run_setup(setup);
  if (run === null) return null;
  const written = setup.flatMap((l, i) =>
    l.cmd.op === 'write' && run.results[i] === 'ok' && in_cow_memory(run, l.pid, l.cmd.addr)
      ? [{ pid: l.pid, addr: l.cmd.addr & ~3, populate: null }]
      : [],
  );
  if (written.length > 0) return written[rng.below(written.length)]!;
  const anon = run.maps.flatMap(({ pid, vmas }) =>
    vmas.filter((v) => v.perm === 'rw-p' && v.name === '').map((v) => ({ pid, v })),
  );
  if (anon.length === 0) return null;
  const { pid, v } = anon[rng.below(anon.length)]!;
  const page = v.start + PAGE_SIZE * rng.below((v.end - v.start) / PAGE_SIZE);
  const addr = page + 4 * rng.below(PAGE_SIZE / 4);
  const populate: Line = { line: 0, pid, cmd: { op: 'write', addr, value: rng.next_u32() } };
  return { pid, addr, populate };
}

/* A command of the pinning process on the pinned page, racing the pin from another CPU. */
function partner(rng: Rng, t: PinTarget): Line {
  const page = t.addr - (t.addr % PAGE_SIZE);
  const cmd: Command = (() => {
    switch (weighted(rng, PARTNER_OPS)) {
      case 'fork':
        return { op: 'fork' };
      case 'write':
        return { op: 'write', addr: t.addr, value: rng.next_u32() };
      case 'madvise':
        return { op: 'madvise', addr: page, pages: 1, advice: 'dontneed' };
      case 'mprotect':
        return {
          op: 'mprotect',
          addr: page,
          pages: 1,
          prot: { read: true, write: false, exec: false },
        };
      case 'munmap':
        return { op: 'munmap', addr: page, pages: 1 };
    }
  })();
  return { line: 0, pid: t.pid, cmd };
}

/*
 * With PIN_PERCENT, the class of seed 004: one section's commands from a
 * random point on give way to `pin A [fast]`, an access of A (a write,
 * after which the unpin shows whether the pin still holds the process's
 * page, or a read) and `unpin A`, A a word pin_target() finds; commands
 * before the pin are dropped, then other sections' last ones, while the
 * serial orders are too many (no pin if that is not enough). Each other
 * section then, with PARTNER_PERCENT, ends with partner() instead of its
 * last command. The setup gains the write that populates A if it had none.
 */
function with_pin(rng: Rng, sections: readonly Line[][], setup: readonly Line[]): Aimed {
  const none = { sections: sections.map((c) => [...c]), setup, aimed: false };
  if (!chance(rng, PIN_PERCENT)) return none;
  // The pinned program is built in a copy: `none` stays the sections as drawn.
  const out = sections.map((c) => [...c]);
  const t = pin_target(rng, setup);
  if (t === null) return none;
  const pinning = rng.below(sections.length);
  let at = rng.below(sections[pinning]!.length);
  const { pid, addr } = t;
  const pin: Line = { line: 0, pid, cmd: { op: 'pin', addr, fast: chance(rng, FAST_PIN_PERCENT) } };
  const access: Line = chance(rng, PIN_WRITE_PERCENT)
    ? { line: 0, pid, cmd: { op: 'write', addr, value: rng.next_u32() } }
    : { line: 0, pid, cmd: { op: 'read', addr } };
  const unpin: Line = { line: 0, pid, cmd: { op: 'unpin', addr } };
  const pinned = () => [...sections[pinning]!.slice(0, at), pin, access, unpin];
  out[pinning] = pinned();
  const orders = () => serial_orders({ setup, cpus: out });
  while (orders() > MAX_FUZZ_ORDERS) {
    if (at > 0) {
      at--;
      out[pinning] = pinned();
      continue;
    }
    const others = out.filter((c, i) => i !== pinning && c.length > 1);
    if (others.length === 0) return none;
    const steps = section_steps({ setup, cpus: others });
    others[steps.indexOf(Math.max(...steps))]!.pop();
  }
  for (const [i, c] of out.entries()) {
    if (i === pinning || !chance(rng, PARTNER_PERCENT)) continue;
    const last = c[c.length - 1]!;
    c[c.length - 1] = partner(rng, t);
    // A partner's access has more steps than the command it replaces where faults are apart.
    if (orders() > MAX_FUZZ_ORDERS) c[c.length - 1] = last;
  }
  return {
    sections: out,
    setup: t.populate === null ? setup : [...setup, t.populate],
    aimed: true,
  };
}

/** Sections and setup after an aim was tried: `aimed` if it changed them. */
interface Aimed {
  readonly sections: Line[][];
  readonly setup: readonly Line[];
  readonly aimed: boolean;
}

/*
 * With AIM_PERCENT, a merge or a move (gen_aims.ts): one section gains
 * the aim's command before its own, each other section, with
 * ACCESS_PERCENT, a read or write of a word of the VMAs it changes; the
 * setup gains the aim's lines. The commands drawn stay behind them, as
 * far as MAX_FUZZ_ORDERS allows (fit_orders() cuts from the ends); where
 * the fit would cut the aim's command itself, the program goes without
 * the aim.
 */
function with_vma_aim(rng: Rng, sections: readonly Line[][], setup: readonly Line[]): Aimed {
  const none = { sections: sections.map((c) => [...c]), setup, aimed: false };
  if (!chance(rng, AIM_PERCENT)) return none;
  const aim = vma_aim(rng, setup);
  if (aim === null) return none;
  const aiming = rng.below(sections.length);
  const out = sections.map((c, i) => {
    if (i === aiming) return [aim.line, ...c];
    if (!chance(rng, ACCESS_PERCENT)) return [...c];
    return [word_access(rng, word_in(rng, pick(rng, aim.ranges)), AIM_WRITE_PERCENT), ...c];
  });
  const aimed_setup = [...setup, ...aim.setup];
  const fitted = fit_orders(out, aimed_setup);
  if (fitted[aiming]![0] !== aim.line) return none;
  return { sections: fitted, setup: aimed_setup, aimed: true };
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
 * The sections cut until their serial orders, counted in steps
 * (serial_steps(): a read or write across pages, or any where the script
 * maps a stack or a section runs mremap or fork, is a fault a page and
 * the access; a populating mmap two steps, as is an exit of a process
 * two sections exit), are at most
 * MAX_FUZZ_ORDERS: the section with the most steps loses its last
 * command; one left with a single command is a straddling access, which
 * is moved to the last word of its first page, or else (a fault and an
 * access) the next section with more than one command loses its last.
 * Sections of one command of at most two steps are kept as they are: at
 * most 2,520 orders for four CPUs, within what the outcome check runs.
 */
function fit_orders(sections: readonly Line[][], setup: readonly Line[]): Line[][] {
  const cut = sections.map((c) => [...c]);
  while (serial_orders({ setup, cpus: cut }) > MAX_FUZZ_ORDERS) {
    const steps = section_steps({ setup, cpus: cut });
    const most = (of: readonly number[]) => cut[of.indexOf(Math.max(...of))]!;
    const first = most(steps);
    const longer = most(steps.map((n, i) => (cut[i]!.length > 1 ? n : 0)));
    if (first.length > 1) first.pop();
    else if (straddles_pages(first[0]!.cmd)) first[0] = within_a_page(first[0]!);
    else if (longer.length > 1) longer.pop();
    else break;
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
 * An exit ends that process (the other sections' later commands of it
 * print ESRCH once it has run), and here its section; a
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
  // Pins drawn last, and merges and moves where there is no pin: the
  // commands drawn before them are what they were before these aims existed.
  const pinned = with_pin(rng, fit_orders(drawn, setup_lines), setup_lines);
  const { sections, setup: setup_aimed } = pinned.aimed
    ? pinned
    : with_vma_aim(rng, pinned.sections, setup_lines);
  return concurrent(setup_aimed, with_maps(rng, sections, setup_aimed));
}

/** The programs with a `maps` in a section (with_maps()). */
const MAPS_PERCENT = 20;

/**
 * A `maps` of p0 in one section, drawn last, so that a program without
 * one is what it was before: /proc/PID/maps read a VMA at a time under
 * per-VMA locks while the other sections change p0's VMAs. Never after
 * an exit (which ends its section); left out where its two steps
 * (serial_steps()) take the serial orders past MAX_FUZZ_ORDERS.
 */
function with_maps(rng: Rng, sections: Line[][], setup: readonly Line[]): Line[][] {
  if (!chance(rng, MAPS_PERCENT)) return sections;
  const i = rng.below(sections.length);
  const c = sections[i]!;
  const at = rng.below(c.length + (c.at(-1)?.cmd.op === 'exit' ? 0 : 1));
  const maps: Line = { line: 0, pid: 0, cmd: { op: 'maps' } };
  const out = sections.map((x, j) => (j === i ? [...x.slice(0, at), maps, ...x.slice(at)] : x));
  return serial_orders({ setup, cpus: out }) > MAX_FUZZ_ORDERS ? sections : out;
}

/** A duel (gen_duel.ts) for `cpus` CPUs, its sections kept to the serial orders of any program; null if none fits. */
export function duel_concurrent(rng: Rng, cpus: number): ConcurrentScript | null {
  const d = duel(rng, cpus);
  return d === null ? null : concurrent(d.setup, fit_orders(d.sections, d.setup));
}

/* The script of `setup` and `sections`, printed and read back: the lines numbered as the text has them, and every name checked. */
function concurrent(setup: readonly Line[], sections: readonly Line[][]): ConcurrentScript {
  const files = declared_files(setup);
  return parse_concurrent(print_concurrent({ files, setup, cpus: sections }));
}
