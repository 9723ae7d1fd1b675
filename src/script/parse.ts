/*
 * Parse and validate a script (shared/DESIGN.md §4). Everything that can be
 * known before running is checked here, so that a bad script runs nothing:
 * syntax, numbers, files declared before use, processes that exist (fork
 * numbering is deterministic: the child is the next unused number).
 */
import {
  type Command,
  check_unpins,
  type FileDecl,
  file_decl,
  type Line,
  type Prot,
  type Script,
  ScriptError,
} from './ast.js';

/** Largest PAGES a script may name (4 GiB): anything past the window prints OUTSIDE. */
export const MAX_PAGES = 1 << 20;
/** File contents encode k<<28 | page<<16 | word: at most 15 files of 4096 pages. */
export const MAX_FILES = 15;
export const MAX_FILE_PAGES = 4096;

function parse_addr(tok: string, line: number, what = 'ADDR'): number {
  const m = /^(?:0x)?([0-9a-fA-F]{1,8})$/.exec(tok);
  if (!m) throw new ScriptError(line, `${what} must be a hex byte offset, not '${tok}'`);
  return Number.parseInt(m[1]!, 16);
}

function parse_pages(tok: string, line: number, what = 'PAGES'): number {
  if (!/^\d{1,8}$/.test(tok))
    throw new ScriptError(line, `${what} must be a decimal number of pages, not '${tok}'`);
  const n = Number(tok);
  if (n > MAX_PAGES) throw new ScriptError(line, `${what} ${n} is larger than ${MAX_PAGES}`);
  return n;
}

function parse_value(tok: string, line: number): number {
  const hex = /^0x([0-9a-fA-F]{1,8})$/.exec(tok);
  if (hex) return Number.parseInt(hex[1]!, 16);
  if (/^\d{1,10}$/.test(tok) && Number(tok) <= 0xffffffff) return Number(tok);
  throw new ScriptError(line, `VALUE must be 32 bits, hex with 0x or decimal, not '${tok}'`);
}

function parse_prot(tok: string, line: number): Prot {
  if (!/^[r-][w-][x-]$/.test(tok))
    throw new ScriptError(
      line,
      `PROT must be three characters from r-, w-, x- (like rw-), not '${tok}'`,
    );
  return { read: tok[0] === 'r', write: tok[1] === 'w', exec: tok[2] === 'x' };
}

function arity(args: readonly string[], n: number, usage: string, line: number): void {
  if (args.length !== n) throw new ScriptError(line, `usage: ${usage}`);
}

/** One line's words: its process (pN, p0 if absent), the command word and its arguments; null if blank. */
export interface Words {
  readonly pid: number;
  readonly op: string;
  readonly args: string[];
}

