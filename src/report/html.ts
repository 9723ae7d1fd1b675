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
import { host_speed_ratio } from '../bench/host_speed.js';
import { type BenchResult, per_interferer_op } from '../bench/result.js';
import {
  alone_target_met,
  DEVIATION_LIMIT,
  deviation,
  MMAP_LOCK_MIN_RATIO,
  PER_VMA_MAX_RATIO,
  PER_VMA_POLICIES,
  within_limit,
} from '../bench/targets.js';
import type { Catalogue, CatalogueEntry } from '../check/catalogue.js';
import { median } from '../check/stats.js';
import { esc } from '../check/timeline.js';
import { per_interferer_op_unit } from '../scenarios/workload.js';
import {
  type BarRow,
  COUNTER_ORDER,
  type CounterRow,
  counters_spec,
  grouped_bars_spec,
  policy_colour,
  policy_order,
  render_svg,
  scaling_spec,
} from './charts.js';

export interface ReportData {
  /** ISO date. */
  readonly generated: string;
  /** e.g. "2 CPUs, Intel Xeon ..., Node v20.x". */
  readonly machine: string;
  /** null: the catalogue was not run. */
  readonly catalogue: Catalogue | null;
  /** Executor 'native', this machine's CPU counts. */
  readonly native: readonly BenchResult[];
  /** Executor 'timing', profile 'js', the same points as `native`. */
  readonly timing_js: readonly BenchResult[];
  /** Executor 'timing', profile 'hw', 1 to 256 CPUs. */
  readonly scaling: readonly BenchResult[];
  readonly workloads: readonly {
    name: string;
    description: string;
    op: string;
    /** What one operation of an interfering cpu0 is ('fork'), where it has one. */
    interferer_op?: string;
  }[];
  readonly profiles: readonly {
    name: string;
    constants: readonly { name: string; value_ns: number; source: string }[];
    /** A step's cost by kernel function, as a multiple of step_ns (none: every step step_ns). */
    step_weights?: Readonly<Record<string, number>>;
    /** The host speed the profile was calibrated at (CostProfile.host_speed). */
    host_speed?: number;
  }[];
  /** How long each part took. */
  readonly durations_ms: Readonly<Record<string, number>>;
}

/** Spreads at or below this are "within X%": not a difference worth a winner. */
const TIE_SPREAD = 0.1;

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
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>mmlab report</title>',
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<h1>mmlab report: address-space locking designs</h1>',
    `<p class="facts">${esc(data.machine)} · generated ${esc(data.generated)}</p>`,
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

/* ---- the data, indexed once ---- */

/** What a section reads: results by workload, workloads in the page's order. */
class Context {
  readonly workloads: readonly string[];
  readonly all_policies: readonly string[];
  private readonly info: ReadonlyMap<string, ReportData['workloads'][number]>;

  constructor(readonly data: ReportData) {
    this.info = new Map(data.workloads.map((w) => [w.name, w]));
    const results = [...data.native, ...data.timing_js, ...data.scaling];
    // The workloads as listed, then any a result names that the list lacks.
    const names = data.workloads.map((w) => w.name);
    for (const r of results) if (!names.includes(r.workload)) names.push(r.workload);
    this.workloads = names;
    this.all_policies = policy_order(results.map((r) => r.policy));
  }

  op(workload: string): string {
    return this.info.get(workload)?.op ?? 'operations';
  }

  description(workload: string): string {
    return this.info.get(workload)?.description ?? '';
  }

  /** What a workload's ratio of operations to cpu0's is called ("pins/fork"), or null. */
  per_interferer_op_unit(workload: string): string | null {
    const w = this.info.get(workload);
    return w ? per_interferer_op_unit(w) : null;
  }
}

function of_workload(results: readonly BenchResult[], workload: string): BenchResult[] {
  return results.filter((r) => r.workload === workload);
}

/** The results at the highest CPU count of a set, one per policy (in policy order). */
function at_top_cpus(results: readonly BenchResult[]): { cpus: number; points: BenchResult[] } {
  const cpus = Math.max(...results.map((r) => r.cpus));
  return { cpus, points: one_per_policy(results.filter((r) => r.cpus === cpus)) };
}

/** One result per policy, in policy order (the last of a policy measured twice). */
function one_per_policy(results: readonly BenchResult[]): BenchResult[] {
  const by = new Map(results.map((r) => [r.policy, r]));
  return policy_order(by.keys()).map((p) => by.get(p)!);
}

