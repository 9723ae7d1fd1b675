/*
 * The timeline page (`mmlab check ... --html FILE`): one self-contained
 * HTML document that explains a traced schedule, usually the failing one
 * the explorer found. A header names the bug and gives its replay string;
 * an inline SVG draws one lane per task with a mark per step, the locks
 * each task holds, its RCU read-side sections, the preemptions, the
 * lifetimes of the objects the bug is about and the faulty access in red;
 * the per-CPU table of the last steps follows. No script, no external
 * resource: the page is read offline, attached to a mail, or archived
 * with a bug report.
 *
 * Call it right after `explorer.trace()`: object generations and lock
 * class names are read from the memory the traced run left behind.
 */
import { lock_class_name } from '../kernel/locking/lockdep.js';
import type { ExploreExecutor, StepRecord } from '../runtime/executors/explore.js';
import { obj_generation, slab_object } from '../runtime/heap.js';
import { hex } from '../runtime/memory.js';
import { LOCK_WRITE, OP_NAMES, Op } from '../runtime/ops.js';
import type { BugReport, Explorer } from './explorer.js';

/*
 * The x axis. The steps near the bug matter most: the last FOCUS_STEPS
 * get a fixed, readable width each; everything before them is squeezed
 * into CONTEXT_BUDGET_PX, so that a trace of 200,000 steps still makes a
 * page a browser can draw. Where the squeeze leaves less than
 * MIN_MARK_PX a step, the steps of each task are drawn as one mark per
 * BUCKET_PX. The page scrolls horizontally and opens at the right end,
 * where the bug is.
 */
const FOCUS_STEPS = 200;
/** A short trace is spread to about this width. */
const FOCUS_TARGET_PX = 960;
const MIN_STEP_PX = 12;
const MAX_STEP_PX = 40;
const CONTEXT_BUDGET_PX = 1600;
/** The gap that shows where the squeezed part ends. */
const BREAK_PX = 28;
const MIN_MARK_PX = 3;
const BUCKET_PX = 4;
/** Tick labels of the step axis at least this far apart. */
const TICK_SPACING_PX = 60;
const PAD_PX = 12;
const MIN_WIDTH_PX = 640;

/* The y axis: the step axis, then a lane per task, then a row per object. */
const AXIS_PX = 48;
/** The RCU band and the step marks, above the lock bars. */
const LANE_MARKS_PX = 30;
const LANE_MID_PX = 17;
const SLOT_PX = 14;
/** Locks nested deeper than this share the last slot. */
const MAX_SLOTS = 8;
const LANE_GAP_PX = 8;
const OBJECTS_HEAD_PX = 22;
const OBJ_ROW_PX = 46;
const BOTTOM_PX = 12;
const LABEL_COL_PX = 200;
/** The fault's label: 12px bold monospace, about this wide a character. */
const FAULT_CHAR_PX = 7.3;
const FAULT_LABEL_GAP_PX = 6;

/** Objects drawn with their lifetimes: the faulty access's and those the message names. */
const MAX_OBJECTS = 4;
/** Lock bars and RCU bands drawn at most (the latest), so that huge traces stay drawable. */
const MAX_SPANS = 3000;
const MAX_OBJ_ACCESSES = 2000;
const TABLE_ROWS = 60;

/** The colour of each kind of step, used by the SVG marks and the legend alike. */
const KINDS = {
  rd: { colour: '#9e9e9e', what: 'load' },
  wr: { colour: '#1565c0', what: 'store, memcpy, memset' },
  rmw: { colour: '#6a1b9a', what: 'cmpxchg, xchg, fetch_*' },
  fx: { colour: '#ef6c00', what: 'futex wait/wake' },
  lk: { colour: '#00838f', what: 'lockdep annotation' },
  rcu: { colour: '#2e7d32', what: 'rcu_read_lock/unlock' },
  slab: { colour: '#6d4c41', what: 'alloc, free' },
} as const;
type Kind = keyof typeof KINDS;

