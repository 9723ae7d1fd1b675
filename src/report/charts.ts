/*
 * The report's charts: Vega-Lite specs built from benchmark results, and
 * rendered to static SVG in Node with no DOM and no browser (Vega's
 * headless `renderer: 'none'` view; see shared/research/toolchain.md).
 * One builder per chart kind serves every workload, so that all charts of
 * a kind look alike, and every chart colours a policy the same way (a
 * fixed order, mmap-lock first), so that a reader learns the colours once.
 */
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import * as vl from 'vega-lite';
import type { BenchResult } from '../bench/result.js';

/** The policies in the order every chart, table and legend lists them. */
const POLICY_ORDER: readonly string[] = ['mmap-lock', 'vma-rwsem', 'vma-refcnt', 'range'];

/*
 * mmap-lock, the baseline the per-VMA designs are measured against, in
 * red; the two per-VMA designs in blue and green; the range lock in
 * orange. Policies outside POLICY_ORDER (a new design) take the spares.
 */
const POLICY_COLOURS: readonly string[] = ['#e45756', '#4c78a8', '#54a24b', '#f58518'];
const SPARE_COLOURS: readonly string[] = ['#b279a2', '#9d755d', '#72b7b2', '#eeca3b'];

/**
 * The vmstat events of the lock counters chart (the kernel's
 * VM_EVENT_NAMES, src/kernel/sched.ts), in stacking order: the good
 * outcome first. Nothing else a result counts (operations) is a vmstat
 * event, and none of it is drawn there.
 */
export const COUNTER_ORDER: readonly string[] = [
  'vma_lock_success',
  'range_lock_fault',
  'vma_lock_abort',
  'vma_lock_retry',
  'vma_lock_miss',
  'mmap_lock_fault',
];
const COUNTER_COLOURS: readonly string[] = [
  '#54a24b',
  '#4c78a8',
  '#f58518',
  '#eeca3b',
  '#9d755d',
  '#e45756',
];

const CHART_WIDTH = 560;
const CHART_HEIGHT = 260;

/* About how wide a character of an axis label is, in px at CONFIG's size. */
const LABEL_CHAR_PX = 6.5;

/** Names of the known policies in POLICY_ORDER, then any others alphabetically. */
export function policy_order(names: Iterable<string>): string[] {
  const set = new Set(names);
  const known = POLICY_ORDER.filter((p) => set.has(p));
  const other = [...set].filter((p) => !POLICY_ORDER.includes(p)).sort();
  return [...known, ...other];
}

/**
 * The colour of `policy`, the same in every chart. A policy outside
 * POLICY_ORDER gets a spare picked by its name alone, not by which other
 * policies a chart happens to show, so that it too keeps its colour.
 */
export function policy_colour(policy: string): string {
  const i = POLICY_ORDER.indexOf(policy);
  if (i >= 0) return POLICY_COLOURS[i]!;
  let h = 0;
  for (const ch of policy) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return SPARE_COLOURS[h % SPARE_COLOURS.length]!;
}

/*
 * The colour scale of the policies a chart shows: its domain only those
 * present (so the legend lists no absent policy), each with its fixed
 * colour (so a policy looks the same in every chart).
 */
function policy_scale(present: Iterable<string>): { domain: string[]; range: string[] } {
  const domain = policy_order(present);
  return { domain, range: domain.map(policy_colour) };
}

/* Each policy's dash pattern in the order policy_scale() gives its colour: the baseline solid. */
const DASHES: readonly (readonly number[])[] = [
  [1, 0],
  [8, 4],
  [2, 3],
  [8, 3, 2, 3],
];

function policy_dashes(present: Iterable<string>): { domain: string[]; range: number[][] } {
  const domain = policy_order(present);
  return { domain, range: domain.map((_, i) => [...DASHES[i % DASHES.length]!]) };
}

/* Readable at the page's size; a font the reader has (the page loads none). */
const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif',
  title: { fontSize: 14, anchor: 'start' as const, offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  view: { stroke: '#ddd' },
};

/** The powers of two from the first at or below `lo` to the first at or above `hi`. */
function powers_of_two_between(lo: number, hi: number): number[] {
  const out: number[] = [];
  let n = 2 ** Math.floor(Math.log2(Math.max(1, lo)));
  for (;;) {
    out.push(n);
    if (n >= hi) return out;
    n *= 2;
  }
}

/**
 * Throughput against CPUs, one line per policy: the scaling curve of one
 * workload. Both axes are logarithmic; x in base 2 with a tick per
 * power of two, the CPU counts the benchmarks run.
 */
