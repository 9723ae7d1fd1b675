/*
 * The explorer: runs a scenario under a strategy, schedule after schedule,
 * until a sanitizer or the scenario reports a bug or the budget is spent.
 * A bug is replayed once more with tracing on: the trace hash of that
 * replay must equal the first run's (the determinism self-check), and its
 * steps make the per-CPU table of the report.
 */

import { KERNEL } from '../kernel/boot.js';
import { lock_class_name } from '../kernel/locking/lockdep.js';
import {
  ExploreExecutor,
  type Outcome,
  type StepRecord,
  type Strategy,
} from '../runtime/executors/explore.js';
import { type KernelBug, LOCK_WRITE, OP_NAMES, Op } from '../runtime/ops.js';
import { type RunConfig, type Scenario, task_name } from '../runtime/scenario.js';
import { BoundedDfs } from './dfs.js';
import { field_name, Kcsan } from './kcsan.js';
import { Lockdep } from './lockdep.js';
import { decode_replay, encode_replay, hex32 } from './replay.js';
import { Replay } from './strategy.js';
import { past_triaged } from './triaged.js';

export interface BugReport {
  readonly class: string;
  readonly message: string;
  /** The task whose step found it, or '' for a global failure (deadlock, outcome). */
  readonly task: string;
  readonly replay: string;
  readonly preemptions: number;
  readonly steps: number;
  /** Trace hash (hex) of the failing schedule; a replay reproduces it. */
  readonly hash: string;
  /** The last steps of every CPU, one column each. */
  readonly table: string;
  /**
   * What makes two bugs one, for --keep-going: the class, the kernel
   * function of the faulty access and the field it touched (addresses,
   * generations and indices left out); a failure with no access of its
   * own (a deadlock, an outcome) names its message, numbers left out.
   */
  readonly signature: string;
}

/**
 * Every class a checker or the model reports: what --bug-class accepts
 * (test/check/search.test.ts holds it to the KernelBug classes in src/).
 */
export const BUG_CLASSES = [
  'use-after-free',
  'double-free',
  'invalid-free',
  'out-of-bounds',
  'null-ptr-deref',
  'data-race',
  'exclusion',
  'lockdep',
  'deadlock',
  'lost-wakeup',
  'livelock',
  'refcount',
  'rcu',
  'sleep-in-atomic',
  'mm-invariant',
  'leak',
  'non-linearizable',
  'outcome',
  'BUG',
] as const;

export interface CheckResult {
  /** The first bug reported (with keep_going, the first of `bugs`). */
  readonly bug: BugReport | null;
  /** Every distinct bug reported, by signature, in the order found. */
  readonly bugs: readonly BugReport[];
  readonly schedules: number;
  readonly steps: number;
  /** Exploring until the bug's schedule ended (its report's replay not counted). */
  readonly elapsed_ms: number;
  /** Whether a bug ended the search (never with keep_going), not the strategy or a budget. */
  readonly bug_ended: boolean;
}

export interface CheckBudget {
  /** Stop after this many milliseconds even if schedules remain. */
  readonly time_ms?: number;
  /** Report only a bug of this class; go on past others. */
  readonly bug_class?: string;
  /** Go on past each bug reported, reporting each distinct one once. */
  readonly keep_going?: boolean;
  /**
   * Whether KCSAN goes on past the races triaged as Linux's own
   * (triaged.ts); by default where the search keeps going or looks for a
   * class other than data-race.
   */
  readonly past_triaged?: boolean;
}

/** No field: a KCSAN that passes over no race. */
const NO_FIELDS: ReadonlySet<string> = new Set();

/* A failure's message with its numbers (steps, addresses, generations) left out. */
function shape(message: string): string {
  return message.replace(/0x[0-9a-f]+|\d+/g, '#');
}