/* ---- 2. the bug catalogue ---- */

interface Section {
  readonly html: string;
  readonly headline: string | null;
}

function catalogue_section(c: Catalogue | null): Section {
  const head = '<h2 id="catalogue">The bug catalogue</h2>';
  if (c === null || c.entries.length === 0)
    return { html: `${head}\n<p>The bug catalogue was not run.</p>`, headline: null };
  const rows = c.entries.map((e) =>
    tr([
      cell(e.variant, 'mono'),
      cell(e.seed_doc),
      cell(e.scenario),
      cell(e.policy),
      cell(`${e.found_seeds}/${e.seeds}`, e.found ? 'num good' : 'num bad'),
      cell(e.class ?? '—'),
      cell(e.preemptions === null ? '—' : String(e.preemptions), 'num'),
      cell(fmt_ms(e.median_ms), 'num'),
      cell(fmt_ms(e.worst_ms), 'num'),
      cell(fixed_text(e), e.fixed_clean ? 'good' : 'bad'),
      e.replay === null ? cell('—') : `<td class="replay"><code>${esc(e.replay)}</code></td>`,
    ]),
  );
  const table = table_html(
    [
      'variant',
      'seed',
      'scenario',
      'policy',
      'found (seeds)',
      'class',
      'preemptions',
      'median time',
      'worst time',
      'fixed kernel',
      'replay',
    ],
    rows,
  );
  const f = catalogue_finding(c);
  return {
    html: [head, table, `<p class="finding">${esc(f.sentence)}</p>`].join('\n'),
    headline: f.headline,
  };
}

/** The fixed kernel's verdict: clean, and up to which preemption bound that is a proof. */
function fixed_text(e: CatalogueEntry): string {
  if (!e.fixed_clean) return 'bug found';
  const n = `${e.fixed_schedules.toLocaleString('en-US')} schedules`;
  if (e.fixed_proved_bound !== null && e.fixed_proved_bound >= 0)
    return `clean, proved to ${e.fixed_proved_bound} preemptions (${n})`;
  return `clean within the budget (${n})`;
}

function catalogue_finding(c: Catalogue): { sentence: string; headline: string } {
  const n = c.entries.length;
  const all_seeds = c.entries.filter((e) => e.found).length;
  const any_seed = c.entries.filter((e) => e.found_seeds > 0).length;
  const clean = c.entries.filter((e) => e.fixed_clean).length;
  const proved = c.entries.filter(
    (e) => e.fixed_clean && e.fixed_proved_bound !== null && e.fixed_proved_bound >= 0,
  ).length;
  const slowest = c.entries.reduce((a, b) => (b.worst_ms > a.worst_ms ? b : a));
  const missed = c.entries.filter((e) => !e.found).map((e) => e.variant);
  const dirty = c.entries.filter((e) => !e.fixed_clean).map((e) => e.variant);
  const found =
    all_seeds === n
      ? `Every seed found each of the ${n} bugs`
      : `${all_seeds} of the ${n} bugs were found by every seed and ${any_seed} by at least one (missed by some seed: ${missed.join(', ')})`;
  const fixed =
    clean === n
      ? `every fixed kernel ran clean${proved > 0 ? `, ${proved} of them proved clean up to their preemption bound` : ''}`
      : `the fixed kernel still failed for ${dirty.join(', ')}`;
  return {
    sentence:
      `${found}; the slowest to find was ${slowest.variant} (worst ${fmt_ms(slowest.worst_ms)}), and ${fixed}. ` +
      `The explorer ran ${fmt_si(c.schedules_per_s)} schedules per second.`,
    headline: `Bug catalogue: ${any_seed}/${n} seed bugs found (${all_seeds} by every seed), ${clean}/${n} fixed kernels clean.`,
  };
}

/* ---- 3. scaling ---- */

interface Sections {
  readonly html: string;
  readonly headlines: readonly string[];
}