/** Draw and hand back the whole page. `bug` null: a trace without a bug (still drawn). */
export function timeline_html(
  explorer: Explorer,
  trace: readonly StepRecord[],
  bug: BugReport | null,
  title: string,
): string {
  const exec = explorer.exec;
  const bug_task = bug && bug.task !== '' ? task_index(exec, bug.task) : -1;
  const table = trace.length > 0 ? explorer.table(trace, bug_task, TABLE_ROWS) : '';
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${css()}</style>`,
    '</head>',
    '<body>',
    header_html(title, bug, trace.length),
    legend_html(),
    trace.length > 0 ? timeline_svgs(exec, trace, bug, bug_task) : '<p>The trace is empty.</p>',
    trace.length > 0 ? `<h2>The last steps</h2>\n<pre class="table">${esc(table)}</pre>` : '',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/* ---- the model of the picture: derived from the trace, drawn below ---- */

/** A lock held, or an RCU read-side section, by one task. */
interface Span {
  readonly task: number;
  /** Trace index of the acquiring step. */
  readonly from: number;
  /** Trace index of the releasing step, or the trace's length while still held at the end. */
  readonly to: number;
  readonly label: string;
  readonly write: boolean;
  /** Row under the lane, so that nested locks do not overlap. */
  slot: number;
}

interface ObjEvent {
  readonly i: number;
  readonly alloc: boolean;
  /** Generation right after the event: odd once allocated, even once freed. */
  readonly gen: number;
}

interface TrackedObject {
  readonly obj: number;
  readonly name: string;
  readonly events: readonly ObjEvent[];
  /** Generation before the trace's first step. */
  readonly gen_before: number;
  /** Trace indexes of the accesses to its words. */
  readonly accesses: readonly number[];
}

interface Lane {
  readonly task: number;
  readonly name: string;
  readonly y_px: number;
  readonly height_px: number;
  readonly mid_px: number;
}

interface Picture {
  readonly exec: ExploreExecutor;
  readonly trace: readonly StepRecord[];
  readonly bug: BugReport | null;
  readonly x: XScale;
  readonly lanes: ReadonlyMap<number, Lane>;
  readonly locks: readonly Span[];
  readonly rcu: readonly Span[];
  readonly objects: readonly TrackedObject[];
  /** Trace index of the faulty access, or -1 (no bug, or a global failure). */
  readonly fault: number;
  /** What the red label at the top says ('' without a bug). */
  readonly fault_label: string;
  readonly objects_y_px: number;
  readonly width_px: number;
  readonly height_px: number;
}

class XScale {
  /** Trace index of the first step drawn at full width. */
  readonly focus_from: number;
  readonly focus_step_px: number;
  readonly ctx_step_px: number;
  readonly gap_px: number;

  constructor(readonly n: number) {
    this.focus_from = Math.max(0, n - FOCUS_STEPS);
    const focus_n = Math.max(1, n - this.focus_from);
    this.focus_step_px = clamp(FOCUS_TARGET_PX / focus_n, MIN_STEP_PX, MAX_STEP_PX);
    this.ctx_step_px =
      this.focus_from === 0
        ? this.focus_step_px
        : Math.min(this.focus_step_px, CONTEXT_BUDGET_PX / this.focus_from);
    this.gap_px = this.squeezed ? BREAK_PX : 0;
  }

  /** Whether the steps before the focus are drawn narrower than the focus. */
  get squeezed(): boolean {
    return this.focus_from > 0 && this.ctx_step_px < this.focus_step_px;
  }

  /** Left edge of step `i` (0 <= i <= n). */
  x_px(i: number): number {
    if (i < this.focus_from) return PAD_PX + i * this.ctx_step_px;
    return (
      PAD_PX +
      this.focus_from * this.ctx_step_px +
      this.gap_px +
      (i - this.focus_from) * this.focus_step_px
    );
  }

  step_px(i: number): number {
    return i < this.focus_from ? this.ctx_step_px : this.focus_step_px;
  }

  mid_px(i: number): number {
    return this.x_px(i) + this.step_px(i) / 2;
  }

  /** Whether step `i` gets a mark of its own. */
  detailed(i: number): boolean {
    return this.step_px(i) >= MIN_MARK_PX;
  }

  get end_px(): number {
    return this.x_px(this.n);
  }
}

function build_picture(
  exec: ExploreExecutor,
  trace: readonly StepRecord[],
  bug: BugReport | null,
  bug_task: number,
): Picture {
  const x = new XScale(trace.length);
  const locks = assign_slots(latest(lock_spans(exec, trace), MAX_SPANS));
  const rcu = latest(rcu_spans(trace), MAX_SPANS);
  const fault = bug && bug_task >= 0 && trace.at(-1)?.task === bug_task ? trace.length - 1 : -1;
  const objects = tracked_objects(exec, trace, bug);
  const lanes = new Map<number, Lane>();
  let y_px = AXIS_PX;
  for (const task of lane_tasks(trace, bug_task)) {
    const slots = Math.max(0, ...locks.filter((s) => s.task === task).map((s) => s.slot + 1));
    const height_px = LANE_MARKS_PX + slots * SLOT_PX + LANE_GAP_PX;
    lanes.set(task, {
      task,
      name: exec.task_name(task),
      y_px,
      height_px,
      mid_px: y_px + LANE_MID_PX,
    });
    y_px += height_px;
  }
  const objects_y_px = y_px;
  if (objects.length > 0) y_px += OBJECTS_HEAD_PX + objects.length * OBJ_ROW_PX;
  const label = bug ? fault_label(exec, trace, bug, fault) : '';
  // A label that does not fit left of the fault runs right of it: widen the picture for it.
  const fault_x_px = fault < 0 ? x.end_px : x.mid_px(fault);
  const label_right_px = fault_x_px + FAULT_LABEL_GAP_PX + label.length * FAULT_CHAR_PX + PAD_PX;
  return {
    exec,
    trace,
    bug,
    x,
    lanes,
    locks,
    rcu,
    objects,
    fault,
    fault_label: label,
    objects_y_px,
    width_px: Math.ceil(
      Math.max(MIN_WIDTH_PX, x.end_px + PAD_PX, fits_left(fault_x_px, label) ? 0 : label_right_px),
    ),
    height_px: y_px + BOTTOM_PX,
  };
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

function kind_of(op: number): Kind {
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

/** `cpu1 step 812: vma_end_read: fetch_add vm_area_struct@0x5403.vm_lock.count` */
function step_text(exec: ExploreExecutor, s: StepRecord): string {
  return `${exec.task_name(s.task)} step ${s.step}: ${s.where[0] ?? '?'}: ${access_text(exec, s)}`;
}

/** The step's text and, on a second line, the kernel functions that made it. */
function step_tooltip(exec: ExploreExecutor, s: StepRecord): string {
  const chain = backtrace(s);
  return chain ? `${step_text(exec, s)}\nin ${chain}` : step_text(exec, s);
}

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
function backtrace(s: StepRecord): string {
  return s.where.filter((fn) => !fn.endsWith('.next')).join(' ← ');
}

/* ---- drawing ---- */

function timeline_svgs(
  exec: ExploreExecutor,
  trace: readonly StepRecord[],
  bug: BugReport | null,
  bug_task: number,
): string {
  const p = build_picture(exec, trace, bug, bug_task);
  const body = [
    lane_backgrounds(p),
    axis(p),
    spans_svg(p, p.rcu, 'rcu'),
    spans_svg(p, p.locks, 'lock'),
    preemptions(p),
    step_marks(p),
    objects_svg(p),
    fault_svg(p),
  ].join('\n');
  const names = names_svg(p, bug_task);
  // The scrolling box is right-to-left so that it opens at its right end,
  // where the bug is; its content is laid out left-to-right again.
  return [
    '<div class="tl">',
    names,
    '<div class="scroll"><div>',
    `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${p.width_px}" height="${p.height_px}" viewBox="0 0 ${p.width_px} ${p.height_px}" role="img" aria-label="timeline of ${p.trace.length} steps">`,
    body,
    '</svg>',
    '</div></div>',
    '</div>',
  ].join('\n');
}

