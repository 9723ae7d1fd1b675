/*
 * The page `mmlab report` writes: one self-contained HTML file, inline CSS
 * and inline SVG charts, no script and no external resource, so that it
 * is read offline, attached to a mail or archived with a patch series.
 *
 * Every sentence under a chart or table is computed from the data it
 * describes (who wins, by how much, where the lines cross), never canned:
 * the same page describes a 2-CPU laptop and a 256-CPU prediction, and a
 * sentence that no longer matched its chart would mislead a reviewer.
 * Each section first reduces its results to a small "finding", then both
 * the section's sentence and the summary at the top are told from it.
 */

import { catalogue_section } from './catalogue_section.js';
import { policy_colour, policy_order } from './charts.js';
import { counters_section } from './counters_section.js';
import { fmt_ms } from './format.js';
import { cell, esc, page_open, table_html, tr } from './html_util.js';
import { latency_section } from './latency_section.js';
import { native_vs_timing_section } from './native_vs_timing_section.js';
import { profiles_section } from './profiles_section.js';
import { scaling_section } from './scaling_section.js';
import { Context, type ReportData } from './section.js';

/** Draw the whole page. */
export async function report_html(data: ReportData): Promise<string> {
  const t0 = performance.now();
  const ctx = new Context(data);
  const catalogue = catalogue_section(data.catalogue);
  const scaling = await scaling_section(ctx);
  const latency = await latency_section(ctx);
  const native_vs_timing = await native_vs_timing_section(ctx);
  const counters = await counters_section(ctx);
  const profiles = profiles_section(data.profiles);
  // The charts' own time belongs in the table of durations, as the last part.
  const durations = durations_section({
    ...data.durations_ms,
    'charts (rendering)': performance.now() - t0,
  });
  const summary = [
    catalogue.headline,
    ...scaling.headlines,
    ...latency.headlines,
    native_vs_timing.headline,
  ].filter((h): h is string => h !== null);
  return [
    ...page_open('mmlab report', CSS),
    '<h1>mmlab report: address-space locking designs</h1>',
    `<p class="facts">${esc(data.machine)} · generated ${esc(data.generated)}</p>`,
    ...(data.short_run === undefined
      ? []
      : [`<p class="facts"><strong>This is ${esc(data.short_run)}.</strong></p>`]),
    `<p class="legend">Policies: ${policy_order(ctx.all_policies)
      .map((p) => `<span class="key" style="background:${policy_colour(p)}"></span>${esc(p)}`)
      .join(' ')}</p>`,
    '<h2 id="summary">Summary</h2>',
    summary.length > 0
      ? `<ul class="summary">${summary.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>`
      : '<p>Nothing was measured.</p>',
    catalogue.html,
    scaling.html,
    latency.html,
    native_vs_timing.html,
    counters,
    profiles,
    durations,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function durations_section(d: Readonly<Record<string, number>>): string {
  const head = '<h2 id="durations">How long each part took</h2>';
  const entries = Object.entries(d);
  const total = entries.reduce((s, [, ms]) => s + ms, 0);
  const rows = [
    ...entries.map(([part, ms]) => tr([cell(part), cell(fmt_ms(ms), 'num')])),
    tr([cell('total'), cell(fmt_ms(total), 'num')], 'total'),
  ];
  return [head, table_html(['part', 'time'], rows)].join('\n');
}

const CSS = [
  'body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:20px auto;max-width:1000px;padding:0 16px;color:#222;background:#fff}',
  'h1{font-size:21px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e3e3e3;padding-bottom:3px}h3{font-size:15px;margin:18px 0 4px}',
  '.facts,.desc{color:#555;margin:2px 0}.legend{font-size:13px;color:#444}',
  '.key{display:inline-block;width:11px;height:11px;margin:0 4px 0 10px;vertical-align:middle;border-radius:2px}',
  '.summary li{margin:2px 0}.finding{margin:4px 0 14px;max-width:820px}',
  '.chart{margin:6px 0;overflow-x:auto}.chart svg{max-width:none}',
  '.table{overflow-x:auto}table{border-collapse:collapse;font-size:13px;margin:6px 0}',
  'th,td{border:1px solid #e3e3e3;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f6f6f6}',
  'td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}',
  '.mono,code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}',
  'td.replay code{word-break:break-all;display:block;max-width:360px}',
  '.good{color:#1b5e20}.bad{color:#b71c1c;font-weight:600}',
  'tr.total td{font-weight:600}',
].join('\n');