async function scaling_section(ctx: Context): Promise<Sections> {
  const parts = ['<h2 id="scaling">Scaling (simulated multicore, hw profile)</h2>'];
  const headlines: string[] = [];
  for (const w of ctx.workloads) {
    const points = of_workload(ctx.data.scaling, w).filter((r) => r.ops_per_s > 0);
    if (points.length === 0) continue;
    const op = ctx.op(w);
    const f = scaling_finding(points);
    parts.push(
      `<h3>${esc(w)}</h3>`,
      ctx.description(w) === '' ? '' : `<p class="desc">${esc(ctx.description(w))}</p>`,
      await chart(scaling_spec(`${w}: ${op} per second against CPUs`, op, points)),
      `<p class="finding">${esc(scaling_sentence(w, op, f))}</p>`,
    );
    headlines.push(scaling_headline(w, f));
  }
  if (headlines.length === 0) parts.push('<p>No scaling runs.</p>');
  return { html: parts.join('\n'), headlines };
}

/** Policies ranked by throughput at one CPU count, fastest first. */
interface Ranking {
  readonly cpus: number;
  readonly ranked: readonly BenchResult[];
}

interface ScalingFinding {
  readonly low: Ranking;
  readonly high: Ranking;
  /*
   * The smallest CPU count from which the leader at `high` stays ahead, a
   * tie (a spread within TIE_SPREAD) not counting as ahead.
   */
  readonly lead_from: number;
  /** The leader's throughput at `high` over its own at `low`. */
  readonly leader_speedup: number;
}

function ranking(points: readonly BenchResult[], cpus: number): Ranking {
  return {
    cpus,
    ranked: one_per_policy(points.filter((r) => r.cpus === cpus)).sort(
      (a, b) => b.ops_per_s - a.ops_per_s,
    ),
  };
}

/** The fastest policy's throughput over the slowest's, less one. */
function spread(r: Ranking): number {
  return r.ranked[0]!.ops_per_s / r.ranked[r.ranked.length - 1]!.ops_per_s - 1;
}

function scaling_finding(points: readonly BenchResult[]): ScalingFinding {
  const counts = [...new Set(points.map((r) => r.cpus))].sort((a, b) => a - b);
  const low = ranking(points, counts[0]!);
  const high = ranking(points, counts[counts.length - 1]!);
  const leader = high.ranked[0]!.policy;
  let lead_from = high.cpus;
  for (let i = counts.length - 1; i >= 0; i--) {
    const r = ranking(points, counts[i]!);
    if (r.ranked[0]?.policy !== leader || spread(r) <= TIE_SPREAD) break;
    lead_from = counts[i]!;
  }
  const at_low = low.ranked.find((r) => r.policy === leader);
  return {
    low,
    high,
    lead_from,
    leader_speedup: at_low ? high.ranked[0]!.ops_per_s / at_low.ops_per_s : Number.NaN,
  };
}

/** The policy a leader is measured against: mmap-lock, the baseline, else the slowest. */
function baseline(r: Ranking): BenchResult {
  const leader = r.ranked[0]!;
  const mmap = r.ranked.find((p) => p.policy === 'mmap-lock');
  return mmap && mmap !== leader ? mmap : r.ranked[r.ranked.length - 1]!;
}

function scaling_sentence(w: string, op: string, f: ScalingFinding): string {
  const { low, high } = f;
  const leader = high.ranked[0]!;
  if (high.ranked.length === 1) {
    const speed =
      low.cpus === high.cpus
        ? ''
        : `, ${fmt_ratio(f.leader_speedup)} its throughput at ${cpus_text(low.cpus)}`;
    return `Only ${leader.policy} was measured on ${w}: ${fmt_si(leader.ops_per_s)} ${op}/s at ${cpus_text(high.cpus)}${speed}.`;
  }
  const base = baseline(high);
  const next = high.ranked[1]!;
  let s =
    `At ${cpus_text(high.cpus)} ${leader.policy} reaches ${fmt_ratio(leader.ops_per_s / base.ops_per_s)} the ${op}/s of ${base.policy} on ${w} ` +
    `(${fmt_si(leader.ops_per_s)} vs ${fmt_si(base.ops_per_s)})`;
  if (next !== base)
    s += ` and ${fmt_ratio(leader.ops_per_s / next.ops_per_s)} that of the next best, ${next.policy}`;
  if (f.lead_from < high.cpus && f.lead_from > low.cpus)
    s += `; it leads from ${cpus_text(f.lead_from)} on`;
  s += '.';
  if (low.cpus === high.cpus) return s;
  return `${s} ${low_sentence(low)}`;
}

