/*
 * The outcome check of a concurrent script, as Lincheck checks a data
 * structure, at system-call granularity: an explored run's outcome (every
 * result, each process's maps, the words the script touches) must be the
 * outcome of some serial order of the sections' commands that keeps each
 * CPU's own order. Every such order runs once, on serial_scenario()'s one
 * CPU (the same runner), before the first check; the set is kept per
 * script, policy and variant.
 *
 * A word read or written at a 4-byte-aligned address is one atomic access
 * (user_access(), as x86 makes an aligned doubleword access), so such a
 * word agrees only when equal. An unaligned access is two, one per word it
 * touches (as x86 splits one that crosses a cache line): a racing read may
 * see each part from a different write, and two racing writes may leave
 * one's part in each word. So an unaligned word (a read's result, a final
 * word) also agrees when each part is that part of some value a serial
 * order gives it.
 *
 * A command is one or more steps of its CPU in a serial order
 * (serial_steps(); docs/scripts.md, "The steps of a serial order"): a
 * read or write is the fault of each page it touches, then the access,
 * where it straddles two pages, or where the script maps a stack or runs
 * mremap or fork in a section (faults_apart()), since the instruction is
 * restarted after each fault and the faults' effects (a stack grown, an
 * anon_vma made) may fall on either side of another CPU's commands;
 * `mmap ... populate` is its mapping, then its population; an `exit` of
 * a process another section exits too is its lookup, then the exit
 * (exits_apart()). A fault that signals ends the command with that
 * signal, a lookup that finds the process gone with ESRCH.
 */
import { Explorer } from '../check/explorer.js';
import { Sequential } from '../check/strategy.js';
import { KernelBug } from '../runtime/ops.js';
import type { RunConfig } from '../runtime/scenario.js';
import { type MapsLineOps, maps_walk_error } from '../scenarios/common.js';
import { type ConcurrentScript, PAGE_SIZE } from './ast.js';
import { section_steps, steps_of } from './concurrent.js';
import {
  type FinalWord,
  format_line,
  format_maps_line,
  format_result,
  format_word,
  type MapsLine,
  type Result,
  same_result,
  same_word,
} from './print.js';
import { type ScriptOutcome, serial_scenario } from './scenario.js';

/** The outcomes the serial orders give, each with its order (the CPU of each step). */
export interface Allowed {
  /**
   * A serial order hit a kernel bug (a variant put back can fail on one
   * CPU too): no outcome is then the reference, and only the sanitizers judge.
   */
  readonly bug: boolean;
  readonly outcomes: readonly {
    readonly order: readonly number[];
    readonly outcome: ScriptOutcome;
  }[];
  readonly keys: ReadonlySet<string>;
  /** The words each read and final word takes over the serial orders: per read `cpu.index`, per final word `w.index`. */
  readonly values: ReadonlyMap<string, ReadonlySet<number>>;
}

/** The scripts whose allowed outcomes are kept, the most recently computed last. */
const KEPT = 16;
const allowed_cache = new Map<string, Allowed>();

const key_of = (o: ScriptOutcome): string => JSON.stringify(o);

/** Every order of the sections' steps that keeps each CPU's own (`lengths`: its steps): the CPU of each step. */
export function* serial_orders_of(lengths: readonly number[]): Generator<number[]> {
  const left = [...lengths];
  const order: number[] = [];
  const total = lengths.reduce((a, b) => a + b, 0);
  function* walk(): Generator<number[]> {
    if (order.length === total) {
      yield [...order];
      return;
    }
    for (let cpu = 0; cpu < left.length; cpu++) {
      if (left[cpu] === 0) continue;
      left[cpu]!--;
      order.push(cpu);
      yield* walk();
      order.pop();
      left[cpu]!++;
    }
  }
  yield* walk();
}

/** The outcomes of every serial order of `s` (`text`: its printed form, the cache's key). */
export function allowed_outcomes(
  s: ConcurrentScript,
  text: string,
  cfg: Pick<RunConfig, 'policy' | 'variant'>,
): Allowed {
  const key = `${cfg.policy} ${cfg.variant}\n${text}`;
  const known = allowed_cache.get(key);
  if (known) return known;
  const explorer = new Explorer(
    serial_scenario(s),
    { cpus: 1, policy: cfg.policy, variant: cfg.variant, params: {} },
    // One CPU: nothing is concurrent, so the data-race detector would only cost time.
    { max_steps: Number.MAX_SAFE_INTEGER, kcsan: false },
  );
  const g = explorer.exec.globals as { order: readonly number[]; outcome: ScriptOutcome };
  const outcomes: { order: number[]; outcome: ScriptOutcome }[] = [];
  const keys = new Set<string>();
  let bug = false;
  for (const order of serial_orders_of(section_steps(s))) {
    g.order = order;
    const strategy = new Sequential();
    strategy.begin(0);
    if (explorer.exec.run(strategy).bug) {
      bug = true;
      break;
    }
    const k = key_of(g.outcome);
    if (!keys.has(k)) {
      keys.add(k);
      outcomes.push({ order, outcome: g.outcome });
    }
  }
  const allowed = { bug, outcomes, keys, values: word_values(s, outcomes) };
  allowed_cache.set(key, allowed);
  if (allowed_cache.size > KEPT) allowed_cache.delete(allowed_cache.keys().next().value!);
  return allowed;
}

