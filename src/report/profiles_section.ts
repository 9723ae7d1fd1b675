/*
 * The report's cost profiles section: the constants of the timing model,
 * each with its source, and the js profile's step weights and host speed.
 */

import { fmt_num } from './format.js';
import { cell, esc, table_html, tr } from './html_util.js';
import type { ReportData } from './section.js';

export function profiles_section(profiles: ReportData['profiles']): string {
  const head = '<h2 id="profiles">Cost profiles of the timing model</h2>';
  if (profiles.length === 0) return `${head}\n<p>No cost profiles.</p>`;
  const rows = profiles.flatMap((p) =>
    p.constants.map((c) =>
      tr([cell(p.name), cell(c.name, 'mono'), cell(fmt_num(c.value_ns), 'num'), cell(c.source)]),
    ),
  );
  const weighted = profiles.flatMap((p) => [
    ...(p.step_weights ? [weights_html(p.name, p.step_weights)] : []),
    ...(p.host_speed === undefined
      ? []
      : [
          `<p>${esc(`${p.name}: calibrated with this machine running the host-speed probe at ${p.host_speed.toFixed(2)} steps/µs (src/bench/host_speed.ts); its predictions for a native point are scaled by the probe's speed while the point ran over that.`)}</p>`,
        ]),
  ]);
  return [head, table_html(['profile', 'constant', 'ns', 'source'], rows), ...weighted].join('\n');
}

/* A profile's step weights, dearest first. */
function weights_html(profile: string, weights: Readonly<Record<string, number>>): string {
  const sorted = Object.entries(weights).sort(([, a], [, b]) => b - a);
  const list = sorted.map(([fn, w]) => `${fn} ×${w.toFixed(2)}`).join(', ');
  return `<p>${esc(
    `${profile}: a step costs step_ns times the weight of the kernel function making it, measured natively (steps sampled by function, src/bench/calibrate.ts); a function not listed weighs 1. Dearest first: ${list}.`,
  )}</p>`;
}