/** At the fewest CPUs: a tie, or who leads and by how much. */
function low_sentence(low: Ranking): string {
  const top = low.ranked[0]!;
  const bottom = low.ranked[low.ranked.length - 1]!;
  const s = spread(low);
  const at = `At ${cpus_text(low.cpus)}`;
  if (low.ranked.length === 1) return `${at} only ${top.policy} was measured.`;
  // Rounded up to a whole percent, less the float's noise: 1.04 / 1 - 1 is 4.0000000000000036%.
  if (s <= TIE_SPREAD)
    return `${at} the ${count_word(low.ranked.length)} are within ${Math.max(1, Math.ceil(s * 100 - 1e-9))}%.`;
  return `${at} ${top.policy} leads, ${fmt_ratio(s + 1)} the ${bottom.policy === 'mmap-lock' ? 'baseline' : 'slowest'}, ${bottom.policy}.`;
}

function scaling_headline(w: string, f: ScalingFinding): string {
  const leader = f.high.ranked[0]!;
  if (f.high.ranked.length === 1)
    return `${w}: only ${leader.policy} measured (${fmt_si(leader.ops_per_s)}/s at ${cpus_text(f.high.cpus)}, predicted).`;
  const base = baseline(f.high);
  return `${w} at ${cpus_text(f.high.cpus)} (predicted): ${leader.policy} leads with ${fmt_ratio(leader.ops_per_s / base.ops_per_s)} the throughput of ${base.policy}.`;
}

/* ---- 4. latency ---- */

const PERCENTILES: readonly { name: string; of: (r: BenchResult) => number }[] = [
  { name: 'p50', of: (r) => r.p50_ns },
  { name: 'p99', of: (r) => r.p99_ns },
  { name: 'p99.9', of: (r) => r.p999_ns },
];

async function latency_section(ctx: Context): Promise<Sections> {
  const parts = ['<h2 id="latency">Latency (native, this machine)</h2>'];
  const headlines: string[] = [];
  for (const w of ctx.workloads) {
    const results = of_workload(ctx.data.native, w);
    if (results.length === 0) continue;
    const { cpus, points } = at_top_cpus(results);
    const op = ctx.op(w);
    const rows: BarRow[] = points.flatMap((r) =>
      PERCENTILES.map((p) => ({ group: p.name, policy: r.policy, value: p.of(r) })),
    );
    parts.push(
      `<h3>${esc(w)}</h3>`,
      await chart(
        grouped_bars_spec({
          title: `${w}: ${op} latency, native at ${cpus_text(cpus)}`,
          group_title: 'percentile',
          groups: PERCENTILES.map((p) => p.name),
          value_title: 'latency (ns)',
          log: true,
          rows,
        }),
      ),
      `<p class="finding">${esc(latency_sentence(w, cpus, points))}</p>`,
    );
    const alone = points.filter((r) => r.p99_alone_ns !== undefined && r.p99_alone_ns > 0);
    if (alone.length > 0) {
      const f = alone_finding(alone);
      parts.push(
        await chart(
          grouped_bars_spec({
            title: `${w}: ${op} p99 with the interfering CPU and alone, native at ${cpus_text(cpus)}`,
            group_title: 'policy',
            value_title: 'p99 latency (ns)',
            log: true,
            shade_title: 'run',
            shades: ['with it', 'alone'],
            rows: alone.flatMap((r) => [
              { group: r.policy, policy: r.policy, shade: 'with it', value: r.p99_ns },
              { group: r.policy, policy: r.policy, shade: 'alone', value: r.p99_alone_ns! },
            ]),
          }),
        ),
        `<p class="finding">${esc(alone_sentence(w, f))}</p>`,
      );
      headlines.push(`${w}: p99 over p99 alone ${f.ratios_text}; target ${f.verdict}.`);
    }
  }
  if (parts.length === 1) parts.push('<p>No native runs.</p>');
  return { html: parts.join('\n'), headlines };
}