/**
 * Throw a `non-linearizable` KernelBug unless `observed` is the outcome of
 * some serial order of `s` (or a serial order itself failed).
 */
export function check_linearizable(
  s: ConcurrentScript,
  text: string,
  cfg: Pick<RunConfig, 'policy' | 'variant'>,
  observed: ScriptOutcome,
): void {
  const allowed = allowed_outcomes(s, text, cfg);
  if (allowed.bug || allowed.keys.has(key_of(observed))) return;
  const same = agrees(s, allowed.values);
  if (allowed.outcomes.some(({ outcome }) => same_outcome(same, observed, outcome))) return;
  throw new KernelBug('non-linearizable', explain(s, observed, allowed, same));
}

/* The words each read and each final word takes over `outcomes` (Allowed.values). */
function word_values(
  s: ConcurrentScript,
  outcomes: readonly { readonly outcome: ScriptOutcome }[],
): Map<string, Set<number>> {
  const values = new Map<string, Set<number>>();
  const add = (key: string, r: Result) => {
    if (r.kind === 'word') values.set(key, (values.get(key) ?? new Set()).add(r.value));
  };
  for (const { outcome } of outcomes) {
    s.cpus.forEach((c, cpu) => {
      c.forEach((l, i) => {
        if (l.cmd.op === 'read') add(`${cpu}.${i}`, outcome.cpus[cpu]![i]!);
      });
    });
    outcome.contents.forEach((w, i) => {
      add(`w.${i}`, w.read);
    });
  }
  return values;
}

/** Whether an observed result (section `cpu`'s command `index`), or final word `index`, agrees with an allowed one. */
interface Agrees {
  result(cpu: number, index: number, observed: Result, allowed: Result): boolean;
  word(index: number, observed: FinalWord, allowed: FinalWord | undefined): boolean;
}

/*
 * A result or final word agrees when equal, or, where it is a word read at
 * an unaligned address, when each part user_access() makes of it (the
 * bytes in its first word, the rest) is that part of a value the word
 * takes (`values`: Allowed.values); a `maps` agrees when it is a walk
 * through the states the serial order passed through while it read
 * (maps_walk_error()).
 */
function agrees(s: ConcurrentScript, values: Allowed['values']): Agrees {
  const same = (key: string, addr: number, observed: Result, allowed: Result) =>
    same_result(observed, allowed) ||
    (observed.kind === 'word' &&
      allowed.kind === 'word' &&
      parts_agree(addr, observed.value, values.get(key) ?? new Set()));
  return {
    result(cpu, index, observed, allowed) {
      if (observed.kind === 'maps' && allowed.kind === 'maps')
        return (
          maps_walk_error(observed.lines, allowed.states ?? [allowed.lines], LINE_OPS) === undefined
        );
      const cmd = s.cpus[cpu]![index]!.cmd;
      return same(`${cpu}.${index}`, cmd.op === 'read' ? cmd.addr : 0, observed, allowed);
    },
    word: (index, observed, allowed) =>
      allowed !== undefined &&
      observed.pid === allowed.pid &&
      observed.addr === allowed.addr &&
      same(`w.${index}`, observed.addr, observed.read, allowed.read),
  };
}

/* A line of a `maps` result as maps_walk_error() reads it. */
const LINE_OPS: MapsLineOps<MapsLine> = {
  end: (l) => l.end,
  same: (a, b) => format_maps_line(a) === format_maps_line(b),
  show: format_maps_line,
  at: (pos) => `0x${pos.toString(16)}`,
};

/*
 * Whether word `v` read at an unaligned `addr` is, in each part (the bytes
 * up to the next aligned word, the rest), that part of one of `known`.
 */
function parts_agree(addr: number, v: number, known: ReadonlySet<number>): boolean {
  const split = 4 - (addr & 3);
  if (split === 4) return false;
  const low = (1 << (split * 8)) - 1;
  return [low, ~low].every((mask) => [...known].some((c) => ((c ^ v) & mask) === 0));
}

