/*
 * Concurrent scripts (docs/scripts.md, "Concurrent scripts"): a setup,
 * then 2 to 4 `cpu N:` sections that run side by side. Every process is
 * named before anything runs: a fork's child is the next unused pN in
 * text order (the setup's forks, then each section's in turn), so names
 * never depend on the interleaving. Everything a name can be checked for
 * is checked here, so that a bad script explores nothing.
 */
import {
  type Command,
  type ConcurrentScript,
  check_unpins,
  type FileDecl,
  file_decl,
  is_outside,
  type Line,
  mremap_unmaps,
  ScriptError,
  straddles_pages,
} from './ast.js';
import { CPU_HEADER, line_words, parse_command } from './parse.js';
import { format_line } from './print.js';

export const MIN_CPUS = 2;
export const MAX_CPUS = 4;
/**
 * The most serial orders a script may have: the outcome check runs each
 * of them once (the sections' steps multinomial, see serial_orders()).
 */
export const MAX_SERIAL_ORDERS = 5000;

/**
 * One step of a command that a serial order places apart from others
 * (docs/scripts.md, "The steps of a serial order"): the fault of the page
 * holding window offset `addr`, before a read or write; the mapping of a
 * populating mmap, before its population; the thread's lookup of its
 * process, before an exit that another section's exit of it may follow;
 * the start of a `maps` read, whose lines may each come from any point
 * from there to its end (its command step); an unmapping's removal of
 * VMAs from the index, which a `maps` may show before the command unmaps
 * their pages;
 * or the command itself (all of it, or what its earlier steps left: the
 * access, the population, the exit, the end of the read, the unmapping).
 */
export type SerialStep =
  | { readonly kind: 'fault'; readonly addr: number }
  | { readonly kind: 'map' }
  | { readonly kind: 'lookup' }
  | { readonly kind: 'open' }
  | { readonly kind: 'unlink' }
  | { readonly kind: 'command' };

/** Whether a section of `s` reads /proc/PID/maps. */
export function reads_maps(s: Pick<ConcurrentScript, 'cpus'>): boolean {
  return s.cpus.some((c) => c.some((l) => l.cmd.op === 'maps'));
}

/*
 * How many ranges `c` takes out of the index, each before it unmaps their
 * pages, as do_vmi_align_munmap() does (the tree store, then
 * vms_complete_munmap_vmas() zaps): a munmap's, a brk's that shrinks, and
 * an mremap's destination (fixed=) and then its shrunk tail
 * (mremap_unmaps()). A MAP_FIXED mmap zaps first (vms_clear_ptes()) and
 * stores after, since f8d112a4e657.
 */
function unlinks(c: Command): number {
  if (c.op === 'munmap' || c.op === 'brk') return 1;
  return c.op === 'mremap' ? mremap_unmaps(c).length : 0;
}

/**
 * Whether a fault's effect that other commands can see comes apart from
 * its access in `s`, which is so where the script maps a growsdown VMA (a
 * fault may grow the stack: maps that another CPU's mmap, munmap or fork
 * sees before the access is restarted) or a section runs mremap (a fault
 * gives its VMA an anon_vma, and copy_vma() moves a VMA without one to the
 * pgoff of its new place, where it may merge). Elsewhere a fault only
 * fills a page its access then uses.
 */
export function faults_apart(s: Pick<ConcurrentScript, 'setup' | 'cpus'>): boolean {
  return (
    [...s.setup, ...s.cpus.flat()].some((l) => l.cmd.op === 'mmap' && l.cmd.growsdown) ||
    s.cpus.flat().some((l) => l.cmd.op === 'mremap' || l.cmd.op === 'fork')
  );
}

/** The processes that sections exit: each with how many sections exit it. */
export function exiting_sections(s: Pick<ConcurrentScript, 'cpus'>): ReadonlyMap<number, number> {
  const sections = new Map<number, number>();
  for (const c of s.cpus)
    for (const pid of new Set(c.flatMap((l) => (l.cmd.op === 'exit' ? [l.pid] : []))))
      sections.set(pid, (sections.get(pid) ?? 0) + 1);
  return sections;
}

/**
 * The processes that more than one section exits. Each of those exits
 * finds its process (get_task_mm() at its first step) apart from exiting
 * it, so two of them may both find it alive and both exit it: in Linux
 * two threads' exit_group() both end the process, neither fails.
 */
export function exits_apart(s: Pick<ConcurrentScript, 'cpus'>): ReadonlySet<number> {
  return new Set([...exiting_sections(s)].flatMap(([pid, n]) => (n > 1 ? [pid] : [])));
}

/**
 * The steps of line `l` in a serial order (`apart`: faults_apart() of its
 * script; `exits`: its exits_apart()): a read or write that straddles two
 * pages, or any read or write where faults are apart, is the fault of each
 * page it touches, then the access, as the instruction is restarted after
 * each fault; an `mmap ... populate` is the mapping (under the mmap write
 * lock), then the faults of mm_populate(), which vm_mmap_pgoff() runs
 * after dropping it; an exit of a process another section exits too is
 * the lookup, then the exit; a `maps` is its start (m_start()), then its
 * end, as the kernel reads the file a VMA at a time between them; where a
 * section reads the maps (`maps`: reads_maps()), an unmapping (unlinks())
 * is the removal of each of its ranges from the index in turn, which a
 * lockless reader sees while another thread's accesses still reach their
 * pages, then the rest; any other command is one step.
 */
