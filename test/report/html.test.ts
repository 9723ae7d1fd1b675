/*
 * The report page as a whole: self-contained, one chart per expected
 * chart, and whole when data is missing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { report_html } from '../../src/report/html.js';
import {
  count,
  data,
  has,
  natives,
  POLICIES,
  SCALING_CPUS,
  scaling_point,
  timing_js,
} from './fixture.js';

test('the page draws one SVG per expected chart', async () => {
  const html = await report_html(data());
  // Scaling: pft only (no other workload has scaling points). Latency: pft,
  // fault-vs-mprotect, and fault-vs-mprotect's p99 alone. Native vs timing:
  // one. Counters: pft and fault-vs-mprotect.
  assert.equal(count(html, '<svg'), 1 + 3 + 1 + 2);
  assert.ok(html.startsWith('<!DOCTYPE html>'), 'an HTML5 document');
  assert.ok(
    !html.includes('mmap+munmap per second'),
    'a workload without scaling points is skipped',
  );
});

test('the page is self-contained: no script, no URL but the SVG namespace', async () => {
  const html = await report_html(data());
  assert.ok(!/<script/i.test(html), 'no script');
  assert.ok(!/<link/i.test(html), 'no linked resource');
  const urls = html.match(/https?:\/\/[^\s"'<>)]*/g) ?? [];
  assert.ok(urls.length > 0, 'the charts declare their namespace');
  for (const u of urls) assert.equal(u, 'http://www.w3.org/2000/svg');
  assert.ok(!/url\((?!#)/.test(html), 'CSS and SVG name only fragments');
});

test('a short run says so at the top of the page, where the full run says nothing', async () => {
  const quick = await report_html(
    data({ short_run: 'a quick run (mmlab report --quick): <one> workload' }),
  );
  has(quick, '<strong>This is a quick run (mmlab report --quick): &lt;one&gt; workload.</strong>');
  assert.ok(!(await report_html(data())).includes('This is a'), 'the full run claims no short run');
});

test('missing data: each section says so, nothing breaks', async () => {
  const html = await report_html(
    data({ catalogue: null, native: [], timing_js: [], scaling: [], profiles: [], workloads: [] }),
  );
  assert.equal(count(html, '<svg'), 0);
  has(html, 'The bug catalogue was not run.');
  has(html, 'No scaling runs.');
  has(html, 'No native runs.');
  has(html, 'No point was measured both natively and under timing (js).');
  has(html, 'No cost profiles.');
  const empty = await report_html(data({ catalogue: { entries: [], schedules_per_s: 0 } }));
  has(empty, 'The bug catalogue was not run.');
});

test('a full-size report (6 workloads, 4 policies, 1 to 256 CPUs) renders a chart per workload and section', async () => {
  const names = ['pft', 'page-fault1', 'page-fault3', 'mmap1', 'fault-vs-mprotect', 'gup'];
  const scaling = names.flatMap((w) =>
    POLICIES.flatMap((p) => SCALING_CPUS.map((n) => scaling_point(w, p, n))),
  );
  const native = names.flatMap((w) => natives().map((r) => ({ ...r, workload: w })));
  const html = await report_html(
    data({
      scaling,
      native,
      timing_js: timing_js(native),
      workloads: names.map((name) => ({ name, description: name, op: 'op' })),
    }),
  );
  assert.ok(count(html, '<svg') >= 6 * 3 + 1, 'a chart per workload and section');
});