function latency_sentence(w: string, cpus: number, points: readonly BenchResult[]): string {
  const at = `Natively at ${cpus_text(cpus)}`;
  if (points.length === 1) {
    const r = points[0]!;
    return `${at} ${r.policy}'s p50, p99 and p99.9 on ${w} are ${PERCENTILES.map((p) => fmt_ns(p.of(r))).join(', ')}.`;
  }
  const by_p99 = [...points].sort((a, b) => a.p99_ns - b.p99_ns);
  const best = by_p99[0]!;
  const worst = by_p99[by_p99.length - 1]!;
  const by_p999 = [...points].sort((a, b) => a.p999_ns - b.p999_ns);
  const lo = by_p999[0]!;
  const hi = by_p999[by_p999.length - 1]!;
  return (
    `${at} ${best.policy} has the lowest p99 on ${w} (${fmt_ns(best.p99_ns)}) and ${worst.policy} the highest ` +
    `(${fmt_ns(worst.p99_ns)}, ${fmt_ratio(worst.p99_ns / best.p99_ns)}); ` +
    `p99.9 runs from ${fmt_ns(lo.p999_ns)} (${lo.policy}) to ${fmt_ns(hi.p999_ns)} (${hi.policy}).`
  );
}

interface AloneFinding {
  readonly ratios: readonly { policy: string; ratio: number }[];
  readonly ratios_text: string;
  /** 'met', or what missed it. */
  readonly verdict: string;
}

function alone_finding(points: readonly BenchResult[]): AloneFinding {
  const ratios = points.map((r) => ({ policy: r.policy, ratio: r.p99_ns / r.p99_alone_ns! }));
  const misses = ratios.flatMap(({ policy, ratio }) =>
    alone_target_met(policy, ratio) !== false
      ? []
      : [
          PER_VMA_POLICIES.includes(policy)
            ? `${policy} at ${fmt_ratio(ratio)} (> ${PER_VMA_MAX_RATIO}×)`
            : `${policy} at ${fmt_ratio(ratio)} (< ${MMAP_LOCK_MIN_RATIO}×)`,
        ],
  );
  const judged = ratios.some((r) => alone_target_met(r.policy, r.ratio) !== null);
  return {
    ratios,
    ratios_text: ratios.map((r) => `${r.policy} ${fmt_ratio(r.ratio)}`).join(', '),
    verdict: !judged
      ? 'not applicable'
      : misses.length === 0
        ? 'met'
        : `missed by ${misses.join(', ')}`,
  };
}

function alone_sentence(w: string, f: AloneFinding): string {
  return (
    `On ${w} the p99 with the interfering CPU is ${f.ratios_text} the p99 alone. ` +
    `The target (per-VMA policies ≤ ${PER_VMA_MAX_RATIO}×, mmap-lock ≥ ${MMAP_LOCK_MIN_RATIO}×) is ${f.verdict}.`
  );
}

/* ---- 5. native vs timing (js) ---- */

interface Pair {
  readonly native: BenchResult;
  readonly timing: BenchResult;
  /** The host's speed while native ran over the js profile's (host_speed_ratio()). */
  readonly speed: number;
  /** The model's throughput at that speed: timing's times `speed`. */
  readonly predicted_ops_per_s: number;
  /** (predicted - native) / native. */
  readonly deviation: number;
}

function pairs(ctx: Context): Pair[] {
  const key = (r: BenchResult): string => `${r.workload}\0${r.policy}\0${r.cpus}`;
  const timing = new Map(ctx.data.timing_js.map((r) => [key(r), r]));
  const js = ctx.data.profiles.find((p) => p.name === 'js') ?? {};
  const out: Pair[] = [];
  for (const w of ctx.workloads) {
    const natives = of_workload(ctx.data.native, w);
    for (const p of policy_order(natives.map((r) => r.policy)))
      for (const n of natives.filter((r) => r.policy === p).sort((a, b) => a.cpus - b.cpus)) {
        const t = timing.get(key(n));
        if (!t || n.ops_per_s <= 0) continue;
        const speed = host_speed_ratio(n, js);
        const predicted_ops_per_s = t.ops_per_s * speed;
        out.push({
          native: n,
          timing: t,
          speed,
          predicted_ops_per_s,
          deviation: deviation(predicted_ops_per_s, n.ops_per_s),
        });
      }
  }
  return out;
}