/* The task and object names, outside the scrolling box so that they stay in view. */
function names_svg(p: Picture, bug_task: number): string {
  const out: string[] = [];
  for (const lane of p.lanes.values()) {
    const cls = lane.task === bug_task ? 'lane-label bug-task' : 'lane-label';
    out.push(text_el(PAD_PX, lane.mid_px + 4, lane.name, cls));
  }
  if (p.objects.length > 0)
    out.push(text_el(PAD_PX, p.objects_y_px + 15, 'objects', 'section-label'));
  p.objects.forEach((o, k) => {
    out.push(text_el(PAD_PX, obj_row_mid(p, k) + 4, o.name, 'obj-label'));
  });
  return `<svg class="names" xmlns="http://www.w3.org/2000/svg" width="${LABEL_COL_PX}" height="${p.height_px}" aria-hidden="true">\n${out.join('\n')}\n</svg>`;
}

function lane_backgrounds(p: Picture): string {
  const out: string[] = [];
  let k = 0;
  for (const lane of p.lanes.values()) {
    const cls = k++ % 2 === 0 ? 'lane-bg' : 'lane-bg alt';
    out.push(rect_el(0, lane.y_px, p.width_px, lane.height_px, cls));
    out.push(line_el(p.x.x_px(0), lane.mid_px, p.x.end_px, lane.mid_px, 'lane-line'));
  }
  if (p.x.squeezed) {
    const x = p.x;
    const from_px = x.x_px(x.focus_from) - x.gap_px;
    out.push(
      rect_el(
        from_px,
        AXIS_PX - 14,
        x.gap_px,
        p.height_px - AXIS_PX + 14,
        'break',
        `steps before ${p.trace[x.focus_from]!.step} are squeezed to ${x.ctx_step_px.toFixed(2)} px a step; the last ${p.trace.length - x.focus_from} steps get ${x.focus_step_px.toFixed(0)} px each`,
      ),
    );
  }
  return out.join('\n');
}

