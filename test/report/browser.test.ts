/*
 * The report as a reader sees it: the page of a short run opened in
 * Chromium (driven by playwright-core), every chart checked for drawn
 * marks and labelled axes, the page for anything wider than the window,
 * and a screenshot kept. Where no Chromium is installed the test says so
 * and skips (.ci/run installs Debian's chromium, so CI runs it).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { Progress } from '../../src/bench/progress.js';
import { collect_report, quick_report_options } from '../../src/report/collect.js';
import { report_html } from '../../src/report/html.js';
import { data } from './fixture.js';

/* Debian's chromium where it is, else whatever `chromium` the PATH has; null: none. */
function find_chromium(): string | null {
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const path = execFileSync('which', [name], { encoding: 'utf8' }).trim();
      if (path !== '') return path;
    } catch {
      // Not on the PATH: try the next name.
    }
  }
  return existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : null;
}

/* What the page shows of one chart, read in the browser. */
interface ChartAudit {
  readonly title: string;
  /** Marks drawn in the plot area (bars, line segments, points). */
  readonly marks: number;
  /** Each mark of no extent, as its tooltip label names it. */
  readonly empty_marks: readonly string[];
  /** Each axis by its title, with the tick labels it shows; discrete: an axis of categories. */
  readonly axes: readonly { title: string; discrete: boolean; labels: readonly string[] }[];
  /** Pairs of tick labels of one axis drawn over each other. */
  readonly overlapping_labels: readonly string[];
  /** The chart is wider than the box it is shown in. */
  readonly overflows: boolean;
}

/*
 * Run in the page as a string, so that nothing the test's compiler adds to
 * a function's text (helpers, renames) reaches the browser.
 */
const AUDIT_CHARTS = `[...document.querySelectorAll('figure.chart')].map((fig, i) => {
  const svg = fig.querySelector('svg');
  const title = svg.querySelector('.role-title-text')?.textContent ?? 'chart ' + (i + 1);
  const marks = [...svg.querySelectorAll('.role-mark > path')];
  const extent = (m) => {
    const r = m.getBoundingClientRect();
    if (m.getAttribute('aria-roledescription') === 'line mark') return m.getTotalLength();
    return Math.min(r.width, r.height);
  };
  const empty_marks = marks
    .filter((m) => !(extent(m) > 0))
    .map((m) => m.getAttribute('aria-label') ?? m.getAttribute('aria-roledescription'));
  const axes = [...svg.querySelectorAll('.role-axis:not([aria-hidden="true"])')].map((a) => {
    const labels = [...a.querySelectorAll('.role-axis-label text')]
      .filter((t) => getComputedStyle(t).opacity !== '0' && t.textContent.trim() !== '');
    return {
      title: a.querySelector('.role-axis-title text')?.textContent ?? '(untitled)',
      discrete: (a.getAttribute('aria-label') ?? '').includes('discrete scale'),
      labels,
    };
  });
  const overlapping_labels = axes.flatMap((a) =>
    a.labels.flatMap((t, j) => a.labels.slice(j + 1).flatMap((u) => {
      const p = t.getBoundingClientRect();
      const q = u.getBoundingClientRect();
      const apart = p.right <= q.left + 1 || q.right <= p.left + 1 || p.bottom <= q.top + 1 || q.bottom <= p.top + 1;
      return apart ? [] : [a.title + ': ' + t.textContent + ' over ' + u.textContent];
    })),
  );
  return {
    title,
    marks: marks.length,
    empty_marks,
    axes: axes.map((a) => ({ title: a.title, discrete: a.discrete, labels: a.labels.map((t) => t.textContent) })),
    overlapping_labels,
    overflows: fig.scrollWidth > fig.clientWidth,
  };
})`;

/* Elements wider than the window, or scrolled sideways inside their box. */
const AUDIT_PAGE = `(() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.body.querySelectorAll('*')]
    .filter((e) => e.getBoundingClientRect().right > width + 0.5 || e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
    .map((e) => e.tagName.toLowerCase() + (e.getAttribute('class') ? '.' + e.getAttribute('class') : ''));
  return { page_width: document.documentElement.scrollWidth, width, wide };
})()`;

const quiet = new Progress({ stream: new Writable({ write: (_c, _e, done) => done() }) });

