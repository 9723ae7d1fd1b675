/*
 * What the timeline page (`mmlab check ... --html FILE`, drawn by
 * src/report/timeline_html.ts) shows of a traced schedule, usually the
 * failing one the explorer found: a lane per task, the locks each task
 * holds, its RCU read-side sections, the lifetimes of the objects the bug
 * is about, the faulty access, each step in words, and the per-CPU table
 * of the last steps.
 *
 * Read it right after `explorer.trace()`: object generations and lock
 * class names are read from the memory the traced run left behind.
 */
import { lock_class_name } from '../kernel/locking/lockdep.js';
import type { ExploreExecutor, StepRecord } from '../runtime/executors/explore.js';
import { obj_generation, slab_object } from '../runtime/heap.js';
import { hex } from '../runtime/memory.js';
import { LOCK_WRITE, OP_NAMES, Op } from '../runtime/ops.js';
import type { BugReport, Explorer } from './explorer.js';

/** Locks nested deeper than this share the last slot. */
const MAX_SLOTS = 8;
/** Objects given a lifetime: the faulty access's and those the message names. */
const MAX_OBJECTS = 4;
/** Lock bars and RCU bands kept at most (the latest), so that huge traces stay drawable. */
const MAX_SPANS = 3000;
const MAX_OBJ_ACCESSES = 2000;
const TABLE_ROWS = 60;

/** A lock held, or an RCU read-side section, by one task. */
export interface Span {
  readonly task: number;
  /** Trace index of the acquiring step. */
  readonly from: number;
  /** Trace index of the releasing step, or the trace's length while still held at the end. */
  readonly to: number;
  readonly label: string;
  readonly write: boolean;
  /** Row under the lane (below MAX_SLOTS), so that nested locks do not overlap. */
  slot: number;
}

export interface ObjEvent {
  readonly i: number;
  readonly alloc: boolean;
  /** Generation right after the event: odd once allocated, even once freed. */
  readonly gen: number;
}

export interface TrackedObject {
  readonly obj: number;
  readonly name: string;
  readonly events: readonly ObjEvent[];
  /** Generation before the trace's first step. */
  readonly gen_before: number;
  /** Trace indexes of the accesses to its words. */
  readonly accesses: readonly number[];
}

/** What a step did: load, store, read-modify-write, futex, lockdep, RCU, slab. */
export type StepKind = 'rd' | 'wr' | 'rmw' | 'fx' | 'lk' | 'rcu' | 'slab';

export class Timeline {
  private readonly exec: ExploreExecutor;
  /** The task that found the bug, or -1 (no bug, or a global failure). */
  readonly bug_task: number;
  /** A lane each, in task order: the tasks that took a step, and the bug's task even if it never ran. */
  readonly tasks: readonly number[];
  /** Lock bars, by their acquiring step, each in its slot. */
  readonly locks: readonly Span[];
  readonly rcu: readonly Span[];
  readonly objects: readonly TrackedObject[];
  /** Trace index of the faulty access, or -1 (no bug, or a global failure). */
  readonly fault: number;
  /** The per-CPU table of the last steps ('' for an empty trace). */
  readonly table: string;

  /** `bug` null: a trace without a bug. */
  constructor(
    explorer: Explorer,
    readonly trace: readonly StepRecord[],
    readonly bug: BugReport | null,
  ) {
    const exec = explorer.exec;
    this.exec = exec;
    this.bug_task = bug && bug.task !== '' ? task_index(exec, bug.task) : -1;
    this.table = trace.length > 0 ? explorer.table(trace, this.bug_task, TABLE_ROWS) : '';
    this.tasks = lane_tasks(trace, this.bug_task);
    this.locks = assign_slots(latest(lock_spans(exec, trace), MAX_SPANS));
    this.rcu = latest(rcu_spans(trace), MAX_SPANS);
    this.objects = tracked_objects(exec, trace, bug);
    this.fault =
      bug && this.bug_task >= 0 && trace.at(-1)?.task === this.bug_task ? trace.length - 1 : -1;
  }

  task_name(task: number): string {
    return this.exec.task_name(task);
  }

  /** `cpu1 step 812: vma_end_read: fetch_add vm_area_struct@0x5403.vm_lock.count` */
  step_text(s: StepRecord): string {
    return `${this.exec.task_name(s.task)} step ${s.step}: ${s.where[0] ?? '?'}: ${access_text(this.exec, s)}`;
  }