export class Explorer {
  readonly exec: ExploreExecutor;
  private readonly kcsan: Kcsan | undefined;
  /** The fields of the races triaged as Linux's own under this policy (triaged.ts). */
  private readonly triaged_fields: ReadonlySet<string>;
  /** Whether KCSAN goes on past them: set_past_triaged(). */
  private past = false;

  constructor(
    readonly scenario: Scenario,
    readonly cfg: RunConfig,
    opts: { max_steps?: number; kcsan?: boolean } = {},
  ) {
    this.triaged_fields = past_triaged(cfg.policy);
    const lock_checker = new Lockdep((t) => task_name(scenario, cfg, t));
    this.kcsan = opts.kcsan === false ? undefined : new Kcsan(() => this.exec);
    this.exec = new ExploreExecutor(KERNEL, scenario, cfg, {
      ...(opts.max_steps === undefined ? {} : { max_steps: opts.max_steps }),
      lock_checker,
      ...(this.kcsan ? { access_checker: this.kcsan } : {}),
    });
  }

  /*
   * Whether the schedules from now on go past the races triaged as
   * Linux's own under this policy (KCSAN prints them and goes on); the
   * replay string of a bug whose schedule went past one says so
   * (kcsan=past-triaged).
   */
  private set_past_triaged(past: boolean): void {
    if (past === this.past) return;
    this.past = past;
    this.kcsan?.pass_over(past ? this.triaged_fields : NO_FIELDS);
  }

  /**
   * Explore until a bug, the strategy's end, or the time budget; with
   * `keep_going`, on past each bug until the strategy's end or the budget.
   * A failing schedule whose message has the shape of one seen before
   * (numbers left out) is not replayed again, so a race met in every
   * other schedule costs one traced replay, not thousands. A race triaged
   * as Linux's own (triaged.ts) ends no schedule where the search looks
   * for another class of bug or keeps going (budget.past_triaged): what
   * follows it is searched too. Kept going, the search still reports it,
   * once: the first schedule that went past it, replayed up to it.
   */
  check(strategy: Strategy, budget: CheckBudget = {}): CheckResult {
    const t0 = performance.now();
    const deadline = budget.time_ms === undefined ? Infinity : t0 + budget.time_ms;
    const wanted = (c: string) => budget.bug_class === undefined || c === budget.bug_class;
    const past = budget.past_triaged ?? (budget.keep_going === true || !wanted('data-race'));
    this.set_past_triaged(past);
    // The triaged fields a schedule went past, each reported from the first such schedule.
    const passed = new Set<string>();
    const shapes = new Set<string>();
    const signatures = new Set<string>();
    const bugs: BugReport[] = [];
    let schedules = 0;
    let steps = 0;
    let found_ms = 0;
    for (let i = 0; strategy.begin(i); i++) {
      const out = this.exec.run(strategy);
      schedules++;
      steps += out.steps;
      // Each failure, and whether its schedule goes past the triaged races.
      const failed: [Outcome, boolean][] = out.bug ? [[out, past]] : [];
      if (budget.keep_going && wanted('data-race') && this.went_past_new(passed))
        failed.push([this.cut_at_triaged(out.choices), false]);
      for (const [o, o_past] of failed) {
        const b = o.bug!;
        const key = `${b.bug_class}: ${shape(b.message)}`;
        if (!wanted(b.bug_class) || shapes.has(key)) continue;
        shapes.add(key);
        // Time to find, not to report: the traced replay is a report's cost.
        found_ms ||= performance.now() - t0;
        this.set_past_triaged(o_past);
        const report = this.report(o);
        if (!signatures.has(report.signature)) {
          signatures.add(report.signature);
          bugs.push(report);
        }
      }
      this.set_past_triaged(past);
      if (bugs.length > 0 && !budget.keep_going) break;
      if ((i & 15) === 15 && performance.now() > deadline) break;
    }
    const bug_ended = !budget.keep_going && bugs.length > 0;
    const elapsed_ms = bug_ended ? found_ms : performance.now() - t0;
    return { bug: bugs[0] ?? null, bugs, schedules, steps, elapsed_ms, bug_ended };
  }

