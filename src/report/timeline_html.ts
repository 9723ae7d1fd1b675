/*
 * The timeline page (`mmlab check ... --html FILE`): one self-contained
 * HTML document that explains a traced schedule, usually the failing one
 * the explorer found. A header names the bug and gives its replay string;
 * the picture (src/report/timeline_svg.ts) draws one lane per task with a
 * mark per step, the locks each task holds, its RCU read-side sections,
 * the preemptions, the lifetimes of the objects the bug is about and the
 * faulty access in red; the per-CPU table of the last steps follows. No
 * script, no external resource: the page is read offline, attached to a
 * mail, or archived with a bug report.
 *
 * Call it right after `explorer.trace()`: object generations and lock
 * class names are read from the memory the traced run left behind.
 */
import type { BugReport, Explorer } from '../check/explorer.js';
import { type StepKind, Timeline } from '../check/timeline.js';
import type { StepRecord } from '../runtime/executors/explore.js';
import { esc, page_open } from './html_util.js';
import { timeline_svgs } from './timeline_svg.js';

/** The colour of each kind of step, used by the SVG marks and the legend alike. */
const KINDS: Readonly<Record<StepKind, { colour: string; what: string }>> = {
  rd: { colour: '#9e9e9e', what: 'load' },
  wr: { colour: '#1565c0', what: 'store, memcpy, memset' },
  rmw: { colour: '#6a1b9a', what: 'cmpxchg, xchg, fetch_*' },
  fx: { colour: '#ef6c00', what: 'futex wait/wake' },
  lk: { colour: '#00838f', what: 'lockdep annotation' },
  rcu: { colour: '#2e7d32', what: 'rcu_read_lock/unlock' },
  slab: { colour: '#6d4c41', what: 'alloc, free' },
};

/** Draw and hand back the whole page. `bug` null: a trace without a bug (still drawn). */
export function timeline_html(
  explorer: Explorer,
  trace: readonly StepRecord[],
  bug: BugReport | null,
  title: string,
): string {
  const t = new Timeline(explorer, trace, bug);
  return [
    ...page_open(title, css()),
    header_html(title, bug, trace.length),
    legend_html(),
    trace.length > 0 ? timeline_svgs(t) : '<p>The trace is empty.</p>',
    trace.length > 0 ? `<h2>The last steps</h2>\n<pre class="table">${esc(t.table)}</pre>` : '',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

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
    '.bug{font-family:ui-monospace,monospace;font-size:13px;white-space:pre-wrap}.facts{color:#555;margin:4px 0}',
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