/* Step numbers, at a round interval that leaves room for the labels of each part. */
function axis(p: Picture): string {
  const out: string[] = [];
  const x = p.x;
  const parts: [number, number][] = [
    [0, x.focus_from],
    [x.focus_from, p.trace.length],
  ];
  for (const [from, to] of parts) {
    if (from >= to) continue;
    const every = nice_interval(TICK_SPACING_PX / x.step_px(from));
    for (let i = from; i < to; i++) {
      const step = p.trace[i]!.step;
      if (step % every !== 0) continue;
      const x_px = x.mid_px(i);
      out.push(line_el(x_px, AXIS_PX - 8, x_px, p.height_px - BOTTOM_PX, 'tick'));
      out.push(text_el(x_px, AXIS_PX - 12, String(step), 'tick-label', 'middle'));
    }
  }
  if (x.squeezed) {
    out.push(
      text_el(
        x.x_px(0),
        AXIS_PX - 28,
        `steps ${p.trace[0]!.step}–${p.trace[x.focus_from - 1]!.step} squeezed`,
        'note',
      ),
    );
  }
  return out.join('\n');
}

/** The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `min`. */
function nice_interval(min: number): number {
  for (let scale = 1; ; scale *= 10) {
    for (const m of [1, 2, 5]) if (m * scale >= min) return m * scale;
  }
}

function spans_svg(p: Picture, spans: readonly Span[], what: 'lock' | 'rcu'): string {
  const out: string[] = [];
  for (const s of spans) {
    const lane = p.lanes.get(s.task);
    if (!lane) continue;
    const x0_px = p.x.x_px(s.from);
    const x1_px = s.to < p.trace.length ? p.x.x_px(s.to) + p.x.step_px(s.to) : p.x.end_px;
    const w_px = Math.max(1, x1_px - x0_px);
    const held = span_steps_text(p, s);
    if (what === 'rcu') {
      out.push(rect_el(x0_px, lane.y_px + 2, w_px, 4, 'rcu', `${lane.name}: ${s.label}, ${held}`));
      continue;
    }
    const y_px = lane.y_px + LANE_MARKS_PX + s.slot * SLOT_PX;
    const cls = s.write ? 'lock lock-w' : 'lock lock-r';
    const tip = `${lane.name} holds ${s.label}, ${held}`;
    out.push(rect_el(x0_px, y_px, w_px, SLOT_PX - 3, cls, tip));
    // A label only where it fits (about 6.6 px a character); the tooltip has it always.
    if (w_px > s.label.length * 6.6 + 6)
      out.push(text_el(x0_px + 3, y_px + SLOT_PX - 6, s.label, 'lock-label'));
  }
  return out.join('\n');
}