  /* Whether the last schedule went past a triaged race of a field not in `passed` (which gains its fields). */
  private went_past_new(passed: Set<string>): boolean {
    let fresh = false;
    for (const f of this.kcsan?.passed_now ?? NO_FIELDS) {
      fresh ||= !passed.has(f);
      passed.add(f);
    }
    return fresh;
  }

  /* The schedule `choices`, replayed without going past the triaged races: it ends at the first. */
  private cut_at_triaged(choices: Uint8Array): Outcome {
    this.set_past_triaged(false);
    const strategy = new Replay(choices);
    strategy.begin(0);
    return this.exec.run(strategy);
  }

  /**
   * The same bug with fewer preemptions, if DFS finds one within
   * `schedules`: it raises its bound from 0, so what it finds first has the
   * fewest. A random walk or PCT reports schedules full of switches that do
   * not matter; the shortest story is the one to read. The budget is
   * schedules, not time, so that the story told (and its replay string)
   * is the same on a busy machine as on an idle one. The search goes past
   * the triaged races where the bug's schedule did, so that a race found
   * past one is not retold as that one.
   */
  fewest_preemptions(bug: BugReport, schedules: number): BugReport {
    if (bug.preemptions === 0) return bug;
    const r = this.check(new BoundedDfs(bug.preemptions - 1, schedules), {
      bug_class: bug.class,
      past_triaged: decode_replay(bug.replay).past_triaged ?? false,
    });
    return r.bug ?? bug;
  }

  /** The replay string of a schedule; `past_triaged`: it went on past a triaged race (Kcsan.passed_now). */
  replay_string(choices: Uint8Array, hash: number, past_triaged = false): string {
    return encode_replay({
      scenario: this.scenario.name,
      cpus: this.cfg.cpus,
      policy: this.cfg.policy,
      variant: this.cfg.variant,
      params: this.cfg.params,
      choices,
      hash,
      source: this.scenario.source,
      past_triaged,
    });
  }

  /**
   * Replay a schedule with tracing on; checks it reproduces `expect_hash`
   * if given. `past_triaged`: whether it went past the triaged races (its
   * replay string's kcsan=past-triaged), by default as the last search.
   */
  trace(
    choices: Uint8Array,
    expect_hash?: number,
    past_triaged = this.past,
  ): { outcome: Outcome; trace: StepRecord[] } {
    this.set_past_triaged(past_triaged);
    const trace: StepRecord[] = [];
    const strategy = new Replay(choices);
    strategy.begin(0);
    const outcome = this.exec.run(strategy, trace);
    if (expect_hash !== undefined && outcome.hash !== expect_hash) {
      throw new Error(
        `trace hash mismatch: the replay gives ${hex32(outcome.hash)}, the recorded run ${hex32(expect_hash)} (an altered string, or a model that depends on something outside the schedule)`,
      );
    }
    return { outcome, trace };
  }

  /** Turn a failing outcome into a report; replays it (determinism self-check). */
  report(out: Outcome): BugReport {
    const { outcome, trace } = this.trace(out.choices, out.hash);
    const bug = outcome.bug!;
    const last = trace[trace.length - 1];
    const access = last !== undefined && last.task === outcome.bug_task ? last : undefined;
    return {
      class: bug.bug_class,
      message: bug.message,
      task: outcome.bug_task >= 0 ? this.exec.task_name(outcome.bug_task) : '',
      replay: this.replay_string(out.choices, out.hash, (this.kcsan?.passed_now.size ?? 0) > 0),
      preemptions: out.preemptions,
      steps: out.steps,
      hash: hex32(out.hash),
      table: this.table(trace, outcome.bug_task),
      signature: signature(bug, access && this.exec.describe(access.addr), access?.where[0]),
    };
  }