export function serial_steps(
  l: Line,
  apart: boolean,
  exits: ReadonlySet<number>,
  maps: boolean,
): SerialStep[] {
  const c = l.cmd;
  if (is_outside(c)) return [{ kind: 'command' }];
  if (c.op === 'mmap' && c.populate) return [{ kind: 'map' }, { kind: 'command' }];
  if (c.op === 'exit' && exits.has(l.pid)) return [{ kind: 'lookup' }, { kind: 'command' }];
  if (c.op === 'maps') return [{ kind: 'open' }, { kind: 'command' }];
  const unlink: SerialStep[] = maps
    ? Array.from({ length: unlinks(c) }, () => ({ kind: 'unlink' }))
    : [];
  if (unlink.length > 0) return [...unlink, { kind: 'command' }];
  if ((c.op !== 'read' && c.op !== 'write') || !(apart || straddles_pages(c)))
    return [{ kind: 'command' }];
  const pages = straddles_pages(c) ? [c.addr, c.addr + 3] : [c.addr];
  return [...pages.map((addr): SerialStep => ({ kind: 'fault', addr })), { kind: 'command' }];
}

/** A serial step of a section: one of serial_steps() of its command `index`. */
export interface SectionStep {
  readonly index: number;
  readonly step: SerialStep;
}

/** Each section's serial steps, in order: its commands' serial_steps(). */
export function steps_of(s: Pick<ConcurrentScript, 'setup' | 'cpus'>): SectionStep[][] {
  const apart = faults_apart(s);
  const exits = exits_apart(s);
  const maps = reads_maps(s);
  return s.cpus.map((c) =>
    c.flatMap((l, index) => serial_steps(l, apart, exits, maps).map((step) => ({ index, step }))),
  );
}

/** How many steps each section has (steps_of() counted). */
export function section_steps(s: Pick<ConcurrentScript, 'setup' | 'cpus'>): number[] {
  return steps_of(s).map((c) => c.length);
}

/** How many orders of the sections' steps keep each CPU's own order: (n1+..+nk)! / (n1!..nk!). */
export function serial_orders(s: Pick<ConcurrentScript, 'setup' | 'cpus'>): number {
  return multinomial(section_steps(s));
}

/** How many ways interleave sequences of these lengths, each kept in order: (n1+..+nk)! / (n1!..nk!). */
export function multinomial(lengths: readonly number[]): number {
  let orders = 1;
  let total = 0;
  for (const n of lengths)
    for (let i = 1; i <= n; i++) {
      total++;
      orders = (orders * total) / i;
    }
  return Math.round(orders);
}

/** A section as written: its header's line and its lines, commands parsed, pids not yet checked. */
interface Section {
  readonly header: number;
  readonly lines: Line[];
}