function span_steps_text(p: Picture, s: Span): string {
  const from = p.trace[s.from]!.step;
  if (s.to >= p.trace.length) return `from step ${from} to the end`;
  return `steps ${from}–${p.trace[s.to]!.step}`;
}

/*
 * A switch away from a task that could have gone on (its step did not
 * park it and it runs again later): a thin connector from the preempted
 * lane to the one that runs. A task that never runs again may have ended,
 * so its last switch is not counted.
 */
function preemptions(p: Picture): string {
  const last_step = new Map<number, number>();
  p.trace.forEach((s, i) => {
    last_step.set(s.task, i);
  });
  const out: string[] = [];
  for (let i = 1; i < p.trace.length; i++) {
    const prev = p.trace[i - 1]!;
    const cur = p.trace[i]!;
    if (cur.task === prev.task || prev.parked || last_step.get(prev.task)! < i) continue;
    if (!p.x.detailed(i)) continue;
    const from = p.lanes.get(prev.task)!;
    const to = p.lanes.get(cur.task)!;
    const x_px = p.x.x_px(i);
    const tip = `step ${cur.step}: ${from.name} preempted by ${to.name}`;
    out.push(line_el(x_px, from.mid_px, x_px, to.mid_px, 'preempt', tip));
  }
  return out.join('\n');
}

function step_marks(p: Picture): string {
  const out: string[] = [];
  const x = p.x;
  for (let i = 0; i < p.trace.length; i++) {
    if (!x.detailed(i)) continue;
    const s = p.trace[i]!;
    const lane = p.lanes.get(s.task)!;
    const kind = kind_of(s.op);
    const w_px = clamp(x.step_px(i) * 0.6, 1, 8);
    const h_px = kind === 'rd' ? 8 : 14;
    const cls = s.parked ? `m m-${kind} parked` : `m m-${kind}`;
    const x_px = x.mid_px(i) - w_px / 2;
    out.push(rect_el(x_px, lane.mid_px - h_px / 2, w_px, h_px, cls, step_tooltip(p.exec, s)));
  }
  if (x.squeezed && !x.detailed(0)) out.push(bucket_marks(p));
  return out.join('\n');
}

/*
 * Steps too narrow for a mark each: one mark per task per BUCKET_PX of
 * the squeezed part, saying how many steps it stands for and in which
 * functions.
 */
function bucket_marks(p: Picture): string {
  const out: string[] = [];
  const x = p.x;
  const per_bucket = Math.max(1, Math.floor(BUCKET_PX / x.ctx_step_px));
  for (let b = 0; b < x.focus_from; b += per_bucket) {
    const end = Math.min(b + per_bucket, x.focus_from);
    const by_task = new Map<number, { n: number; first: number; last: number; fns: Set<string> }>();
    for (let i = b; i < end; i++) {
      const s = p.trace[i]!;
      const g = by_task.get(s.task) ?? { n: 0, first: i, last: i, fns: new Set<string>() };
      g.n++;
      g.last = i;
      if (g.fns.size < 4) g.fns.add(s.where[0] ?? '?');
      by_task.set(s.task, g);
    }
    for (const [task, g] of by_task) {
      const lane = p.lanes.get(task)!;
      const x0_px = x.x_px(g.first);
      const w_px = Math.max(1, x.x_px(g.last + 1) - x0_px);
      const tip = `${lane.name}: ${g.n} steps from step ${p.trace[g.first]!.step} to ${p.trace[g.last]!.step}, in ${[...g.fns].join(', ')}`;
      out.push(rect_el(x0_px, lane.mid_px - 5, w_px, 10, 'm m-bucket', tip));
    }
  }
  return out.join('\n');
}

function obj_row_mid(p: Picture, k: number): number {
  return p.objects_y_px + OBJECTS_HEAD_PX + k * OBJ_ROW_PX + OBJ_ROW_PX / 2;
}

/*
 * One row per object: a solid line while it is allocated, a dashed one
 * while it is free, its allocations and frees marked and joined to the
 * lane of the task that made them, and a tick for every access to it.
 */
