/*
 * The examples of the manual (README.md, docs/*.md) as data: each
 * `$ mmlab ...` line of a code block (fenced, or indented four spaces),
 * with the output shown under it up to the next `$` line or the block's
 * end, and what a run of it must keep: the facts.
 *
 * A page marks a block with an HTML comment on the line before it (a blank
 * line between them allowed):
 *   <!-- test: ARGS -->         run each mmlab command of the block with ARGS
 *                               appended (a smaller budget: the last flag wins)
 *   <!-- test: oracle ARGS -->  the same, only where the Linux oracle runs
 *                               (Linux on x86-64, with a C compiler)
 *   <!-- test: skip REASON -->  not run; REASON says what covers it instead
 * `$ cat FILE` shows a file that later commands read: its lines are written
 * to FILE. `$ mmlab ... > FILE` writes the command's stdout to FILE. A line
 * `...` in an output stands for lines left out.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mmlab_in } from '../helpers.js';

export interface Example {
  /** The page and the line of the `$` command, for the test's name. */
  readonly where: string;
  /** The command line, without `$ `, continuation lines joined. */
  readonly command: string;
  /** The output shown under it, `...` lines included. */
  readonly expected: readonly string[];
  /** The block's marker: appended arguments, or a reason to skip. */
  readonly marker: Marker;
}

export type Marker =
  | { readonly kind: 'run'; readonly oracle: boolean; readonly args: readonly string[] }
  | { readonly kind: 'skip'; readonly reason: string };

const NO_MARKER: Marker = { kind: 'run', oracle: false, args: [] };

/* The marker in `line`, or NO_MARKER when the line is none. */
function parse_marker(line: string | undefined): Marker {
  const m = /^<!-- test: (.*) -->$/.exec(line?.trim() ?? '');
  if (!m) return NO_MARKER;
  const words = m[1]!.trim().split(/\s+/);
  if (words[0] === 'skip') return { kind: 'skip', reason: words.slice(1).join(' ') };
  const oracle = words[0] === 'oracle';
  return { kind: 'run', oracle, args: oracle ? words.slice(1) : words };
}

interface Block {
  readonly first_line: number;
  readonly lines: readonly string[];
  readonly marker: Marker;
}

/* The code blocks of a Markdown page, with the line each starts on (1-based). */
function code_blocks(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  // The marker on the line before the block's first, or before the blank line there.
  const marker_before = (i: number) =>
    parse_marker(lines[i - 1]?.trim() === '' ? lines[i - 2] : lines[i - 1]);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.startsWith('```')) {
      const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
      if (end < 0) throw new Error(`line ${i + 1}: a code block never closed`);
      blocks.push({ first_line: i + 2, lines: lines.slice(i + 1, end), marker: marker_before(i) });
      i = end;
    } else if (lines[i]!.startsWith('    ') && (i === 0 || /^\s*$|^<!--/.test(lines[i - 1]!))) {
      let end = i;
      while (end < lines.length && (lines[end]!.startsWith('    ') || lines[end]!.trim() === ''))
        end++;
      const body = lines.slice(i, end).map((l) => l.slice(4));
      blocks.push({ first_line: i + 1, lines: body, marker: marker_before(i) });
      i = end - 1;
    }
  }
  return blocks;
}

/** Every `$ ...` command of `page`'s code blocks, in order, with its output. */
export function examples(page: string, text: string): Example[] {
  const out: Example[] = [];
  for (const b of code_blocks(text)) {
    for (let i = 0; i < b.lines.length; i++) {
      if (!b.lines[i]!.startsWith('$ ')) continue;
      const line = b.first_line + i;
      let command = b.lines[i]!.slice(2);
      while (command.endsWith('\\'))
        command = `${command.slice(0, -1).trim()} ${b.lines[++i]!.trim()}`;
      const expected: string[] = [];
      while (i + 1 < b.lines.length && !b.lines[i + 1]!.startsWith('$ '))
        expected.push(b.lines[++i]!);
      while (expected.length > 0 && expected.at(-1)!.trim() === '') expected.pop();
      out.push({ where: `${page}:${line}`, command, expected, marker: b.marker });
    }
  }
  return out;
}

/** What a run shows: its exit status and standard output. */
export interface Shown {
  readonly code: number | null;
  readonly out: string;
}

/**
 * Run one example's command line in `dir`: `cat FILE` writes the shown
 * lines to FILE; `mmlab ARGS [> FILE]` runs the built mmlab with `extra`
 * appended. Anything else is not an example this test can run.
 */
export function run_line(
  dir: string,
  command: string,
  shown: readonly string[],
  extra: readonly string[] = [],
): Shown & { err: string } {
  const words = command.trim().split(/\s+/);
  if (words[0] === 'cat' && words.length === 2) {
    writeFileSync(join(dir, words[1]!), `${shown.join('\n')}\n`);
    return { code: 0, out: `${shown.join('\n')}\n`, err: '' };
  }
  if (words[0] !== 'mmlab') throw new Error(`not an mmlab command: ${command}`);
  const to = words.at(-2) === '>' ? words.at(-1)! : null;
  const args = [...words.slice(1, to === null ? undefined : -2), ...extra];
  const r = mmlab_in(dir, ...args);
  if (to !== null) writeFileSync(join(dir, to), r.out);
  return r;
}

/*
 * The facts of an output: the lines that must not drift while figures
 * (times, steps a second) move from run to run. A DFS's schedule and step
 * counts are facts too: its search is the same on every run.
 */
const FACTS: readonly { readonly name: string; readonly re: RegExp }[] = [
  // `clean`, or `BUG: CLASS` (the first line of a failure: 'BUG: data-race: KCSAN: ...').
  { name: 'verdict', re: /^(clean|BUG: [^:]+):/m },
  // The object and field a bug names, without the address: vm_area_struct.vm_lock.wait_lock.val.
  { name: 'field', re: /^BUG: .*? of (\w+)@0x[0-9a-f]+((?:\.\w+|\[\d+\])+)/m },
  { name: 'hash', re: /(?:trace hash |mmlab replay \S+:)([0-9a-f]{8})\b/ },
  { name: 'bound', re: /^every schedule with at most (\d+) preemption/m },
  { name: 'parts', re: /^\S+ \d+ parts(?: \((all of them)\)| of \d+ \((incomplete)\))/m },
  { name: 'mismatches', re: /^\d+ scripts, (\d+) mismatch/m },
  { name: 'schedules a DFS took to its bug', re: /by dfs \(seed \d+\) after (\d+) schedules/ },
  {
    name: 'DFS schedules and steps',
    re: /^clean: [^,]+, (\d+ schedules, \d+ steps) in [^\n]*\[dfs, /m,
  },
  { name: 'merged schedules and steps', re: /^\S+ \d+ parts[^:\n]*: (\d+ schedules, \d+ steps)/m },
];

/** The facts an output shows, by name (absent when it shows none of that kind). */
export function facts(out: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const { name, re } of FACTS) {
    const m = re.exec(out);
    if (m) found.set(name, m.slice(1).filter(Boolean).join(''));
  }
  return found;
}

/** The exit status an output's facts imply: 1 for a bug or a mismatch, else 0. */
export function implied_exit(f: Map<string, string>): number {
  const bug = f.get('verdict')?.startsWith('BUG') ?? false;
  return bug || Number(f.get('mismatches') ?? 0) > 0 ? 1 : 0;
}