test('the report of a short run renders in Chromium: every chart drawn, every axis labelled, nothing wider than the page', async (t) => {
  const executablePath = find_chromium();
  if (executablePath === null) {
    t.skip(
      'no chromium found (neither `which chromium` nor /usr/bin/chromium): apt-get install chromium',
    );
    return;
  }
  // mmlab report --quick's run, one workload that has every kind of chart
  // (about 40 s of CPU), its catalogue searches cut to 0.5 s: the page needs
  // the table drawn, not every bug found.
  const data = await collect_report({ ...quick_report_options(), catalogue_time_ms: 500 }, quiet);
  t.diagnostic(`short run: ${JSON.stringify(data.durations_ms)}`);
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-report-browser-'));
  const page_path = join(dir, 'report.html');
  writeFileSync(page_path, await report_html(data));
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`file://${page_path}`, { waitUntil: 'load' });
    const charts = (await page.evaluate(AUDIT_CHARTS)) as ChartAudit[];
    assert.match(
      (await page.textContent('body')) ?? '',
      /This is a quick run \(mmlab report --quick\)/,
      'the page says it is a short run',
    );
    const screenshot = join(dir, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    t.diagnostic(`screenshot: ${screenshot}`);
    console.log(`report screenshot: ${screenshot}`);
    // Scaling, latency, the p99 alone, native vs model, counters.
    assert.equal(charts.length, 5, charts.map((c) => c.title).join('; '));
    for (const c of charts) {
      assert.ok(c.marks > 0, `${c.title}: no marks drawn`);
      assert.deepEqual(c.empty_marks, [], `${c.title}: marks of no extent`);
      assert.equal(c.axes.length, 2, `${c.title}: two axes`);
      // A label per category; at least two on a scale of values, to read it by.
      for (const a of c.axes)
        assert.ok(
          a.labels.length >= (a.discrete ? 1 : 2),
          `${c.title}: axis '${a.title}' has tick labels ${JSON.stringify(a.labels)}`,
        );
      assert.deepEqual(c.overlapping_labels, [], `${c.title}: tick labels drawn over each other`);
      assert.ok(!c.overflows, `${c.title}: wider than its box`);
    }
    const p = (await page.evaluate(AUDIT_PAGE)) as {
      page_width: number;
      width: number;
      wide: string[];
    };
    assert.deepEqual(p.wide, [], `wider than the ${p.width} px window`);
    assert.ok(p.page_width <= p.width, `page ${p.page_width} px wide in a ${p.width} px window`);
  } finally {
    await browser.close();
  }
});

/*
 * The path of each published point of pft's chart and of its legend
 * symbol: Vega draws a circle with arcs (A) and a diamond with four lines.
 */
const PUBLISHED_SYMBOLS = `(() => {
  const svg = [...document.querySelectorAll('figure.chart svg')]
    .find((s) => (s.querySelector('.role-title-text')?.textContent ?? '').startsWith('pft:'));
  const points = [...svg.querySelectorAll('.role-mark path')]
    .filter((m) => (m.getAttribute('aria-label') ?? '').includes(': published'))
    .map((m) => m.getAttribute('d'));
  const legend = [...svg.querySelectorAll('.role-legend')]
    .find((l) => l.textContent.includes('published'))
    ?.querySelector('.role-legend-symbol path')?.getAttribute('d') ?? null;
  return { points, legend };
})()`;

const DIAMOND = /^M[-\d.]+,[-\d.]+(L[-\d.]+,[-\d.]+){3}Z$/;

test("pft's chart draws the published points as the diamonds its sentence names, in the legend too", async (t) => {
  const executablePath = find_chromium();
  if (executablePath === null) {
    t.skip(
      'no chromium found (neither `which chromium` nor /usr/bin/chromium): apt-get install chromium',
    );
    return;
  }
  const html = await report_html(data());
  assert.ok(html.includes('(diamonds;'), 'the sentence names the marks');
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-report-pft-'));
  const page_path = join(dir, 'report.html');
  writeFileSync(page_path, html);
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`file://${page_path}`, { waitUntil: 'load' });
    const { points, legend } = (await page.evaluate(PUBLISHED_SYMBOLS)) as {
      points: string[];
      legend: string | null;
    };
    // 1, 21 and 56 threads, both designs (48's letter gives the gain alone).
    assert.equal(points.length, 6, JSON.stringify(points));
    for (const d of points) assert.match(d, DIAMOND);
    assert.match(legend ?? '', DIAMOND);
  } finally {
    await browser.close();
  }
});
