/*
 * The timeline picture: an inline SVG with one lane per task, a mark per
 * step, the locks each task holds, its RCU read-side sections, the
 * preemptions, the lifetimes of the objects the bug is about and the
 * faulty access in red, laid out from what src/check/timeline.ts read of
 * the trace. The page around it is src/report/timeline_html.ts.
 */
import {
  backtrace,
  type ObjEvent,
  type Span,
  step_kind,
  type Timeline,
  type TrackedObject,
} from '../check/timeline.js';
import { esc, line_el, px, rect_el, text_el } from './html_util.js';
import { clamp, PAD_PX, XScale } from './timeline_scale.js';

/** In the squeezed part, one mark per task per this width. */
const BUCKET_PX = 4;
/** Tick labels of the step axis at least this far apart. */
const TICK_SPACING_PX = 60;
const MIN_WIDTH_PX = 640;

/* The y axis: the step axis, then a lane per task, then a row per object. */
const AXIS_PX = 48;
/** The RCU band and the step marks, above the lock bars. */
const LANE_MARKS_PX = 30;
const LANE_MID_PX = 17;
const SLOT_PX = 14;
const LANE_GAP_PX = 8;
const OBJECTS_HEAD_PX = 22;
const OBJ_ROW_PX = 46;
const BOTTOM_PX = 12;
const LABEL_COL_PX = 200;
/** The fault's label: 12px bold monospace, about this wide a character. */
const FAULT_CHAR_PX = 7.3;
const FAULT_LABEL_GAP_PX = 6;

interface Lane {
  readonly task: number;
  readonly name: string;
  readonly y_px: number;
  readonly height_px: number;
  readonly mid_px: number;
}

interface Picture {
  readonly t: Timeline;
  readonly x: XScale;
  readonly lanes: ReadonlyMap<number, Lane>;
  /** What the red label at the top says ('' without a bug). */
  readonly fault_label: string;
  readonly objects_y_px: number;
  readonly width_px: number;
  readonly height_px: number;
}

function build_picture(t: Timeline): Picture {
  const x = new XScale(t.trace.length);
  const lanes = new Map<number, Lane>();
  let y_px = AXIS_PX;
  for (const task of t.tasks) {
    const slots = Math.max(0, ...t.locks.filter((s) => s.task === task).map((s) => s.slot + 1));
    const height_px = LANE_MARKS_PX + slots * SLOT_PX + LANE_GAP_PX;
    lanes.set(task, {
      task,
      name: t.task_name(task),
      y_px,
      height_px,
      mid_px: y_px + LANE_MID_PX,
    });
    y_px += height_px;
  }
  const objects_y_px = y_px;
  if (t.objects.length > 0) y_px += OBJECTS_HEAD_PX + t.objects.length * OBJ_ROW_PX;
  const label = fault_label(t);
  // A label that does not fit left of the fault runs right of it: widen the picture for it.
  const fault_x_px = t.fault < 0 ? x.end_px : x.mid_px(t.fault);
  const label_right_px = fault_x_px + FAULT_LABEL_GAP_PX + label.length * FAULT_CHAR_PX + PAD_PX;
  return {
    t,
    x,
    lanes,
    fault_label: label,
    objects_y_px,
    width_px: Math.ceil(
      Math.max(MIN_WIDTH_PX, x.end_px + PAD_PX, fits_left(fault_x_px, label) ? 0 : label_right_px),
    ),
    height_px: y_px + BOTTOM_PX,
  };
}

/** The picture of a non-empty trace, with the names of its lanes and objects left of it. */
export function timeline_svgs(t: Timeline): string {
  const p = build_picture(t);
  const body = [
    lane_backgrounds(p),
    axis(p),
    spans_svg(p, p.t.rcu, 'rcu'),
    spans_svg(p, p.t.locks, 'lock'),
    preemptions(p),
    step_marks(p),
    objects_svg(p),
    fault_svg(p),
  ].join('\n');
  const names = names_svg(p);
  // The scrolling box is right-to-left so that it opens at its right end,
  // where the bug is; its content is laid out left-to-right again.
  return [
    '<div class="tl">',
    names,
    '<div class="scroll"><div>',
    `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${p.width_px}" height="${p.height_px}" viewBox="0 0 ${p.width_px} ${p.height_px}" role="img" aria-label="timeline of ${p.t.trace.length} steps">`,
    body,
    '</svg>',
    '</div></div>',
    '</div>',
  ].join('\n');
}