export function scaling_spec(
  title: string,
  op: string,
  points: readonly BenchResult[],
): TopLevelSpec {
  const usable = points.filter((p) => p.ops_per_s > 0 && p.cpus > 0);
  const cpus = usable.map((p) => p.cpus);
  const ticks = powers_of_two_between(Math.min(...cpus, 1), Math.max(...cpus, 1));
  return {
    title,
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    config: CONFIG,
    data: {
      values: usable.map((p) => ({ policy: p.policy, cpus: p.cpus, ops_per_s: p.ops_per_s })),
    },
    mark: { type: 'line', point: { size: 45 }, strokeWidth: 2 },
    encoding: {
      x: {
        field: 'cpus',
        type: 'quantitative',
        title: 'CPUs',
        scale: { type: 'log', base: 2, domain: [ticks[0]!, ticks[ticks.length - 1]!], nice: false },
        axis: { values: ticks, format: 'd' },
      },
      y: {
        field: 'ops_per_s',
        type: 'quantitative',
        title: `${op} per second`,
        scale: { type: 'log' },
        axis: { format: '~s' },
      },
      color: {
        field: 'policy',
        type: 'nominal',
        title: 'policy',
        scale: policy_scale(usable.map((p) => p.policy)),
      },
      // Curves that coincide (the two per-VMA locks often scale alike) stay
      // told apart: each policy its dash, so the one drawn first shows
      // through the gaps of the one over it.
      strokeDash: {
        field: 'policy',
        type: 'nominal',
        title: 'policy',
        scale: policy_dashes(usable.map((p) => p.policy)),
        // The legend draws each policy's line, dash and all, not a point.
        legend: { symbolType: 'stroke', symbolStrokeWidth: 2, symbolSize: 400 },
      },
    },
  };
}

/** One bar of a grouped bar chart. */
export interface BarRow {
  /** The x axis category the bar stands in. */
  readonly group: string;
  readonly policy: string;
  /** A second split inside a policy (native vs predicted), drawn as a lighter shade. */
  readonly shade?: string;
  readonly value: number;
}

interface GroupedBarsOptions {
  readonly title: string;
  readonly group_title: string;
  /** The x axis's categories in order; absent: the order rows first name them. */
  readonly groups?: readonly string[];
  readonly value_title: string;
  /** Vega's format of the value axis ('~s', '.0%', ...). */
  readonly value_format?: string;
  /** Logarithmic values (latencies and throughputs spanning decades). */
  readonly log: boolean;
  readonly shade_title?: string;
  /** The shades in order: the first opaque, the others lighter. */
  readonly shades?: readonly string[];
  readonly rows: readonly BarRow[];
}

const SHADE_OPACITY: readonly number[] = [1, 0.45, 0.25];

/*
 * Whether every category's label fits, level, under the width its group
 * of bars has; where one would run into the next, the bars lie down and
 * the labels stand in a column beside them.
 */
function labels_fit_across(groups: readonly string[]): boolean {
  const longest_px = Math.max(0, ...groups.map((g) => g.length * LABEL_CHAR_PX));
  return longest_px < CHART_WIDTH / Math.max(1, groups.length) - 8;
}

/*
 * A log scale's domain for bars: from the power of ten below the least
 * value to the power of ten above the greatest, so that every bar has a
 * length (a bar at the foot of the domain would have none, and a domain of
 * one value no extent at all) and the axis spans a decade to read by.
 */
function log_bars_domain(values: readonly number[]): [number, number] {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return [10 ** (Math.ceil(Math.log10(lo)) - 1), 10 ** (Math.floor(Math.log10(hi)) + 1)];
}

/* The height of a chart of horizontal bars: room for each bar. */
const BAR_PX = 7;

/**
 * Bars grouped by a category, one bar per policy (and shade) in each
 * group, coloured by policy: latency percentiles per policy, p99 with and
 * without a writer, native against predicted throughput. Upright where
 * the categories' labels fit across, lying down where they do not.
 */