/** Split line `line` of a script into its words, comments left out. */
export function line_words(text: string, line: number): Words | null {
  const words = text
    .replace(/#.*/, '')
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  if (words.length === 0) return null;
  let pid = 0;
  const pm = /^p(\d{1,4})$/.exec(words[0]!);
  if (pm) {
    pid = Number(pm[1]);
    words.shift();
    if (words.length === 0) throw new ScriptError(line, `p${pid} needs a command`);
  }
  const [op, ...args] = words as [string, ...string[]];
  return { pid, op, args };
}

/** Where a sequential script names a `cpu N:` header: those make a concurrent script. */
export const CPU_HEADER = /^cpu\s+(\d{1,4})\s*:$/;

export function parse_script(text: string): Script {
  const lines: Line[] = [];
  const files: FileDecl[] = [];
  const live = new Set<number>([0]);
  let next_pid = 1;
  const src = text.split('\n');
  for (let i = 0; i < src.length; i++) {
    const line = i + 1;
    if (CPU_HEADER.test(src[i]!.replace(/#.*/, '').trim()))
      throw new ScriptError(
        line,
        'cpu N: sections make a concurrent script: explore it with mmlab check --script',
      );
    const w = line_words(src[i]!, line);
    if (w === null) continue;
    const { pid } = w;
    if (!live.has(pid)) {
      throw new ScriptError(
        line,
        pid < next_pid
          ? `p${pid} has exited`
          : `p${pid} does not exist (the next fork creates p${next_pid})`,
      );
    }
    const cmd = parse_command(w.op, w.args, line, files);
    if (cmd.op === 'file') files.push(file_decl(cmd));
    if (cmd.op === 'fork') live.add(next_pid++);
    if (cmd.op === 'exit') live.delete(pid);
    lines.push({ line, pid, cmd });
  }
  check_unpins(lines);
  return { lines, files };
}

/** Parse one command; `files` are those declared so far. */
export function parse_command(
  op: string,
  args: string[],
  line: number,
  files: readonly { name: string }[],
): Command {
  switch (op) {
    case 'file': {
      if (args.length !== 2 && (args.length !== 3 || args[2] !== 'secret'))
        throw new ScriptError(line, 'usage: file NAME PAGES [secret]');
      const [name, pages] = args as [string, string];
      if (!/^[A-Za-z0-9_]{1,32}$/.test(name))
        throw new ScriptError(line, `file NAME must be 1 to 32 of [A-Za-z0-9_], not '${name}'`);
      if (files.some((f) => f.name === name))
        throw new ScriptError(line, `file ${name} is declared twice`);
      if (files.length >= MAX_FILES) throw new ScriptError(line, `at most ${MAX_FILES} files`);
      const n = parse_pages(pages, line);
      if (n > MAX_FILE_PAGES)
        throw new ScriptError(line, `a file has at most ${MAX_FILE_PAGES} pages, not ${n}`);
      return { op, name, pages: n, secret: args.length === 3 };
    }
    case 'mmap': {
      if (args.length < 4)
        throw new ScriptError(
          line,
          'usage: mmap ADDR|- PAGES PROT private|shared anon|file=NAME [off=PAGES] [fixed] [noreplace] [populate] [growsdown]',
        );
      const [a, p, prot, ...flags] = args as [string, string, string, ...string[]];
      const addr = a === '-' ? null : parse_addr(a, line);
      const seen = new Set<string>();
      let shared: boolean | undefined;
      let file: string | null | undefined;
      let off: number | undefined;
      for (const f of flags) {
        const key = f.startsWith('file=') ? 'file=' : f.startsWith('off=') ? 'off=' : f;
        if (
          seen.has(key) ||
          (key === 'private' && seen.has('shared')) ||
          (key === 'shared' && seen.has('private')) ||
          (key === 'anon' && seen.has('file=')) ||
          (key === 'file=' && seen.has('anon'))
        ) {
          throw new ScriptError(line, `mmap flag '${f}' repeats or contradicts an earlier one`);
        }
        seen.add(key);
        if (f === 'private' || f === 'shared') shared = f === 'shared';
        else if (f === 'anon') file = null;
        else if (key === 'file=') {
          const name = f.slice(5);
          if (!files.some((x) => x.name === name))
            throw new ScriptError(
              line,
              `file ${name} is not declared (file NAME PAGES comes first)`,
            );
          file = name;
        } else if (key === 'off=') off = parse_pages(f.slice(4), line, 'off=PAGES');
        else if (!['fixed', 'noreplace', 'populate', 'growsdown'].includes(f))
          throw new ScriptError(line, `unknown mmap flag '${f}'`);
      }
      if (shared === undefined) throw new ScriptError(line, 'mmap needs one of private or shared');
      if (file === undefined) throw new ScriptError(line, 'mmap needs one of anon or file=NAME');
      if (off !== undefined && file === null)
        throw new ScriptError(line, 'off=PAGES needs file=NAME');
      const fixed = seen.has('fixed');
      const noreplace = seen.has('noreplace');
      if ((fixed || noreplace) && addr === null)
        throw new ScriptError(line, `${fixed ? 'fixed' : 'noreplace'} needs an ADDR, not -`);
      return {
        op,
        addr,
        pages: parse_pages(p, line),
        prot: parse_prot(prot, line),
        shared,
        file,
        off: off ?? 0,
        fixed,
        noreplace,
        populate: seen.has('populate'),
        growsdown: seen.has('growsdown'),
      };
    }
    case 'munmap':
      arity(args, 2, 'munmap ADDR PAGES', line);
      return { op, addr: parse_addr(args[0]!, line), pages: parse_pages(args[1]!, line) };
    case 'mprotect':
      arity(args, 3, 'mprotect ADDR PAGES PROT', line);
      return {
        op,
        addr: parse_addr(args[0]!, line),
        pages: parse_pages(args[1]!, line),
        prot: parse_prot(args[2]!, line),
      };
    case 'mremap': {
      if (args.length < 3 || args.length > 6)
        throw new ScriptError(
          line,
          'usage: mremap ADDR OLDPAGES NEWPAGES [maymove] [dontunmap] [fixed=ADDR]',
        );
      const [a, o, n, ...flags] = args as [string, string, string, ...string[]];
      let maymove = false;
      let dontunmap = false;
      let fixed: number | null = null;
      for (const f of flags) {
        if (f === 'maymove' && !maymove) maymove = true;
        else if (f === 'dontunmap' && !dontunmap) dontunmap = true;
        else if (f.startsWith('fixed=') && fixed === null)
          fixed = parse_addr(f.slice(6), line, 'fixed=ADDR');
        else throw new ScriptError(line, `unknown or repeated mremap flag '${f}'`);
      }
      return {
        op,
        addr: parse_addr(a, line),
        old_pages: parse_pages(o, line, 'OLDPAGES'),
        new_pages: parse_pages(n, line, 'NEWPAGES'),
        maymove,
        dontunmap,
        fixed,
      };
    }
    case 'madvise':
      arity(args, 3, 'madvise ADDR PAGES dontneed', line);
      if (args[2] !== 'dontneed')
        throw new ScriptError(line, `madvise supports only dontneed, not '${args[2]}'`);
      return {
        op,
        addr: parse_addr(args[0]!, line),
        pages: parse_pages(args[1]!, line),
        advice: 'dontneed',
      };
    case 'brk':
      arity(args, 1, 'brk ADDR', line);
      return { op, addr: parse_addr(args[0]!, line) };
    case 'write':
      arity(args, 2, 'write ADDR VALUE', line);
      return { op, addr: parse_addr(args[0]!, line), value: parse_value(args[1]!, line) };
    case 'read':
      arity(args, 1, 'read ADDR', line);
      return { op, addr: parse_addr(args[0]!, line) };
    case 'pin':
      if (args.length < 1 || args.length > 2 || (args.length === 2 && args[1] !== 'fast'))
        throw new ScriptError(line, 'usage: pin ADDR [fast]');
      return { op, addr: parse_addr(args[0]!, line), fast: args.length === 2 };
    case 'unpin': {
      arity(args, 1, 'unpin ADDR', line);
      const addr = parse_addr(args[0]!, line);
      if (addr % 4 !== 0)
        throw new ScriptError(
          line,
          `unpin reads an aligned word: ADDR must be a multiple of 4, not ${args[0]}`,
        );
      return { op, addr };
    }
    case 'fork':
    case 'exit':
    case 'maps':
      arity(args, 0, op, line);
      return { op };
    default:
      throw new ScriptError(line, `unknown command '${op}'`);
  }
}
