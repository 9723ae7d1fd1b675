/* The report's charts as SVG. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VM_EVENT_NAMES } from '../../src/kernel/sched.js';
import {
  COUNTER_ORDER,
  counters_spec,
  grouped_bars_spec,
  render_svg,
  scaling_spec,
} from '../../src/report/charts.js';
import { lacks, POLICIES, SCALING_CPUS, scaling_point } from './fixture.js';

/* Each bar's height in px, read from the SVG path Vega draws it with ("M x,y h w v h h -w Z"). */
function bar_heights(svg: string): number[] {
  return [...svg.matchAll(/aria-roledescription="bar" d="M[^h]*h[^v]*v([-\d.e]+)h/g)].map((m) =>
    Math.abs(Number(m[1])),
  );
}

test('the scaling chart has a base-2 CPU axis with a tick per power of two', async () => {
  const svg = await render_svg(
    scaling_spec(
      'pft',
      'fault',
      POLICIES.flatMap((p) => SCALING_CPUS.map((n) => scaling_point('pft', p, n))),
    ),
  );
  for (const n of SCALING_CPUS) assert.ok(svg.includes(`>${n}</text>`), `tick ${n}`);
  lacks(svg, 'xlink');
});

test('scaling curves that coincide stay told apart: each policy its own dash, in the legend too', async () => {
  // vma-rwsem and vma-refcnt often scale alike: one line drawn over the other hid it.
  const svg = await render_svg(
    scaling_spec(
      'fault-vs-mprotect',
      'fault',
      POLICIES.flatMap((p) =>
        SCALING_CPUS.map((n) => ({ ...scaling_point('pft', 'vma-refcnt', n), policy: p })),
      ),
    ),
  );
  const lines = [...svg.matchAll(/aria-roledescription="line mark"[^>]*>/g)].map(
    (m) => /stroke-dasharray="([^"]*)"/.exec(m[0])?.[1] ?? 'solid',
  );
  assert.equal(lines.length, POLICIES.length, 'a line a policy');
  assert.equal(new Set(lines).size, POLICIES.length, `dashes ${JSON.stringify(lines)}`);
});

test('log-scale bars (latencies over decades) rise from the foot of the plot, and their axis has ticks', async () => {
  const svg = await render_svg(
    grouped_bars_spec({
      title: 'latency',
      group_title: 'percentile',
      value_title: 'latency (ns)',
      log: true,
      rows: POLICIES.flatMap((policy, i) => [
        { group: 'p50', policy, value: 700 + i },
        { group: 'p99.9', policy, value: 8_000_000 + i },
      ]),
    }),
  );
  const heights = bar_heights(svg);
  assert.equal(heights.length, 8);
  for (const h of heights) assert.ok(h > 1, `a bar ${h} px high`);
  assert.ok(svg.includes('>1M</text>'), 'a tick at 1M');
});

test('the lock counters chart draws vmstat events only, never operation counts', async () => {
  assert.deepEqual([...COUNTER_ORDER].sort(), [...VM_EVENT_NAMES].sort());
  const svg = await render_svg(
    counters_spec('counters', [
      { policy: 'vma-rwsem', counter: 'vma_lock_success', share: 1 },
      { policy: 'vma-rwsem', counter: 'run_ops', share: 1 },
      { policy: 'vma-rwsem', counter: 'interferer_ops', share: 0.1 },
    ]),
  );
  lacks(svg, 'run_ops');
  lacks(svg, 'interferer_ops');
  assert.ok(svg.includes('>100%</text>') && !svg.includes('>200%</text>'), 'the axis ends at 100%');
});

test('bars whose category labels would run into each other lie down, labels in a column', async () => {
  const groups = [
    'pft',
    'page-fault1',
    'page-fault2',
    'page-fault3',
    'mmap-churn',
    'fault-vs-mprotect',
    'fork-gup',
  ];
  const bars = (names: readonly string[]) =>
    grouped_bars_spec({
      title: 'throughput',
      group_title: 'workload',
      value_title: 'operations per second',
      log: true,
      rows: names.flatMap((group) => POLICIES.map((policy) => ({ group, policy, value: 1000 }))),
    });
  const lying = await render_svg(bars(groups));
  assert.ok(lying.includes("Y-axis titled 'workload'"), 'the categories down the side');
  assert.ok(!/aria-roledescription="bar" d="M[^h]*h0v/.test(lying), 'every bar has a length');
  const standing = await render_svg(bars(['p50', 'p99', 'p99.9']));
  assert.ok(standing.includes("X-axis titled 'workload'"), 'few short labels stay along the foot');
});