export function grouped_bars_spec(o: GroupedBarsOptions): TopLevelSpec {
  // A log scale has no zero: a bar of 0 could not be drawn.
  const rows = o.rows.filter((r) => Number.isFinite(r.value) && (!o.log || r.value > 0));
  const groups = o.groups ?? [...new Set(rows.map((r) => r.group))];
  const policies = policy_order(rows.map((r) => r.policy));
  const shades = o.shades ?? [];
  const series = (r: BarRow): string =>
    r.shade === undefined ? r.policy : `${r.policy}, ${r.shade}`;
  // The bars of a group in policy order, then shade order.
  const series_order = policies.flatMap((p) =>
    shades.length === 0 ? [p] : shades.map((s) => `${p}, ${s}`),
  );
  const upright = labels_fit_across(groups);
  const category = {
    field: 'group',
    type: 'nominal' as const,
    title: o.group_title,
    sort: [...groups],
    axis: { labelAngle: 0 },
  };
  // A group per policy (p99 with a writer and alone): its bars are the
  // policy's shades, side by side in the middle of the group.
  const offset = rows.every((r) => r.group === r.policy)
    ? { field: 'shade', type: 'nominal' as const, sort: [...shades] }
    : { field: 'series', type: 'nominal' as const, sort: series_order };
  const value = {
    field: 'value',
    type: 'quantitative' as const,
    title: o.value_title,
    // Side by side, never stacked: a stack starts at 0, which a log scale
    // cannot place (every bar and the axis came out empty); so on a log
    // scale each bar rises from the foot of the plot, log_bars_domain()'s.
    stack: null,
    scale:
      o.log && rows.length > 0
        ? { type: 'log' as const, domain: log_bars_domain(rows.map((r) => r.value)), nice: false }
        : { zero: true },
    // Vega thins a log axis's labels by estimated widths; leave room for
    // the browser's real glyphs, or 90k and 100k are drawn into each other.
    axis: { format: o.value_format ?? '~s', labelOverlap: 'greedy' as const, labelSeparation: 6 },
  };
  return {
    title: o.title,
    width: CHART_WIDTH,
    height: upright
      ? CHART_HEIGHT
      : Math.max(CHART_HEIGHT, BAR_PX * groups.length * Math.max(1, series_order.length)),
    config: CONFIG,
    data: {
      values: rows.map((r) => ({
        group: r.group,
        policy: r.policy,
        shade: r.shade ?? '',
        series: series(r),
        value: r.value,
      })),
    },
    mark: { type: 'bar' },
    encoding: {
      ...(upright
        ? { x: category, xOffset: offset, y: value }
        : { y: category, yOffset: offset, x: value }),
      color: {
        field: 'policy',
        type: 'nominal',
        title: 'policy',
        scale: policy_scale(policies),
      },
      ...(shades.length > 0
        ? {
            // Ordinal: the shades are ordered (p50 lighter than p99, ...).
            opacity: {
              field: 'shade',
              type: 'ordinal',
              title: o.shade_title ?? '',
              scale: {
                domain: [...shades],
                range: shades.map((_, i) => SHADE_OPACITY[Math.min(i, SHADE_OPACITY.length - 1)]!),
              },
            },
          }
        : {}),
    },
  };
}

/** One stacked segment: a vmstat event of one policy, as a share of its faults. */
export interface CounterRow {
  readonly policy: string;
  readonly counter: string;
  readonly share: number;
}

/**
 * The vmstat events per policy as shares of the faults, stacked: the
 * outcomes (under a VMA lock, under a range lock, under mmap_lock) add up
 * to one; the aborts, retries and misses on the way to mmap_lock stack
 * beyond it, so a bar longer than 100% shows wasted attempts. Only the
 * vmstat events of COUNTER_ORDER are drawn: the operation counts a result
 * also carries (run_ops, interferer_ops) are not events of a fault.
 */
export function counters_spec(title: string, rows: readonly CounterRow[]): TopLevelSpec {
  const policies = policy_order(rows.map((r) => r.policy));
  const drawn = rows.filter((r) => COUNTER_ORDER.includes(r.counter) && r.share > 0);
  const domain = COUNTER_ORDER.filter((c) => drawn.some((r) => r.counter === c));
  return {
    title,
    width: CHART_WIDTH,
    height: Math.max(90, 34 * policies.length),
    config: CONFIG,
    data: { values: drawn.map((r) => ({ ...r, order: domain.indexOf(r.counter) })) },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'policy', type: 'nominal', title: 'policy', sort: policies },
      x: {
        field: 'share',
        type: 'quantitative',
        title: 'vmstat events per fault',
        stack: 'zero',
        axis: { format: '.0%' },
      },
      color: {
        field: 'counter',
        type: 'nominal',
        title: 'vmstat event',
        scale: {
          domain,
          range: domain.map((c) => COUNTER_COLOURS[COUNTER_ORDER.indexOf(c)]!),
        },
      },
      order: { field: 'order', type: 'quantitative' },
    },
  };
}

/**
 * A spec drawn as one standalone SVG element. Vega numbers its clip paths
 * with a counter global to the process, so several charts inlined in one
 * page never share an id. The xlink namespace is declared whether used or
 * not; it is dropped when unused so that the page names no URL but SVG's.
 */
export async function render_svg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return svg.includes('xlink:')
      ? svg
      : svg.replace(/ xmlns:xlink="http:\/\/www\.w3\.org\/1999\/xlink"/, '');
  } finally {
    view.finalize();
  }
}