  /** The step's text and, on a second line, the kernel functions that made it. */
  step_tooltip(s: StepRecord): string {
    const chain = backtrace(s);
    return chain ? `${this.step_text(s)}\nin ${chain}` : this.step_text(s);
  }
}

/** The tasks that took a step, and the bug's task even if it never ran. */
function lane_tasks(trace: readonly StepRecord[], bug_task: number): number[] {
  const tasks = new Set(trace.map((s) => s.task));
  if (bug_task >= 0) tasks.add(bug_task);
  return [...tasks].sort((a, b) => a - b);
}

function task_index(exec: ExploreExecutor, name: string): number {
  for (let t = 0; t < exec.nr_tasks; t++) if (exec.task_name(t) === name) return t;
  return -1;
}

/* A lock is held from its LOCK_ACQUIRE to the matching LOCK_RELEASE of the same task. */
function lock_spans(exec: ExploreExecutor, trace: readonly StepRecord[]): Span[] {
  const spans: Span[] = [];
  const held = new Map<string, number[]>();
  const open = (i: number): Span => {
    const s = trace[i]!;
    const write = s.a === LOCK_WRITE;
    const label = `${lock_class_name(exec.m.words[s.addr]!)} (${write ? 'write' : 'read'})`;
    return { task: s.task, from: i, to: trace.length, label, write, slot: 0 };
  };
  trace.forEach((s, i) => {
    if (s.op === Op.LOCK_ACQUIRE) {
      const key = `${s.task}:${s.addr}`;
      const stack = held.get(key);
      if (stack) stack.push(i);
      else held.set(key, [i]);
    } else if (s.op === Op.LOCK_RELEASE) {
      const from = held.get(`${s.task}:${s.addr}`)?.pop();
      if (from !== undefined) spans.push({ ...open(from), to: i });
    }
  });
  for (const stack of held.values()) for (const from of stack) spans.push(open(from));
  return spans.sort((a, b) => a.from - b.from);
}

/* A read-side section runs from the outermost rcu_read_lock() to its rcu_read_unlock(). */
function rcu_spans(trace: readonly StepRecord[]): Span[] {
  const spans: Span[] = [];
  const depth = new Map<number, { from: number; n: number }>();
  const span = (task: number, from: number, to: number): Span => ({
    task,
    from,
    to,
    label: 'RCU read-side critical section',
    write: false,
    slot: 0,
  });
  trace.forEach((s, i) => {
    const d = depth.get(s.task);
    if (s.op === Op.RCU_READ_LOCK) {
      if (d) d.n++;
      else depth.set(s.task, { from: i, n: 1 });
    } else if (s.op === Op.RCU_READ_UNLOCK && d && --d.n === 0) {
      spans.push(span(s.task, d.from, i));
      depth.delete(s.task);
    }
  });
  for (const [task, d] of depth) spans.push(span(task, d.from, trace.length));
  return spans.sort((a, b) => a.from - b.from);
}

/** The `max` spans that end last: the ones nearest the bug. */
function latest(spans: Span[], max: number): Span[] {
  if (spans.length <= max) return spans;
  return [...spans]
    .sort((a, b) => b.to - a.to)
    .slice(0, max)
    .sort((a, b) => a.from - b.from);
}

/* Greedy interval colouring per task: each lock bar takes the first slot free at its start. */
function assign_slots(spans: Span[]): Span[] {
  const busy_until = new Map<number, number[]>();
  for (const s of spans) {
    const ends = busy_until.get(s.task) ?? [];
    busy_until.set(s.task, ends);
    let slot = ends.findIndex((end) => end <= s.from);
    if (slot < 0) slot = Math.min(ends.length, MAX_SLOTS - 1);
    ends[slot] = Math.max(ends[slot] ?? 0, s.to + 1);
    s.slot = slot;
  }
  return spans;
}

/*
 * The objects worth a lifetime: the one the last step touched (the faulty
 * access), then those whose address the bug message names (KASAN's
 * report names the object; a double free names its address).
 */
function tracked_objects(
  exec: ExploreExecutor,
  trace: readonly StepRecord[],
  bug: BugReport | null,
): TrackedObject[] {
  const objs: number[] = [];
  const add = (obj: number | undefined) => {
    if (obj !== undefined && obj !== 0 && !objs.includes(obj) && objs.length < MAX_OBJECTS)
      objs.push(obj);
  };
  const last = trace.at(-1);
  if (last) add(object_of(exec, last));
  for (const m of bug?.message.matchAll(/0x([0-9a-f]+)/g) ?? []) {
    const addr = Number.parseInt(m[1]!, 16);
    if (slab_object(exec.m, addr)?.obj === addr) add(addr);
  }
  return objs.map((obj) => track(exec, trace, obj));
}