async function native_vs_timing_section(ctx: Context): Promise<Section> {
  const head = '<h2 id="native-vs-timing">Native vs the timing model (js profile)</h2>';
  const ps = pairs(ctx);
  if (ps.length === 0)
    return {
      html: `${head}\n<p>No point was measured both natively and under timing (js).</p>`,
      headline: null,
    };
  const rows = ps.map((p) => {
    const beyond = !within_limit(p.deviation);
    const dev = `${fmt_signed_pct(p.deviation)}${beyond ? ` ✗ beyond ±${DEVIATION_LIMIT * 100}%` : ''}`;
    return tr(
      [
        cell(p.native.workload),
        cell(p.native.policy),
        cell(String(p.native.cpus), 'num'),
        cell(fmt_si(p.native.ops_per_s), 'num'),
        cell(runs_text(p.native), 'num'),
        cell(`×${p.speed.toFixed(2)}`, 'num'),
        cell(fmt_si(p.predicted_ops_per_s), 'num'),
        cell(dev, beyond ? 'num beyond' : 'num'),
        cell(interference_text(ctx, p), 'num'),
      ],
      beyond ? 'beyond' : undefined,
    );
  });
  // The chart: each workload at its highest CPU count measured both ways.
  const top: Pair[] = [];
  for (const w of ctx.workloads) {
    const of_w = ps.filter((p) => p.native.workload === w);
    const cpus = Math.max(...of_w.map((p) => p.native.cpus));
    top.push(...of_w.filter((p) => p.native.cpus === cpus));
  }
  const cpus_set = new Set(top.map((p) => p.native.cpus));
  const label = (p: Pair): string =>
    cpus_set.size === 1 ? p.native.workload : `${p.native.workload} (${p.native.cpus})`;
  const f = deviation_finding(ps);
  const html = [
    head,
    await chart(
      grouped_bars_spec({
        title: `Throughput native and predicted by timing (js)${cpus_set.size === 1 ? `, ${cpus_text([...cpus_set][0]!)}` : ''}`,
        group_title: 'workload',
        groups: [...new Set(top.map(label))],
        value_title: 'operations per second',
        log: true,
        shade_title: 'measured',
        shades: ['native', 'timing (js)'],
        rows: top.flatMap((p) => [
          { group: label(p), policy: p.native.policy, shade: 'native', value: p.native.ops_per_s },
          {
            group: label(p),
            policy: p.native.policy,
            shade: 'timing (js)',
            value: p.predicted_ops_per_s,
          },
        ]),
      }),
    ),
    `<p class="finding">${esc(f.sentence)}</p>`,
    table_html(
      [
        'workload',
        'policy',
        'CPUs',
        'native ops/s',
        'native runs (spread)',
        'host speed',
        'timing (js) ops/s at it',
        'deviation',
        'per cpu0 op: native / timing',
      ],
      rows,
    ),
  ].join('\n');
  return { html, headline: f.headline };
}

/* What got through each operation of cpu0's, native / timing (fork-gup's pins a fork), or ''. */
function interference_text(ctx: Context, p: Pair): string {
  const unit = ctx.per_interferer_op_unit(p.native.workload);
  const native = per_interferer_op(p.native);
  const timing = per_interferer_op(p.timing);
  if (unit === null || Number.isNaN(native) || Number.isNaN(timing)) return '';
  return `${native.toFixed(1)} / ${timing.toFixed(1)} ${unit}`;
}

/* How far apart a native point's runs came: the fastest over the slowest, less one. */
function runs_spread(r: BenchResult): number | null {
  const runs = r.runs_ops_per_s;
  if (!runs || runs.length < 2) return null;
  return Math.max(...runs) / Math.min(...runs) - 1;
}

function runs_text(r: BenchResult): string {
  const s = runs_spread(r);
  if (s === null) return '';
  const runs = r.runs_ops_per_s!;
  return `${fmt_si(Math.min(...runs))}–${fmt_si(Math.max(...runs))} (${fmt_pct(s)})`;
}

function deviation_finding(ps: readonly Pair[]): { sentence: string; headline: string } {
  const within = ps.filter((p) => within_limit(p.deviation)).length;
  const worst = ps.reduce((a, b) => (Math.abs(b.deviation) > Math.abs(a.deviation) ? b : a));
  const above = ps.filter((p) => p.deviation > 0).length;
  const med = median(ps.map((p) => Math.abs(p.deviation)));
  const limit = `±${DEVIATION_LIMIT * 100}%`;
  const w = worst.native;
  return {
    sentence:
      `${within} of ${ps.length} predictions are within ${limit} of native (median deviation ${fmt_pct(med)}); ` +
      `the furthest is ${w.workload} under ${w.policy} at ${cpus_text(w.cpus)} (${fmt_signed_pct(worst.deviation)}). ` +
      `The model predicts more throughput than measured on ${above} of ${ps.length} points.` +
      speed_text(ps) +
      noise_text(ps) +
      speedup_text(ps),
    headline: `Timing model (js) vs native: ${within}/${ps.length} points within ${limit}, median deviation ${fmt_pct(med)}.`,
  };
}

