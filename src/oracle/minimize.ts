/*
 * Shrink a failing script to one a person can read: a script on which the
 * model and the kernel disagree (mmlab diff), or a concurrent script on
 * which the explorer finds a bug (mmlab fuzz). Delta debugging over the
 * command lines (Zeller's ddmin; a concurrent script's sections dropped
 * whole first), then single-line removal and number simplification,
 * repeated to a fixpoint. Every candidate is printed and parsed again: one
 * that does not parse (a removed `file` or `fork` that a later line needs,
 * one CPU left) is skipped without asking the predicate, which is the
 * expensive part (it runs both runners, or a search).
 */
import {
  type Command,
  type ConcurrentScript,
  declared_files,
  type Line,
  ScriptError,
} from '../script/ast.js';
import { parse_concurrent, print_concurrent } from '../script/concurrent.js';
import { parse_script } from '../script/parse.js';
import { format_script } from '../script/print.js';

/** At most this many predicate calls per minimization by default. */
export const MAX_PREDICATE_CALLS = 2000;

/**
 * One command of a script being minimized and where it stands: for a
 * concurrent script the section it is in (-1: the setup, else its CPU),
 * -1 throughout a sequential one.
 */
interface Item {
  readonly cpu: number;
  readonly line: Line;
}

/** The text of a candidate, and whether that text is a script at all. */
interface Form {
  text(items: readonly Item[]): string;
  parses(text: string): boolean;
}

/*
 * A search below yields each candidate it wants judged and is resumed
 * with the verdict, so that one search serves a predicate that answers
 * at once (mmlab diff's) and one that answers later (a check's).
 */
type Search = Generator<readonly Item[], readonly Item[], boolean>;

/**
 * The predicate's budget and cache. Every search below moves on to the
 * first candidate that fails, so the last failing text is the smallest.
 */
class Tester {
  private calls = 0;
  private readonly seen = new Map<string, boolean>();
  best: string;

  constructor(
    original: string,
    private readonly form: Form,
    private readonly max_calls: number,
    /** performance.now() past which the predicate is asked no more. */
    private readonly deadline_ms: number,
  ) {
    this.best = original;
  }

  get exhausted(): boolean {
    return this.calls >= this.max_calls || performance.now() >= this.deadline_ms;
  }

  /**
   * The verdict on `items` where it is known without the predicate (false
   * for a script that does not parse, or when out of budget), else the
   * text to ask it about, counted as one call.
   */
  known(items: readonly Item[]): { text: string; verdict?: boolean } {
    const text = this.form.text(items);
    const seen = this.seen.get(text);
    if (seen !== undefined) return { text, verdict: this.settle(text, seen) };
    if (!this.form.parses(text)) return { text, verdict: this.record(text, false) };
    // Out of budget is no verdict: not cached.
    if (this.exhausted) return { text, verdict: false };
    this.calls++;
    return { text };
  }

  /** The predicate's verdict on `text`, kept. */
  record(text: string, verdict: boolean): boolean {
    this.seen.set(text, verdict);
    return this.settle(text, verdict);
  }

  private settle(text: string, verdict: boolean): boolean {
    if (verdict) this.best = text;
    return verdict;
  }
}

/** Whether `parse` takes `text`: a ScriptError says it does not, anything else is a bug. */
function parses_with(parse: (text: string) => unknown): (text: string) => boolean {
  return (text) => {
    try {
      parse(text);
      return true;
    } catch (e) {
      if (e instanceof ScriptError) return false;
      throw e;
    }
  };
}

/** The index of the first candidate that fails, or -1: each asked in order, up to that one. */
function* first_failing(
  candidates: readonly (readonly Item[])[],
): Generator<readonly Item[], number, boolean> {
  for (let i = 0; i < candidates.length; i++) if (yield candidates[i]!) return i;
  return -1;
}

/** ddmin: try each of n chunks alone, then each complement; refine n when neither fails. */
function* ddmin(items: readonly Item[], t: Tester): Search {
  let n = 2;
  while (items.length >= 2 && !t.exhausted) {
    const chunks = split(items, n);
    const subset = yield* first_failing(chunks);
    if (subset >= 0) {
      items = chunks[subset]!;
      n = 2;
      continue;
    }
    const complements = chunks.map((_, i) => chunks.filter((_, j) => j !== i).flat());
    const complement = yield* first_failing(complements);
    if (complement >= 0) {
      items = complements[complement]!;
      n = Math.max(n - 1, 2);
      continue;
    }
    if (n >= items.length) break;
    n = Math.min(2 * n, items.length);
  }
  return items;
}

/** n contiguous chunks of nearly equal size. */
function split<T>(xs: readonly T[], n: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < n; i++) {
    chunks.push(xs.slice(Math.floor((i * xs.length) / n), Math.floor(((i + 1) * xs.length) / n)));
  }
  return chunks;
}