function objects_svg(p: Picture): string {
  if (p.objects.length === 0) return '';
  const out: string[] = [
    line_el(0, p.objects_y_px + 1, p.width_px, p.objects_y_px + 1, 'objects-rule'),
  ];
  p.objects.forEach((o, k) => {
    out.push(object_row(p, o, obj_row_mid(p, k)));
  });
  return out.join('\n');
}

function object_row(p: Picture, o: TrackedObject, y_px: number): string {
  const out: string[] = [];
  const x = p.x;
  let from_px = x.x_px(0);
  let live = (o.gen_before & 1) === 1;
  if (live) {
    out.push(
      text_el(
        from_px + 2,
        y_px - 7,
        `allocated before the trace (gen ${o.gen_before})`,
        'obj-note',
      ),
    );
  }
  for (const e of o.events) {
    const x_px = x.mid_px(e.i);
    out.push(lifetime_line(from_px, x_px, y_px, live, o, e.gen - 1));
    out.push(event_mark(p, o, e, x_px, y_px));
    from_px = x_px;
    live = e.alloc;
  }
  const gen_end = o.gen_before + o.events.length;
  out.push(lifetime_line(from_px, x.end_px, y_px, live, o, gen_end));
  for (const i of o.accesses) {
    if (!x.detailed(i) && i !== p.fault) continue;
    const s = p.trace[i]!;
    const cls = i === p.fault ? 'obj-access fault' : `obj-access m-${kind_of(s.op)}`;
    out.push(rect_el(x.mid_px(i) - 1.5, y_px - 5, 3, 10, cls, step_tooltip(p.exec, s)));
  }
  return out.join('\n');
}

function lifetime_line(
  x0_px: number,
  x1_px: number,
  y_px: number,
  live: boolean,
  o: TrackedObject,
  gen: number,
): string {
  if (x1_px <= x0_px) return '';
  const tip = live
    ? `${o.name} allocated (gen ${gen})`
    : gen === 0
      ? `${o.name} never allocated yet (gen 0)`
      : `${o.name} free (gen ${gen}): an access here is a use-after-free`;
  return line_el(x0_px, y_px, x1_px, y_px, live ? 'life live' : 'life freed', tip);
}

function event_mark(p: Picture, o: TrackedObject, e: ObjEvent, x_px: number, y_px: number): string {
  const s = p.trace[e.i]!;
  const lane = p.lanes.get(s.task)!;
  const who = lane.name;
  const what = e.alloc ? 'allocated' : 'freed';
  const tip = `${o.name} ${what} (now gen ${e.gen}) by ${who} at step ${s.step}\nin ${backtrace(s)}`;
  const link = line_el(x_px, lane.mid_px + 7, x_px, y_px, 'link');
  if (e.alloc) {
    return [
      link,
      `<circle class="alloc-mark" cx="${px(x_px)}" cy="${px(y_px)}" r="5"><title>${esc(tip)}</title></circle>`,
      text_el(x_px + 8, y_px - 7, `alloc gen ${e.gen} · ${who} · step ${s.step}`, 'obj-note'),
    ].join('\n');
  }
  const d = 5;
  return [
    link,
    `<g class="free-mark"><title>${esc(tip)}</title>`,
    line_el(x_px - d, y_px - d, x_px + d, y_px + d, ''),
    line_el(x_px - d, y_px + d, x_px + d, y_px - d, ''),
    '</g>',
    text_el(
      x_px - 8,
      y_px + 16,
      `free → gen ${e.gen} · ${who} · step ${s.step}`,
      'obj-note',
      'end',
    ),
  ].join('\n');
}

/*
 * The faulty access in red: a ring on its lane, a line down the whole
 * picture and a label with an arrow at the top. A global failure
 * (deadlock, a failed final check) has no step: the line marks the end.
 */
