/*
 * Print a parsed script back as canonical text: what `mmlab diff` shows of
 * a (minimized) failing script, and what it feeds both runners. And print
 * what a run gives (a command's result, a final word) from its value: the
 * outcome check compares the values, users read these lines.
 */
import type { Command, Line, Prot } from './ast.js';

/** A window offset or length as scripts and results write it. */
export const hex = (n: number) => `0x${n.toString(16)}`;

/** One VMA as /proc/PID/maps shows it, window-relative: a line of `maps`. */
export interface MapsLine {
  readonly start: number;
  readonly end: number;
  readonly perm: string;
  readonly offset: number;
  readonly name: string;
}

/**
 * A command's result as a value: a word read (a read's, an unpin's), an
 * address (a window offset) where mmap or mremap placed a mapping or brk
 * left the break, a signal an access took, an errno, or `ok` / `OUTSIDE`
 * (a command or a mapping below the window). format_result() prints it.
 */
export type Result =
  | { readonly kind: 'word'; readonly value: number }
  | { readonly kind: 'address'; readonly value: number }
  | Signal
  | { readonly kind: 'errno'; readonly value: string }
  | { readonly kind: 'text'; readonly value: 'ok' | 'OUTSIDE' }
  | MapsRead;

/**
 * What a `maps` printed: its lines, and as `value` the line of text they
 * print. In a serial order (linearizable.ts) `states` holds the maps at
 * each point of the order from the read's start to its end: a racing read
 * may show each VMA as one of them had it.
 */
export interface MapsRead {
  readonly kind: 'maps';
  readonly value: string;
  readonly lines: readonly MapsLine[];
  readonly states?: readonly (readonly MapsLine[])[];
}

/** A VMA's line as a run prints it: `00010000-00012000 rw-p 00000000 f1`. */
export function format_maps_line(v: MapsLine): string {
  // The offset as show_vma_header_prefix() prints it: at least 8 hex digits, and all of them.
  const offset = v.offset.toString(16).padStart(8, '0');
  return `${hex8(v.start)}-${hex8(v.end)} ${v.perm} ${offset}${v.name ? ` ${v.name}` : ''}`;
}

const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/** The result of a `maps` that read `lines`: one line of text, `none` for an empty window. */
export function maps_read(lines: readonly MapsLine[]): MapsRead {
  return { kind: 'maps', value: lines.map(format_maps_line).join(', ') || 'none', lines };
}

/** The signal an access took. */
export type Signal = { readonly kind: 'signal'; readonly value: 'SIGSEGV' | 'SIGBUS' };

/** What a user read of a word gives: the word (unsigned), or the signal it took. */
export type WordRead = Extract<Result, { kind: 'word' | 'signal' }>;

export const OK: Result = { kind: 'text', value: 'ok' };
export const OUTSIDE: Result = { kind: 'text', value: 'OUTSIDE' };

/** The word `value` as a read of it gives it (the bits of a 32-bit word, unsigned). */
export const word_read = (value: number): WordRead => ({ kind: 'word', value: value >>> 0 });

/** A result as a run prints it: `= 0x0000002a`, `0x10000`, SIGSEGV, EINVAL, ok. */
export function format_result(r: Result): string {
  if (r.kind === 'word') return `= 0x${r.value.toString(16).padStart(8, '0')}`;
  return r.kind === 'address' ? hex(r.value) : r.value;
}

/** Whether `a` is `b`: the same kind, the same value (what format_result() would print alike). */
export function same_result(a: Result, b: Result): boolean {
  return a.kind === b.kind && a.value === b.value;
}

/** A word at the end of a run: process `pid`'s at window offset `addr`, as a read of it gives it. */
export interface FinalWord {
  readonly pid: number;
  readonly addr: number;
  readonly read: WordRead;
}

/** A final word as the outcome check prints it: `p0 0x10000 = 0x00000007`. */
export function format_word(w: FinalWord): string {
  return `p${w.pid} ${hex(w.addr)} ${format_result(w.read)}`;
}

/** Whether `a` is `b`: the same process's word at the same address, read the same. */
export function same_word(a: FinalWord, b: FinalWord | undefined): boolean {
  return b !== undefined && a.pid === b.pid && a.addr === b.addr && same_result(a.read, b.read);
}

function format_prot(p: Prot): string {
  return `${p.read ? 'r' : '-'}${p.write ? 'w' : '-'}${p.exec ? 'x' : '-'}`;
}

function format_command(c: Command): string {
  switch (c.op) {
    case 'file':
      return `file ${c.name} ${c.pages}${c.secret ? ' secret' : ''}`;
    case 'mmap': {
      const flags = [c.shared ? 'shared' : 'private', c.file === null ? 'anon' : `file=${c.file}`];
      if (c.off !== 0) flags.push(`off=${c.off}`);
      if (c.fixed) flags.push('fixed');
      if (c.noreplace) flags.push('noreplace');
      if (c.populate) flags.push('populate');
      if (c.growsdown) flags.push('growsdown');
      return `mmap ${c.addr === null ? '-' : hex(c.addr)} ${c.pages} ${format_prot(c.prot)} ${flags.join(' ')}`;
    }
    case 'munmap':
      return `munmap ${hex(c.addr)} ${c.pages}`;
    case 'mprotect':
      return `mprotect ${hex(c.addr)} ${c.pages} ${format_prot(c.prot)}`;
    case 'mremap': {
      const flags: string[] = [];
      if (c.maymove) flags.push('maymove');
      if (c.dontunmap) flags.push('dontunmap');
      if (c.fixed !== null) flags.push(`fixed=${hex(c.fixed)}`);
      return `mremap ${hex(c.addr)} ${c.old_pages} ${c.new_pages}${flags.length ? ` ${flags.join(' ')}` : ''}`;
    }
    case 'madvise':
      return `madvise ${hex(c.addr)} ${c.pages} ${c.advice}`;
    case 'brk':
      return `brk ${hex(c.addr)}`;
    case 'write':
      return `write ${hex(c.addr)} ${hex(c.value)}`;
    case 'read':
      return `read ${hex(c.addr)}`;
    case 'pin':
      return `pin ${hex(c.addr)}${c.fast ? ' fast' : ''}`;
    case 'unpin':
      return `unpin ${hex(c.addr)}`;
    case 'fork':
    case 'exit':
    case 'maps':
      return c.op;
  }
}

export function format_line(l: Line): string {
  return l.pid === 0 ? format_command(l.cmd) : `p${l.pid} ${format_command(l.cmd)}`;
}

export function format_script(lines: readonly Line[]): string {
  return `${lines.map(format_line).join('\n')}\n`;
}