/** The slab object a step is about: the one it frees, allocates or accesses. */
function object_of(exec: ExploreExecutor, s: StepRecord): number | undefined {
  if (s.op === Op.ALLOC) return s.result;
  if (s.op === Op.FREE) return s.addr;
  if (is_annotation(s.op)) return undefined;
  return slab_object(exec.m, s.addr)?.obj;
}

function track(exec: ExploreExecutor, trace: readonly StepRecord[], obj: number): TrackedObject {
  const found: { i: number; alloc: boolean }[] = [];
  const accesses: number[] = [];
  trace.forEach((s, i) => {
    if (s.op === Op.ALLOC && s.result === obj) found.push({ i, alloc: true });
    else if (s.op === Op.FREE && s.addr === obj) found.push({ i, alloc: false });
    else if (!is_annotation(s.op) && slab_object(exec.m, s.addr)?.obj === obj) accesses.push(i);
  });
  // Every allocation and free bumps the generation once, so counting back
  // from the generation the run ended with dates each event.
  const gen_end = obj_generation(exec.m.words, obj);
  const gen_before = gen_end - found.length;
  const events = found.map((e, k) => ({ ...e, gen: gen_before + k + 1 }));
  const cache = slab_object(exec.m, obj);
  const cache_name = cache ? (exec.m.caches.get(cache.cache)?.name ?? 'object') : 'object';
  return {
    obj,
    name: `${cache_name}@${hex(obj)}`,
    events,
    gen_before,
    accesses: accesses.slice(-MAX_OBJ_ACCESSES),
  };
}

function is_annotation(op: number): boolean {
  return (
    op === Op.LOCK_ACQUIRE ||
    op === Op.LOCK_RELEASE ||
    op === Op.ASSERT_HELD ||
    op === Op.RCU_READ_LOCK ||
    op === Op.RCU_READ_UNLOCK
  );
}

export function step_kind(op: number): StepKind {
  switch (op) {
    case Op.STORE:
    case Op.WRITE_ONCE:
    case Op.STORE_RELEASE:
    case Op.MEMCPY:
    case Op.MEMSET:
      return 'wr';
    case Op.CMPXCHG:
    case Op.XCHG:
    case Op.FETCH_ADD:
    case Op.FETCH_OR:
    case Op.FETCH_AND:
      return 'rmw';
    case Op.FUTEX_WAIT:
    case Op.FUTEX_WAKE:
      return 'fx';
    case Op.LOCK_ACQUIRE:
    case Op.LOCK_RELEASE:
    case Op.ASSERT_HELD:
      return 'lk';
    case Op.RCU_READ_LOCK:
    case Op.RCU_READ_UNLOCK:
      return 'rcu';
    case Op.ALLOC:
    case Op.FREE:
      return 'slab';
    default:
      return 'rd';
  }
}

/* ---- words: what each step did ---- */

function access_text(exec: ExploreExecutor, s: StepRecord): string {
  const op = OP_NAMES[s.op] ?? `op${s.op}`;
  switch (s.op) {
    case Op.RCU_READ_LOCK:
    case Op.RCU_READ_UNLOCK:
      return op;
    case Op.LOCK_ACQUIRE:
      return `${op} ${lock_class_name(exec.m.words[s.addr]!)} (${s.a === LOCK_WRITE ? 'write' : 'read'})`;
    case Op.LOCK_RELEASE:
      return `${op} ${lock_class_name(exec.m.words[s.addr]!)}`;
    case Op.ALLOC: {
      const cache = exec.m.caches.get(s.addr)?.name ?? exec.describe(s.addr);
      return `${op} ${cache} = ${s.result === 0 ? 'NULL' : exec.describe(s.result)}`;
    }
    default:
      return `${op} ${exec.describe(s.addr)}${s.parked ? ' (parked)' : ''}`;
  }
}

/* The generator frames (`f.next`) say nothing a reader wants: keep the kernel functions. */
export function backtrace(s: StepRecord): string {
  return s.where.filter((fn) => !fn.endsWith('.next')).join(' ← ');
}