/* How fast the host ran the native points, against the js profile's calibration. */
function speed_text(ps: readonly Pair[]): string {
  const speeds = ps.map((p) => p.speed);
  const lo = Math.min(...speeds);
  const hi = Math.max(...speeds);
  if (lo === 1 && hi === 1) return '';
  return (
    ` Each prediction is the model's at the speed this machine ran the workload at:` +
    ` a host-speed probe between the native runs put it at ×${lo.toFixed(2)} to ×${hi.toFixed(2)} of the speed the js profile was calibrated at.`
  );
}

/* What the native runs' own spread says of the deviations. */
function noise_text(ps: readonly Pair[]): string {
  const spreads = ps.map((p) => runs_spread(p.native)).filter((s) => s !== null);
  if (spreads.length === 0) return '';
  const wide = spreads.filter((s) => s > DEVIATION_LIMIT).length;
  return (
    ` Native runs of one point are themselves a median ${fmt_pct(median(spreads))} apart (fastest over slowest),` +
    ` more than ${fmt_pct(DEVIATION_LIMIT)} on ${wide} of ${spreads.length} points.`
  );
}

/*
 * The speed-up from one CPU count to the next, native against the model:
 * the two native points of a pair run seconds apart, so what moves this
 * machine from one minute to the next (its memory is shared) divides out.
 */
function speedup_text(ps: readonly Pair[]): string {
  // pairs() lists each workload and policy's points by CPU count, lowest first.
  const devs: number[] = [];
  for (let i = 1; i < ps.length; i++) {
    const q = ps[i - 1]!;
    const p = ps[i]!;
    if (q.native.workload !== p.native.workload || q.native.policy !== p.native.policy) continue;
    const native = p.native.ops_per_s / q.native.ops_per_s;
    const model = p.predicted_ops_per_s / q.predicted_ops_per_s;
    devs.push(deviation(model, native));
  }
  if (devs.length === 0) return '';
  const within = devs.filter(within_limit).length;
  return (
    ` The speed-up from one CPU count to the next, which the machine's drift from one minute to the next does not move,` +
    ` is predicted within ±${fmt_pct(DEVIATION_LIMIT)} on ${within} of ${devs.length} steps` +
    ` (median deviation ${fmt_pct(median(devs.map(Math.abs)))}).`
  );
}

/* ---- 6. lock counters ---- */

/** The outcomes of a fault; the other events are attempts on the way to one of them. */
const FAULT_OUTCOMES: readonly string[] = [
  'vma_lock_success',
  'range_lock_fault',
  'mmap_lock_fault',
];
const WASTED: readonly string[] = ['vma_lock_abort', 'vma_lock_retry', 'vma_lock_miss'];

function faults(c: Readonly<Record<string, number>>): number {
  return FAULT_OUTCOMES.reduce((s, k) => s + (c[k] ?? 0), 0);
}

async function counters_section(ctx: Context): Promise<string> {
  const parts = ['<h2 id="counters">Lock counters (native, vmstat events)</h2>'];
  for (const w of ctx.workloads) {
    const results = of_workload(ctx.data.native, w);
    if (results.length === 0) continue;
    const { cpus, points } = at_top_cpus(results);
    const counted = points.filter((r) => faults(r.counters) > 0);
    if (counted.length === 0) continue;
    const rows: CounterRow[] = counted.flatMap((r) => {
      const n = faults(r.counters);
      const names = [
        ...COUNTER_ORDER,
        ...Object.keys(r.counters).filter((k) => !COUNTER_ORDER.includes(k)),
      ];
      return names.map((counter) => ({
        policy: r.policy,
        counter,
        share: (r.counters[counter] ?? 0) / n,
      }));
    });
    parts.push(
      `<h3>${esc(w)}</h3>`,
      await chart(
        counters_spec(`${w}: vmstat events per fault, native at ${cpus_text(cpus)}`, rows),
      ),
      `<p class="finding">${esc(counters_sentence(w, cpus, counted))}</p>`,
    );
  }
  if (parts.length === 1) parts.push('<p>No native run counted a fault.</p>');
  return parts.join('\n');
}

