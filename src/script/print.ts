/*
 * Print a parsed script back as canonical text: what `mmlab diff` shows of
 * a (minimized) failing script, and what it feeds both runners.
 */
import type { Command, Line, Prot } from './ast.js';

/** A window offset or length as scripts and results write it. */
export const hex = (n: number) => `0x${n.toString(16)}`;

function format_prot(p: Prot): string {
  return `${p.read ? 'r' : '-'}${p.write ? 'w' : '-'}${p.exec ? 'x' : '-'}`;
}

function format_command(c: Command): string {
  switch (c.op) {
    case 'file':
      return `file ${c.name} ${c.pages}`;
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
      return c.op;
  }
}

export function format_line(l: Line): string {
  return l.pid === 0 ? format_command(l.cmd) : `p${l.pid} ${format_command(l.cmd)}`;
}

export function format_script(lines: readonly Line[]): string {
  return `${lines.map(format_line).join('\n')}\n`;
}
