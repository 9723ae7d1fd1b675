/*
 * The report's native vs timing section: each native point beside the
 * timing model's prediction (js profile) at the host speed it ran at, and
 * beside how far the point's own native runs land from one another. The
 * js profile is frozen (docs/timing-model.md): this machine's speed moves
 * too much from one minute to the next for any model of it to be checked
 * to a target, so the section tells its figures and judges nothing.
 */
import { host_speed_ratio } from '../bench/host_speed.js';
import { type BenchResult, per_interferer_op } from '../bench/result.js';
import { deviation } from '../bench/targets.js';
import { median } from '../check/stats.js';
import { grouped_bars_spec, policy_order } from './charts.js';
import { cpus_text, fmt_pct, fmt_si, fmt_signed_pct } from './format.js';
import { cell, esc, table_html, tr } from './html_util.js';
import { type Context, chart, of_workload, type Section } from './section.js';

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

export async function native_vs_timing_section(ctx: Context): Promise<Section> {
  const head = '<h2 id="native-vs-timing">Native vs the timing model (js profile, frozen)</h2>';
  const ps = pairs(ctx);
  if (ps.length === 0)
    return {
      html: `${head}\n<p>No point was measured both natively and under timing (js).</p>`,
      headline: null,
    };
  const rows = ps.map((p) =>
    tr([
      cell(p.native.workload),
      cell(p.native.policy),
      cell(String(p.native.cpus), 'num'),
      cell(fmt_si(p.native.ops_per_s), 'num'),
      cell(runs_text(p.native), 'num'),
      cell(`×${p.speed.toFixed(2)}`, 'num'),
      cell(fmt_si(p.predicted_ops_per_s), 'num'),
      cell(fmt_signed_pct(p.deviation), 'num'),
      cell(interference_text(ctx, p), 'num'),
    ]),
  );
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
        title: `Throughput measured natively and predicted by timing (js, frozen)${cpus_set.size === 1 ? `, ${cpus_text([...cpus_set][0]!)}` : ''}`,
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
        'native runs (furthest from their median)',
        'host speed',
        'timing (js) ops/s at it',
        'timing from native',
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

/* How far a native point's runs land from their median, the furthest of them, as a fraction of it. */
function runs_reach(r: BenchResult): number | null {
  const runs = r.runs_ops_per_s;
  if (!runs || runs.length < 2) return null;
  const mid = median(runs);
  return Math.max(...runs.map((x) => Math.abs(deviation(x, mid))));
}

function runs_text(r: BenchResult): string {
  const reach = runs_reach(r);
  if (reach === null) return '';
  const runs = r.runs_ops_per_s!;
  return `${fmt_si(Math.min(...runs))}–${fmt_si(Math.max(...runs))} (${fmt_pct(reach)})`;
}

/* Whether the model's figure falls among the point's native runs (between the slowest and the fastest). */
function among_runs(p: Pair): boolean {
  const runs = p.native.runs_ops_per_s ?? [];
  return (
    runs.length >= 2 &&
    p.predicted_ops_per_s >= Math.min(...runs) &&
    p.predicted_ops_per_s <= Math.max(...runs)
  );
}

function deviation_finding(ps: readonly Pair[]): { sentence: string; headline: string } {
  const worst = ps.reduce((a, b) => (Math.abs(b.deviation) > Math.abs(a.deviation) ? b : a));
  const above = ps.filter((p) => p.deviation > 0).length;
  const med = median(ps.map((p) => Math.abs(p.deviation)));
  const w = worst.native;
  return {
    sentence:
      `Measured natively on this machine beside predicted by the timing model with the js profile. ` +
      `The js profile is frozen and not validated: it was fitted on a shared machine whose speed moves from one minute to the next, ` +
      `so these figures are information, not a test. ` +
      `The model lands a median ${fmt_pct(med)} from native; the furthest is ${w.workload} under ${w.policy} at ${cpus_text(w.cpus)} (${fmt_signed_pct(worst.deviation)}). ` +
      `It predicts more throughput than measured on ${above} of ${ps.length} points.` +
      speed_text(ps) +
      repeat_text(ps) +
      speedup_text(ps),
    headline: `Timing model (js profile, frozen, not validated) beside native: a median ${fmt_pct(med)} from native${repeat_headline(ps)}.`,
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

/* Each point's runs_reach(), where it has several runs. */
const reaches = (ps: readonly Pair[]): number[] =>
  ps.map((p) => runs_reach(p.native)).filter((s) => s !== null);

/* How far native lands from itself: each point's runs from their median, and the model among them. */
function repeat_text(ps: readonly Pair[]): string {
  const r = reaches(ps);
  if (r.length === 0) return '';
  const among = ps.filter(among_runs).length;
  return (
    ` Native lands this far from itself: the runs of one point land a median ${fmt_pct(median(r))} from their median` +
    ` (furthest ${fmt_pct(Math.max(...r))}), and the model's figure falls between a point's slowest and fastest run on ${among} of ${r.length} points.`
  );
}

function repeat_headline(ps: readonly Pair[]): string {
  const r = reaches(ps);
  return r.length === 0 ? '' : `, native's own runs a median ${fmt_pct(median(r))} from theirs`;
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
  return (
    ` The speed-up from one CPU count to the next, which the machine's drift from one minute to the next does not move,` +
    ` is predicted a median ${fmt_pct(median(devs.map(Math.abs)))} from native's over ${devs.length} steps.`
  );
}
