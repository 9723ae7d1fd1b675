/*
 * mmlab report [--out FILE] [--quick]: the main job. The catalogue, the benchmarks
 * and the scaling curves in one self-contained HTML file, progress on
 * stderr, and the file written whole (a temporary renamed over it) so
 * that an interrupted run leaves nothing half-written.
 */

import { Progress } from '../bench/progress.js';
import { collect_report, default_report_options, quick_report_options } from '../report/collect.js';
import { report_html } from '../report/html.js';
import { OutputFile } from './common.js';
import { bold } from './style.js';
import { EXIT_OK } from './usage.js';

export const DEFAULT_REPORT = 'mmlab-report.html';

export async function cmd_report(opts: { out?: string; quick?: boolean }): Promise<number> {
  const out = new OutputFile('--out', opts.out ?? DEFAULT_REPORT);
  const t0 = performance.now();
  const options = opts.quick ? quick_report_options() : default_report_options();
  const data = await collect_report(options, new Progress());
  const html = await report_html(data);
  out.write(html);
  console.log(
    `${bold('report')}: ${out.path} (${(html.length / 1024).toFixed(0)} KiB, ${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
  return EXIT_OK;
}