/* The task and object names, outside the scrolling box so that they stay in view. */
function names_svg(p: Picture): string {
  const out: string[] = [];
  for (const lane of p.lanes.values()) {
    const cls = lane.task === p.t.bug_task ? 'lane-label bug-task' : 'lane-label';
    out.push(text_el(PAD_PX, lane.mid_px + 4, lane.name, cls));
  }
  if (p.t.objects.length > 0)
    out.push(text_el(PAD_PX, p.objects_y_px + 15, 'objects', 'section-label'));
  p.t.objects.forEach((o, k) => {
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
        `steps before ${p.t.trace[x.focus_from]!.step} are squeezed to ${x.ctx_step_px.toFixed(2)} px a step; the last ${p.t.trace.length - x.focus_from} steps get ${x.focus_step_px.toFixed(0)} px each`,
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
    [x.focus_from, p.t.trace.length],
  ];
  for (const [from, to] of parts) {
    if (from >= to) continue;
    const every = nice_interval(TICK_SPACING_PX / x.step_px(from));
    for (let i = from; i < to; i++) {
      const step = p.t.trace[i]!.step;
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
        `steps ${p.t.trace[0]!.step}–${p.t.trace[x.focus_from - 1]!.step} squeezed`,
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
    const x1_px = s.to < p.t.trace.length ? p.x.x_px(s.to) + p.x.step_px(s.to) : p.x.end_px;
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
  const from = p.t.trace[s.from]!.step;
  if (s.to >= p.t.trace.length) return `from step ${from} to the end`;
  return `steps ${from}–${p.t.trace[s.to]!.step}`;
}

/*
 * A switch away from a task that could have gone on (its step did not
 * park it and it runs again later): a thin connector from the preempted
 * lane to the one that runs. A task that never runs again may have ended,
 * so its last switch is not counted.
 */
function preemptions(p: Picture): string {
  const last_step = new Map<number, number>();
  p.t.trace.forEach((s, i) => {
    last_step.set(s.task, i);
  });
  const out: string[] = [];
  for (let i = 1; i < p.t.trace.length; i++) {
    const prev = p.t.trace[i - 1]!;
    const cur = p.t.trace[i]!;
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
  for (let i = 0; i < p.t.trace.length; i++) {
    if (!x.detailed(i)) continue;
    const s = p.t.trace[i]!;
    const lane = p.lanes.get(s.task)!;
    const kind = step_kind(s.op);
    const w_px = clamp(x.step_px(i) * 0.6, 1, 8);
    const h_px = kind === 'rd' ? 8 : 14;
    const cls = s.parked ? `m m-${kind} parked` : `m m-${kind}`;
    const x_px = x.mid_px(i) - w_px / 2;
    out.push(rect_el(x_px, lane.mid_px - h_px / 2, w_px, h_px, cls, p.t.step_tooltip(s)));
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
      const s = p.t.trace[i]!;
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
      const tip = `${lane.name}: ${g.n} steps from step ${p.t.trace[g.first]!.step} to ${p.t.trace[g.last]!.step}, in ${[...g.fns].join(', ')}`;
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
  if (p.t.objects.length === 0) return '';
  const out: string[] = [
    line_el(0, p.objects_y_px + 1, p.width_px, p.objects_y_px + 1, 'objects-rule'),
  ];
  p.t.objects.forEach((o, k) => {
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
    if (!x.detailed(i) && i !== p.t.fault) continue;
    const s = p.t.trace[i]!;
    const cls = i === p.t.fault ? 'obj-access fault' : `obj-access m-${step_kind(s.op)}`;
    out.push(rect_el(x.mid_px(i) - 1.5, y_px - 5, 3, 10, cls, p.t.step_tooltip(s)));
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
  const s = p.t.trace[e.i]!;
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
  const bug = p.t.bug;
  if (!bug) return '';
  const bottom_px = p.height_px - BOTTOM_PX;
  const s = p.t.fault < 0 ? undefined : p.t.trace[p.t.fault]!;
  const x_px = s ? p.x.mid_px(p.t.fault) : p.x.end_px;
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
  const tip = `${bug.class}: ${bug.message}\n${p.t.step_tooltip(s)}`;
  const tip_y_px = lane.mid_px - 7;
  return [
    line_el(x_px, AXIS_PX - 8, x_px, bottom_px, 'fault-line'),
    line_el(x_px, AXIS_PX - 34, x_px, tip_y_px - 3, 'fault-arrow'),
    `<polygon class="fault" points="${px(x_px - 4)},${px(tip_y_px - 5)} ${px(x_px + 4)},${px(tip_y_px - 5)} ${px(x_px)},${px(tip_y_px)}"/>`,
    `<circle class="fault" cx="${px(x_px)}" cy="${px(lane.mid_px)}" r="6"><title>${esc(tip)}</title></circle>`,
    label,
  ].join('\n');
}

function fault_label(t: Timeline): string {
  if (!t.bug) return '';
  if (t.fault < 0) return `✗ ${t.bug.class} at the end of the run`;
  return `✗ ${t.bug.class}: ${t.step_text(t.trace[t.fault]!)}`;
}

/** Whether the fault's label fits left of the fault (where it is drawn when it does). */
function fits_left(x_px: number, label: string): boolean {
  return x_px - FAULT_LABEL_GAP_PX - label.length * FAULT_CHAR_PX >= 0;
}