function fault_svg(p: Picture): string {
  const bug = p.bug;
  if (!bug) return '';
  const bottom_px = p.height_px - BOTTOM_PX;
  const s = p.fault < 0 ? undefined : p.trace[p.fault]!;
  const x_px = s ? p.x.mid_px(p.fault) : p.x.end_px;
  const left = fits_left(x_px, p.fault_label);
  const label = text_el(
    left ? x_px - FAULT_LABEL_GAP_PX : x_px + FAULT_LABEL_GAP_PX,
    12,
    p.fault_label,
    'fault-label',
    left ? 'end' : 'start',
  );
  if (!s) {
    const tip = `${bug.class}: ${bug.message}`;
    return [line_el(x_px, AXIS_PX - 8, x_px, bottom_px, 'fault-line', tip), label].join('\n');
  }
  const lane = p.lanes.get(s.task)!;
  const tip = `${bug.class}: ${bug.message}\n${step_tooltip(p.exec, s)}`;
  const tip_y_px = lane.mid_px - 7;
  return [
    line_el(x_px, AXIS_PX - 8, x_px, bottom_px, 'fault-line'),
    line_el(x_px, AXIS_PX - 34, x_px, tip_y_px - 3, 'fault-arrow'),
    `<polygon class="fault" points="${px(x_px - 4)},${px(tip_y_px - 5)} ${px(x_px + 4)},${px(tip_y_px - 5)} ${px(x_px)},${px(tip_y_px)}"/>`,
    `<circle class="fault" cx="${px(x_px)}" cy="${px(lane.mid_px)}" r="6"><title>${esc(tip)}</title></circle>`,
    label,
  ].join('\n');
}

function fault_label(
  exec: ExploreExecutor,
  trace: readonly StepRecord[],
  bug: BugReport,
  fault: number,
): string {
  if (fault < 0) return `✗ ${bug.class} at the end of the run`;
  return `✗ ${bug.class}: ${step_text(exec, trace[fault]!)}`;
}

/** Whether the fault's label fits left of the fault (where it is drawn when it does). */
function fits_left(x_px: number, label: string): boolean {
  return x_px - FAULT_LABEL_GAP_PX - label.length * FAULT_CHAR_PX >= 0;
}

/* ---- HTML around the picture ---- */

function header_html(title: string, bug: BugReport | null, steps: number): string {
  const out = [`<h1>${esc(title)}</h1>`];
  if (!bug) {
    out.push(`<p>No bug: a trace of ${steps} steps.</p>`);
    return out.join('\n');
  }
  out.push(
    `<p class="bug"><span class="cls">${esc(bug.class)}</span> ${esc(bug.message)}</p>`,
    `<p class="facts">found by ${esc(bug.task || 'no single task (a global failure)')}; ${bug.steps} steps, ${bug.preemptions} preemptions, trace hash ${esc(bug.hash)}</p>`,
    `<pre class="replay">mmlab replay ${esc(bug.replay)}</pre>`,
  );
  return out.join('\n');
}

function legend_html(): string {
  const kinds = Object.entries(KINDS).map(
    ([kind, k]) => `<span class="key k-${kind}"></span>${esc(k.what)}`,
  );
  const others = [
    '<span class="key k-lock-w"></span>lock held for write',
    '<span class="key k-lock-r"></span>for read',
    '<span class="key k-rcu-band"></span>RCU read-side section',
    '<span class="key k-preempt"></span>preemption',
    '<span class="key k-fault"></span>faulty access',
  ];
  return `<p class="legend">${[...kinds, ...others].join(' ')}. Hover a mark for the step, its kernel function and address; the last steps are drawn widest.</p>`;
}

