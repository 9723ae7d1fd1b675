/*
 * Shrink a script on which the model and the kernel disagree to one a
 * person can read: delta debugging over the command lines (Zeller's ddmin),
 * then single-line removal and number simplification, repeated to a
 * fixpoint. Every candidate is printed with format_script and parsed again:
 * one that does not parse (a removed `file` or `fork` that a later line
 * needs) is skipped without asking the predicate, which is the expensive
 * part (it runs both runners).
 */
import { type Command, type Line, ScriptError } from '../script/ast.js';
import { parse_script } from '../script/parse.js';
import { format_script } from '../script/print.js';

/** At most this many predicate calls per minimization by default. */
export const MAX_PREDICATE_CALLS = 2000;

/**
 * The predicate behind a budget and a cache. Every caller below moves on to
 * the first candidate that fails, so the last failing text is the smallest.
 */
class Tester {
  private calls = 0;
  private readonly seen = new Map<string, boolean>();
  best: string;

  constructor(
    original: string,
    private readonly fails: (candidate: string) => boolean,
    private readonly max_calls: number,
  ) {
    this.best = original;
  }

  get exhausted(): boolean {
    return this.calls >= this.max_calls;
  }

  /** Whether these lines still fail; false for a script that does not parse or when out of budget. */
  test(lines: readonly Line[]): boolean {
    const text = format_script(lines);
    let result = this.seen.get(text);
    if (result === undefined) {
      if (!parses(text)) {
        result = false;
      } else if (this.exhausted) {
        return false; // out of budget is no verdict: not cached
      } else {
        this.calls++;
        result = this.fails(text);
      }
      this.seen.set(text, result);
    }
    if (result) this.best = text;
    return result;
  }
}

function parses(text: string): boolean {
  try {
    parse_script(text);
    return true;
  } catch (e) {
    if (e instanceof ScriptError) return false;
    throw e;
  }
}

/** ddmin: try each of n chunks alone, then each complement; refine n when neither fails. */
function ddmin(lines: readonly Line[], t: Tester): readonly Line[] {
  let n = 2;
  while (lines.length >= 2 && !t.exhausted) {
    const chunks = split(lines, n);
    const complements = chunks.map((_, i) => chunks.filter((_, j) => j !== i).flat());
    const subset = chunks.find((c) => t.test(c));
    if (subset !== undefined) {
      lines = subset;
      n = 2;
      continue;
    }
    const complement = complements.find((c) => t.test(c));
    if (complement !== undefined) {
      lines = complement;
      n = Math.max(n - 1, 2);
      continue;
    }
    if (n >= lines.length) break;
    n = Math.min(2 * n, lines.length);
  }
  return lines;
}

/** n contiguous chunks of nearly equal size. */
function split<T>(xs: readonly T[], n: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < n; i++) {
    chunks.push(xs.slice(Math.floor((i * xs.length) / n), Math.floor(((i + 1) * xs.length) / n)));
  }
  return chunks;
}

/**
 * One pass removing single lines, last to first (a later line is more often
 * the one that depends on an earlier one). ddmin leaves a 1-minimal set only
 * if it ran to the end; this, repeated by the caller, finishes its job.
 */
function remove_lines(lines: readonly Line[], t: Tester): readonly Line[] {
  for (let i = lines.length - 1; i >= 0 && !t.exhausted; i--) {
    const candidate = lines.filter((_, j) => j !== i);
    if (t.test(candidate)) lines = candidate;
  }
  return lines;
}

/** A smaller length: 1 first (the usual answer), else half. */
function fewer_pages(pages: number): number[] {
  return pages > 2 ? [1, pages >> 1] : pages === 2 ? [1] : [];
}

/** Simpler variants of one command, boldest first: dropped flags, fewer pages, no file. */
function simplifications(c: Command): Command[] {
  switch (c.op) {
    case 'file':
      return fewer_pages(c.pages).map((pages) => ({ ...c, pages }));
    case 'mmap': {
      const out: Command[] = [];
      if (c.file !== null) out.push({ ...c, file: null, off: 0 });
      if (c.off !== 0) out.push({ ...c, off: 0 });
      if (c.addr !== null && !c.fixed && !c.noreplace) out.push({ ...c, addr: null });
      if (c.fixed) out.push({ ...c, fixed: false });
      if (c.noreplace) out.push({ ...c, noreplace: false });
      if (c.populate) out.push({ ...c, populate: false });
      if (c.growsdown) out.push({ ...c, growsdown: false });
      for (const pages of fewer_pages(c.pages)) out.push({ ...c, pages });
      return out;
    }
    case 'munmap':
    case 'mprotect':
    case 'madvise':
      return fewer_pages(c.pages).map((pages) => ({ ...c, pages }));
    case 'mremap': {
      const out: Command[] = [];
      if (c.fixed !== null) out.push({ ...c, fixed: null });
      if (c.dontunmap) out.push({ ...c, dontunmap: false });
      if (c.maymove) out.push({ ...c, maymove: false });
      for (const old_pages of fewer_pages(c.old_pages)) out.push({ ...c, old_pages });
      for (const new_pages of fewer_pages(c.new_pages)) out.push({ ...c, new_pages });
      return out;
    }
    case 'brk':
    case 'write':
    case 'read':
    case 'fork':
    case 'exit':
      return [];
  }
}

/** Replace each command by its first simpler variant that still fails, as long as one does. */
function simplify(lines: readonly Line[], t: Tester): readonly Line[] {
  for (let i = 0; i < lines.length && !t.exhausted; i++) {
    for (;;) {
      const line = lines[i]!;
      const simpler = simplifications(line.cmd)
        .map((cmd) => lines.map((l, j) => (j === i ? { ...line, cmd } : l)))
        .find((candidate) => t.test(candidate));
      if (simpler === undefined) break;
      lines = simpler;
    }
  }
  return lines;
}

/**
 * The smallest variant of `text` found that `fails` still holds for, in
 * canonical form; `text` itself if nothing smaller fails. `text` must fail
 * (a ScriptError if it does not parse). `fails` is called at most
 * `max_calls` times, never on a candidate that does not parse, never twice
 * on the same text.
 */
export function minimize_script(
  text: string,
  fails: (candidate: string) => boolean,
  max_calls = MAX_PREDICATE_CALLS,
): string {
  const t = new Tester(text, fails, max_calls);
  let lines = ddmin(parse_script(text).lines, t);
  // Simpler commands may free lines (a file no longer mapped), and fewer
  // lines may allow simpler commands: repeat until neither changes anything.
  let before: string;
  do {
    before = t.best;
    lines = simplify(remove_lines(lines, t), t);
  } while (t.best !== before && !t.exhausted);
  return t.best;
}