export function parse_concurrent(text: string): ConcurrentScript {
  const files: FileDecl[] = [];
  const setup: Line[] = [];
  const sections: Section[] = [];
  const src = text.split('\n');
  for (let i = 0; i < src.length; i++) {
    const line = i + 1;
    const header = CPU_HEADER.exec(src[i]!.replace(/#.*/, '').trim());
    if (header) {
      const n = Number(header[1]);
      if (n !== sections.length)
        throw new ScriptError(
          line,
          `cpu ${n}: sections are numbered from 0 without gaps: this one must be cpu ${sections.length}:`,
        );
      if (n >= MAX_CPUS) throw new ScriptError(line, `at most ${MAX_CPUS} cpu sections`);
      end_section(sections);
      sections.push({ header: line, lines: [] });
      continue;
    }
    const w = line_words(src[i]!, line);
    if (w === null) continue;
    const cmd = parse_command(w.op, w.args, line, files);
    if (cmd.op === 'file') {
      if (sections.length > 0)
        throw new ScriptError(line, 'file declarations belong to the setup, before cpu 0:');
      files.push(file_decl(cmd));
    }
    (sections.at(-1)?.lines ?? setup).push({ line, pid: w.pid, cmd });
  }
  end_section(sections);
  if (sections.length < MIN_CPUS)
    throw new ScriptError(
      sections[0]?.header ?? 1,
      `a concurrent script has ${MIN_CPUS} to ${MAX_CPUS} sections (cpu 0:, cpu 1:, ...), not ${sections.length}`,
    );
  const s: ConcurrentScript = { files, setup, cpus: sections.map((x) => x.lines) };
  check_concurrent(s);
  return s;
}

/**
 * What parse_concurrent() holds a script to beyond its syntax, for one
 * built otherwise (mmlab fuzz's): 2 to 4 sections, none empty, files
 * declared in the setup, every pid a line names able to exist when it
 * runs, every unpin after its pin in the same section, and at most MAX_SERIAL_ORDERS serial orders. Throws a ScriptError.
 */
export function check_concurrent(s: ConcurrentScript): void {
  const first = s.setup[0]?.line ?? s.cpus[0]?.[0]?.line ?? 1;
  if (s.cpus.length < MIN_CPUS || s.cpus.length > MAX_CPUS)
    throw new ScriptError(
      first,
      `a concurrent script has ${MIN_CPUS} to ${MAX_CPUS} sections, not ${s.cpus.length}`,
    );
  s.cpus.forEach((c, cpu) => {
    if (c.length === 0) throw new ScriptError(first, `cpu ${cpu}: has no commands`);
    const file = c.find((l) => l.cmd.op === 'file');
    if (file)
      throw new ScriptError(file.line, 'file declarations belong to the setup, before cpu 0:');
  });
  check_pids(s);
  // A pin is one thread's: its unpin comes later in the same section (or the setup).
  check_unpins(s.setup, ' in the setup');
  for (const [cpu, c] of s.cpus.entries()) check_unpins(c, ` on cpu ${cpu}`);
  check_orders(s);
}

/* The section before a new header (or the end) must not be empty. */
function end_section(sections: readonly Section[]): void {
  const last = sections.at(-1);
  if (last && last.lines.length === 0)
    throw new ScriptError(
      last.header,
      `cpu ${sections.length - 1}: has no commands (each section runs at least one)`,
    );
}

/** Refuse a script whose outcome check would run more than MAX_SERIAL_ORDERS orders. */
function check_orders(s: ConcurrentScript): void {
  const orders = serial_orders(s);
  if (orders > MAX_SERIAL_ORDERS)
    throw new ScriptError(
      s.cpus.at(-1)![0]!.line,
      `the sections' commands have ${orders} serial orders, more than the ${MAX_SERIAL_ORDERS} the outcome check runs (counted in steps: docs/scripts.md, "The steps of a serial order"): shorten the sections`,
    );
}

/**
 * The child each fork creates, by text order: the setup's forks, then
 * each section's in turn. Keyed by the fork's Line.
 */
export function fork_children(s: ConcurrentScript): Map<Line, number> {
  const children = new Map<Line, number>();
  let next = 1;
  for (const l of [...s.setup, ...s.cpus.flat()]) if (l.cmd.op === 'fork') children.set(l, next++);
  return children;
}

/*
 * Every pid a line names can exist when it runs: after the setup (which
 * is a sequential script), a CPU may name a process the setup left alive,
 * one its own earlier fork created, or one another CPU's fork creates (it
 * may not exist yet: the command then prints ESRCH). An exit ends the
 * process: the CPU names it no more (another CPU may, and gets ESRCH once
 * the exit has run).
 */
function check_pids(s: ConcurrentScript): void {
  const children = fork_children(s);
  const live = new Set<number>([0]);
  const exited = new Set<number>();
  for (const l of s.setup) {
    if (exited.has(l.pid)) throw new ScriptError(l.line, `p${l.pid} has exited`);
    if (!live.has(l.pid)) throw new ScriptError(l.line, never_created(l.pid, children));
    if (l.cmd.op === 'fork') live.add(children.get(l)!);
    if (l.cmd.op === 'exit') {
      live.delete(l.pid);
      exited.add(l.pid);
    }
  }
  s.cpus.forEach((section, cpu) => {
    const forks = (lines: readonly Line[]) =>
      lines.filter((l) => l.cmd.op === 'fork').map((l) => children.get(l)!);
    const elsewhere = new Set(s.cpus.flatMap((other, j) => (j === cpu ? [] : forks(other))));
    const mine = new Set(live);
    const gone = new Set(exited);
    section.forEach((l, i) => {
      const { pid } = l;
      if (gone.has(pid))
        throw new ScriptError(
          l.line,
          `p${pid} has exited${exited.has(pid) ? '' : ` on cpu ${cpu}`}`,
        );
      if (!mine.has(pid) && !elsewhere.has(pid))
        throw new ScriptError(
          l.line,
          forks(section.slice(i)).includes(pid)
            ? `p${pid} does not exist yet on cpu ${cpu} (its fork comes later)`
            : never_created(pid, children),
        );
      if (l.cmd.op === 'fork') mine.add(children.get(l)!);
      if (l.cmd.op === 'exit') gone.add(pid);
    });
  });
}

function never_created(pid: number, children: ReadonlyMap<Line, number>): string {
  const forks = [...children.values()].map((p) => `p${p}`);
  return `p${pid} does not exist (no fork creates it; the forks create ${forks.join(', ') || 'none'})`;
}

function format_section(lines: readonly Line[], cpu: number): string {
  return `cpu ${cpu}:\n${lines.map((l) => `  ${format_line(l)}\n`).join('')}`;
}

/** A concurrent script as text that parse_concurrent() reads back to the same script. */
export function print_concurrent(s: ConcurrentScript): string {
  return [s.setup.map((l) => `${format_line(l)}\n`).join(''), ...s.cpus.map(format_section)].join(
    '',
  );
}