function css(): string {
  const kinds = Object.entries(KINDS)
    .map(([kind, k]) => `.m-${kind}{fill:${k.colour}}.k-${kind}{background:${k.colour}}`)
    .join('');
  return [
    'body{font:14px/1.45 system-ui,sans-serif;margin:16px;color:#222;background:#fff}',
    'h1{font-size:19px;margin:0 0 8px}h2{font-size:16px;margin:18px 0 6px}',
    '.cls{background:#c62828;color:#fff;border-radius:3px;padding:1px 6px;font-weight:600}',
    '.bug{font-family:ui-monospace,monospace;font-size:13px}.facts{color:#555;margin:4px 0}',
    'pre{background:#f6f6f6;border:1px solid #e3e3e3;padding:8px;overflow-x:auto;font:12px/1.35 ui-monospace,monospace}',
    '.legend{font-size:12px;color:#444}.key{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:middle;border:1px solid #0003}',
    '.k-lock-w{background:#ffcc80}.k-lock-r{background:#b3e5fc}.k-rcu-band{background:#81c784;height:4px}.k-preempt{border:0;border-left:2px dashed #ff9800;width:2px}.k-fault{background:#d32f2f;border-radius:50%}',
    '.tl{display:flex;border:1px solid #ddd;background:#fff}',
    '.names{flex:none;background:#fafafa;border-right:1px solid #ddd}',
    '.scroll{overflow-x:auto;direction:rtl;flex:1 1 auto;min-width:0}',
    '.scroll>div{direction:ltr;width:max-content;min-width:100%}',
    'svg text{font:11px ui-monospace,monospace;fill:#333}',
    '.lane-label{font-size:13px;font-weight:600}.bug-task{fill:#c62828}',
    '.obj-label{font-size:11px;fill:#6d4c41}.section-label{fill:#888}',
    '.lane-bg{fill:#fdfdfd}.lane-bg.alt{fill:#f3f5f9}.lane-line{stroke:#ddd}',
    '.break{fill:#eee}.note{fill:#888}.tick{stroke:#0000000d}.tick-label{fill:#777;font-size:10px}',
    kinds,
    '.m-bucket{fill:#b0b0b0}.parked{fill:#fff;stroke:#555;stroke-width:1}',
    '.lock{stroke-width:1}.lock-w{fill:#ffcc80;stroke:#e65100}.lock-r{fill:#b3e5fc;stroke:#0277bd}',
    '.lock-label{font-size:10px;fill:#222}.rcu{fill:#81c784}',
    '.preempt{stroke:#ff9800;stroke-width:1;stroke-dasharray:3 2}',
    '.objects-rule{stroke:#ccc}.life{stroke-width:3}.live{stroke:#6d4c41}.freed{stroke:#d7a8a8;stroke-dasharray:4 3}',
    '.alloc-mark{fill:#43a047;stroke:#1b5e20}.free-mark line{stroke:#b71c1c;stroke-width:2.5}',
    '.link{stroke:#8d6e63;stroke-dasharray:1 3}.obj-note{font-size:10px;fill:#5d4037}',
    '.fault{fill:#d32f2f;stroke:#b71c1c}.fault-line{stroke:#d32f2f;stroke-width:1.5;stroke-opacity:.6}',
    '.fault-arrow{stroke:#d32f2f;stroke-width:1.5}.fault-label{fill:#c62828;font-weight:600;font-size:12px}',
  ].join('\n');
}

/* ---- SVG and HTML text ---- */

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text and attribute values alike: kernel names hold `<`, `>` and `&` (backtraces, messages). */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Coordinates with one decimal: enough for a screen, and a smaller page. */
function px(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function tooltip(tip: string | undefined): string {
  return tip === undefined ? '' : `<title>${esc(tip)}</title>`;
}

function rect_el(
  x_px: number,
  y_px: number,
  w_px: number,
  h_px: number,
  cls: string,
  tip?: string,
): string {
  const attrs = `class="${cls}" x="${px(x_px)}" y="${px(y_px)}" width="${px(w_px)}" height="${px(h_px)}"`;
  return tip === undefined ? `<rect ${attrs}/>` : `<rect ${attrs}>${tooltip(tip)}</rect>`;
}

function line_el(
  x0_px: number,
  y0_px: number,
  x1_px: number,
  y1_px: number,
  cls: string,
  tip?: string,
): string {
  const attrs = `${cls ? `class="${cls}" ` : ''}x1="${px(x0_px)}" y1="${px(y0_px)}" x2="${px(x1_px)}" y2="${px(y1_px)}"`;
  return tip === undefined ? `<line ${attrs}/>` : `<line ${attrs}>${tooltip(tip)}</line>`;
}

function text_el(
  x_px: number,
  y_px: number,
  s: string,
  cls: string,
  anchor: 'start' | 'middle' | 'end' = 'start',
): string {
  const a = anchor === 'start' ? '' : ` text-anchor="${anchor}"`;
  return `<text class="${cls}" x="${px(x_px)}" y="${px(y_px)}"${a}>${esc(s)}</text>`;
}