/** Each CPU's section dropped whole, the last first: a CPU that only stands by goes. */
function* remove_sections(items: readonly Item[], t: Tester): Search {
  const cpus = [...new Set(items.map((i) => i.cpu).filter((c) => c >= 0))];
  for (const cpu of cpus.reverse()) {
    if (t.exhausted) break;
    const candidate = items.filter((i) => i.cpu !== cpu);
    if (yield candidate) items = candidate;
  }
  return items;
}

/**
 * One pass removing single lines, last to first (a later line is more often
 * the one that depends on an earlier one). ddmin leaves a 1-minimal set only
 * if it ran to the end; this, repeated by the caller, finishes its job.
 */
function* remove_lines(items: readonly Item[], t: Tester): Search {
  for (let i = items.length - 1; i >= 0 && !t.exhausted; i--) {
    const candidate = items.filter((_, j) => j !== i);
    if (yield candidate) items = candidate;
  }
  return items;
}

/** A smaller length: 1 first (the usual answer), else half. */
function fewer_pages(pages: number): number[] {
  return pages > 2 ? [1, pages >> 1] : pages === 2 ? [1] : [];
}

/** Simpler variants of one command, boldest first: dropped flags, fewer pages, no file. */
function simplifications(c: Command): Command[] {
  switch (c.op) {
    case 'file': {
      const out: Command[] = c.secret ? [{ ...c, secret: false }] : [];
      for (const pages of fewer_pages(c.pages)) out.push({ ...c, pages });
      return out;
    }
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
    case 'maps':
    case 'pin':
    case 'unpin':
      return [];
  }
}

/** Replace each command by its first simpler variant that still fails, as long as one does. */
function* simplify(items: readonly Item[], t: Tester): Search {
  for (let i = 0; i < items.length && !t.exhausted; i++) {
    let simpler = true;
    while (simpler) {
      simpler = false;
      const item = items[i]!;
      for (const cmd of simplifications(item.line.cmd)) {
        const candidate = items.map((x, j) =>
          j === i ? { ...item, line: { ...item.line, cmd } } : x,
        );
        if (yield candidate) {
          items = candidate;
          simpler = true;
          break;
        }
      }
    }
  }
  return items;
}

/*
 * The whole search: sections, then ddmin, then single lines and simpler
 * commands until neither changes anything (simpler commands may free
 * lines, a file no longer mapped, and fewer lines may allow simpler
 * commands).
 */
function* search(items: readonly Item[], t: Tester): Search {
  items = yield* ddmin(yield* remove_sections(items, t), t);
  let before: string;
  do {
    before = t.best;
    items = yield* simplify(yield* remove_lines(items, t), t);
  } while (t.best !== before && !t.exhausted);
  return items;
}

/** A budget for one minimization. */
export interface MinimizeBudget {
  /** The most predicate calls. */
  readonly max_calls: number;
  /** The most time, checked before each call (a call under way is not cut short). */
  readonly time_ms: number;
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
  const form: Form = {
    text: (items) => format_script(items.map((i) => i.line)),
    parses: parses_with(parse_script),
  };
  const t = new Tester(text, form, max_calls, Number.POSITIVE_INFINITY);
  const items = parse_script(text).lines.map((line) => ({ cpu: -1, line }));
  const s = search(items, t);
  for (let r = s.next(); !r.done; ) {
    const k = t.known(r.value);
    r = s.next(k.verdict ?? t.record(k.text, fails(k.text)));
  }
  return t.best;
}

/** A concurrent script's items: the setup's (-1), then each CPU's. */
function concurrent_items(s: ConcurrentScript): Item[] {
  return [
    ...s.setup.map((line) => ({ cpu: -1, line })),
    ...s.cpus.flatMap((lines, cpu) => lines.map((line) => ({ cpu, line }))),
  ];
}

/** Items back as a concurrent script, its sections numbered again from 0 (files are setup lines). */
function concurrent_text(items: readonly Item[]): string {
  const setup = items.filter((i) => i.cpu < 0).map((i) => i.line);
  const cpus = [...new Set(items.map((i) => i.cpu).filter((c) => c >= 0))].sort((a, b) => a - b);
  const files = declared_files(setup);
  return print_concurrent({
    files,
    setup,
    cpus: cpus.map((cpu) => items.filter((i) => i.cpu === cpu).map((i) => i.line)),
  });
}

/**
 * minimize_script() for a concurrent script and a predicate that answers
 * later (a check under the explorer): the smallest variant found, printed;
 * sections dropped whole first. `fails` is never asked about a text that
 * parse_concurrent() refuses, nor twice about one text.
 */
export async function minimize_concurrent(
  script: ConcurrentScript,
  fails: (candidate: string) => Promise<boolean>,
  budget: MinimizeBudget,
): Promise<string> {
  const form: Form = { text: concurrent_text, parses: parses_with(parse_concurrent) };
  const items = concurrent_items(script);
  const t = new Tester(
    form.text(items),
    form,
    budget.max_calls,
    performance.now() + budget.time_ms,
  );
  const s = search(items, t);
  for (let r = s.next(); !r.done; ) {
    const k = t.known(r.value);
    r = s.next(k.verdict ?? t.record(k.text, await fails(k.text)));
  }
  return t.best;
}