function counters_sentence(w: string, cpus: number, points: readonly BenchResult[]): string {
  const off = points.map((r) => ({
    policy: r.policy,
    share: (faults(r.counters) - (r.counters.mmap_lock_fault ?? 0)) / faults(r.counters),
    wasted: WASTED.reduce((s, k) => s + (r.counters[k] ?? 0), 0) / faults(r.counters),
  }));
  const shares = off.map((o) => `${o.policy} ${fmt_share(o.share)}`).join(', ');
  const most = off.reduce((a, b) => (b.wasted > a.wasted ? b : a));
  const waste =
    most.wasted === 0
      ? 'no per-VMA lock attempt was aborted, retried or missed.'
      : `${most.policy} wastes the most attempts: ${fmt_num(most.wasted * 100)} aborts, retries and misses per 100 faults.`;
  return `Natively at ${cpus_text(cpus)} on ${w}, the share of faults handled without the whole mmap_lock is ${shares}; ${waste}`;
}

/* ---- 7 and 8. the cost profiles, the durations ---- */

function profiles_section(profiles: ReportData['profiles']): string {
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

/* ---- HTML pieces ---- */

/** A chart inlined as SVG, in a figure that scrolls on a narrow screen. */
async function chart(spec: Parameters<typeof render_svg>[0]): Promise<string> {
  return `<figure class="chart">${await render_svg(spec)}</figure>`;
}

function cell(text: string, cls?: string): string {
  return cls === undefined ? `<td>${esc(text)}</td>` : `<td class="${cls}">${esc(text)}</td>`;
}

function tr(cells: readonly string[], cls?: string): string {
  return `<tr${cls === undefined ? '' : ` class="${cls}"`}>${cells.join('')}</tr>`;
}

function table_html(headers: readonly string[], rows: readonly string[]): string {
  return [
    '<div class="table"><table>',
    `<thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>\n${rows.join('\n')}\n</tbody>`,
    '</table></div>',
  ].join('\n');
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
  'tr.beyond td{background:#fff4e5}td.beyond{color:#b71c1c;font-weight:600}tr.total td{font-weight:600}',
].join('\n');

/* ---- numbers as a reader reads them ---- */

/** Three significant digits with an SI prefix: 12.3 M, 456 k, 78.9. */
function fmt_si(x: number): string {
  if (!Number.isFinite(x)) return '—';
  for (const [div, unit] of [
    [1e12, ' T'],
    [1e9, ' G'],
    [1e6, ' M'],
    [1e3, ' k'],
  ] as const)
    if (Math.abs(x) >= div) return `${(x / div).toPrecision(3)}${unit}`;
  // Trailing zeros only after a decimal point: 100 stays 100, 1.50 is 1.5.
  return String(Number(x.toPrecision(3)));
}

function fmt_num(x: number): string {
  return Number.isInteger(x) ? x.toLocaleString('en-US') : String(Number(x.toPrecision(3)));
}

/** 850 ns, 12.3 µs, 4.10 ms, 1.20 s. */
function fmt_ns(ns: number): string {
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

function fmt_ms(ms: number): string {
  return fmt_ns(ms * 1e6);
}

/** A ratio: 8.1×, 37×. */
function fmt_ratio(r: number): string {
  if (!Number.isFinite(r)) return '—×';
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

function fmt_pct(f: number): string {
  const p = f * 100;
  return `${Math.abs(p) >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

/*
 * A share of a whole, to a tenth of a percent: 0% and 100% only when
 * exactly none or all, so that a few faults taking the mmap_lock still
 * show (99.6% is not told as 100%).
 */
function fmt_share(f: number): string {
  if (f <= 0) return '0%';
  if (f >= 1) return '100%';
  const p = f * 100;
  if (p < 0.05) return '<0.1%';
  if (p >= 99.95) return '>99.9%';
  return `${p.toFixed(1)}%`;
}

function fmt_signed_pct(f: number): string {
  return `${f >= 0 ? '+' : '−'}${fmt_pct(Math.abs(f))}`;
}

function cpus_text(n: number): string {
  return n === 1 ? '1 CPU' : `${n} CPUs`;
}

function count_word(n: number): string {
  return ['zero', 'one', 'two', 'three', 'four', 'five', 'six'][n] ?? String(n);
}