  /** The per-CPU table of the last `rows` steps: one column per task. */
  table(trace: readonly StepRecord[], bug_task: number, rows = 48): string {
    if (trace.length === 0) return '  (no step: the run ended before any task took one)';
    const exec = this.exec;
    const ntasks = exec.nr_tasks;
    const width = 58;
    const used = new Set(trace.map((s) => s.task));
    const cols = [...Array(ntasks).keys()].filter((t) => used.has(t));
    const head =
      `${'step'.padStart(6)}  ${cols.map((t) => exec.task_name(t).padEnd(width)).join('')}`.trimEnd();
    const lines = [head];
    const first = Math.max(0, trace.length - rows);
    if (first > 0) lines.push(`${''.padStart(6)}  ... ${first} earlier steps`);
    for (let i = first; i < trace.length; i++) {
      const s = trace[i]!;
      const cell = truncate(this.cell(s), width - 2);
      const mark = i === trace.length - 1 && s.task === bug_task ? '!' : ' ';
      lines.push(
        `${String(s.step).padStart(6)} ${mark}${' '.repeat(cols.indexOf(s.task) * width)}${cell}`,
      );
    }
    return lines.join('\n');
  }

  private cell(s: StepRecord): string {
    const fn = s.where[0] ?? '?';
    const name = OP_NAMES[s.op] ?? `op${s.op}`;
    const addr =
      s.op === Op.RCU_READ_LOCK || s.op === Op.RCU_READ_UNLOCK
        ? ''
        : ` ${this.exec.describe(s.addr)}`;
    let what: string;
    switch (s.op) {
      case Op.ALLOC: {
        const cache = this.exec.m.caches.get(s.addr)?.name ?? this.exec.describe(s.addr);
        what = `${name} ${cache} = ${s.result === 0 ? 'NULL' : this.exec.describe(s.result)}`;
        break;
      }
      case Op.FREE:
        what = `${name}${addr}`;
        break;
      case Op.STORE:
      case Op.WRITE_ONCE:
      case Op.STORE_RELEASE:
        what = `${name}${addr} := ${s.a}`;
        break;
      case Op.CMPXCHG:
        what = `${name}${addr} ${s.a}->${s.b} = ${s.result}`;
        break;
      case Op.FUTEX_WAIT:
      case Op.COND_LOAD_NE:
        what = `${name}${addr}${s.parked ? ' (parked)' : ` = ${s.result}`}`;
        break;
      case Op.LOCK_ACQUIRE:
      case Op.LOCK_RELEASE:
        what = `${name} ${lock_class_name(this.exec.m.words[s.addr]!)}${s.op === Op.LOCK_ACQUIRE ? (s.a === LOCK_WRITE ? ' (write)' : ' (read)') : ''}`;
        break;
      case Op.RCU_READ_LOCK:
      case Op.RCU_READ_UNLOCK:
        what = `${name}${addr}`;
        break;
      default:
        what = `${name}${addr}${s.a !== 0 && s.op >= Op.XCHG ? ` ${s.a}` : ''} = ${s.result}`;
    }
    return `${fn}: ${what}`;
  }
}

/*
 * A bug's signature (BugReport.signature) from its traced report: the
 * field its message names (the word a race or a KASAN report is about,
 * not the start of a memset that covers it), else the faulty access's;
 * a race's two functions in either order, else the faulty access's.
 */
function signature(bug: KernelBug, described?: string, fn?: string): string {
  const named = /\b[a-z_][\w]*(\[\d+\])?@0x[0-9a-f]+\.[\w.[\]]+( \(gen \d+\))?/.exec(bug.message);
  const field = named ? named[0] : described;
  if (field === undefined) return `${bug.bug_class}: ${shape(bug.message)}`;
  const race = /data-race in (\S+) \/ (\S+):/.exec(bug.message);
  const where = race ? [race[1], race[2]].sort().join(' / ') : (fn ?? '?');
  return `${bug.bug_class} in ${where} on ${field_name(field)}`;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s.padEnd(n + 2) : `${s.slice(0, n - 1)}… `;
}