/* `observed` agrees with `allowed` result by result, in its maps, and word by word. */
function same_outcome(same: Agrees, observed: ScriptOutcome, allowed: ScriptOutcome): boolean {
  return (
    observed.cpus.every((c, cpu) =>
      c.every((r, i) => same.result(cpu, i, r, allowed.cpus[cpu]![i]!)),
    ) &&
    JSON.stringify(observed.maps) === JSON.stringify(allowed.maps) &&
    observed.contents.every((w, i) => same.word(i, w, allowed.contents[i]))
  );
}

/* The commands in the order the report walks them: each CPU's first, then each one's second, ... */
function walk_order(s: ConcurrentScript): { cpu: number; index: number }[] {
  const longest = Math.max(...s.cpus.map((c) => c.length));
  const out: { cpu: number; index: number }[] = [];
  for (let index = 0; index < longest; index++)
    s.cpus.forEach((c, cpu) => {
      if (index < c.length) out.push({ cpu, index });
    });
  return out;
}

/* How much of `a` equals `b`: results, maps, words. */
function agreement(a: ScriptOutcome, b: ScriptOutcome): number {
  return (
    a.cpus.reduce(
      (n, c, cpu) => n + c.filter((r, i) => same_result(r, b.cpus[cpu]![i]!)).length,
      0,
    ) +
    (JSON.stringify(a.maps) === JSON.stringify(b.maps) ? 1 : 0) +
    a.contents.filter((w, i) => same_word(w, b.contents[i])).length
  );
}

const results_text = (o: ScriptOutcome): string =>
  o.cpus.map((c, cpu) => `cpu${cpu}: ${c.map(format_result).join(' | ')}`).join('; ');

const maps_text = (o: ScriptOutcome): string =>
  o.maps
    .map(
      ({ pid, vmas }) =>
        `p${pid} [${vmas.map((v) => `0x${v.start.toString(16)}-0x${v.end.toString(16)} ${v.perm}${v.name ? ` ${v.name}` : ''}`).join(', ')}]`,
    )
    .join(' ');

/*
 * A serial order as the CPU of each step (serial_steps()): `cpuN` a
 * command or what is left of it, `cpuN:fault 0xPAGE` an access's fault of
 * one page, `cpuN:map` a populating mmap's mapping, before its population,
 * `cpuN:lookup` an exit's lookup of its process, before the exit.
 */
function order_text(s: ConcurrentScript, order: readonly number[]): string {
  const steps = steps_of(s);
  const next = s.cpus.map(() => 0);
  return order
    .map((cpu) => {
      const { step } = steps[cpu]![next[cpu]++]!;
      if (step.kind === 'fault')
        return `cpu${cpu}:fault 0x${(step.addr & ~(PAGE_SIZE - 1)).toString(16)}`;
      return step.kind === 'command' ? `cpu${cpu}` : `cpu${cpu}:${step.kind}`;
    })
    .join(' ');
}

/*
 * The first command (walking each CPU's first command, then each one's
 * second, ...) whose result no serial order gives together with the
 * results before it; else the final address space. Then what was seen,
 * and the serial order that comes closest.
 */
function explain(
  s: ConcurrentScript,
  observed: ScriptOutcome,
  allowed: Allowed,
  same: Agrees,
): string {
  const walk = walk_order(s);
  let agreeing = allowed.outcomes;
  let culprit: string | null = null;
  for (const { cpu, index } of walk) {
    const r = observed.cpus[cpu]![index]!;
    const next = agreeing.filter((a) => same.result(cpu, index, r, a.outcome.cpus[cpu]![index]!));
    if (next.length === 0) {
      const l = s.cpus[cpu]![index]!;
      culprit = `cpu${cpu}'s command ${index + 1} (${format_line(l)}) printed ${format_result(r)}, which no serial order of the sections gives after the results before it`;
      break;
    }
    agreeing = next;
  }
  culprit ??=
    "every result is a serial order's, but the final address space (maps and words) is no serial order's with them";
  const closest = allowed.outcomes.reduce((best, a) =>
    agreement(observed, a.outcome) > agreement(observed, best.outcome) ? a : best,
  );
  // Each side's words that differ from the other's: none where observed's all equal closest's.
  const differing = (o: ScriptOutcome, other: ScriptOutcome) =>
    o.contents.filter((w, i) => !same_word(w, other.contents[i]));
  const differs = differing(observed, closest.outcome).length > 0;
  const words = (o: ScriptOutcome, other: ScriptOutcome) =>
    differs ? `; words ${differing(o, other).map(format_word).join(', ')}` : '';
  const maps = (o: ScriptOutcome) =>
    maps_text(observed) === maps_text(closest.outcome) ? '' : `; maps ${maps_text(o)}`;
  return [
    culprit,
    `  observed: ${results_text(observed)}${maps(observed)}${words(observed, closest.outcome)}`,
    `  closest serial order (${order_text(s, closest.order)}): ${results_text(closest.outcome)}${maps(closest.outcome)}${words(closest.outcome, observed)}`,
  ].join('\n');
}
