/*
 * The report's latency section: native percentiles per policy, and the p99
 * with an interfering CPU against the p99 alone, judged by the targets.
 */
import type { BenchResult } from '../bench/result.js';
import {
  alone_target_met,
  MMAP_LOCK_MIN_RATIO,
  PER_VMA_MAX_RATIO,
  PER_VMA_POLICIES,
} from '../bench/targets.js';
import { type BarRow, grouped_bars_spec } from './charts.js';
import { cpus_text, fmt_ns, fmt_ratio } from './format.js';
import { esc } from './html_util.js';
import { at_top_cpus, type Context, chart, of_workload, type Sections } from './section.js';

const PERCENTILES: readonly { name: string; of: (r: BenchResult) => number }[] = [
  { name: 'p50', of: (r) => r.p50_ns },
  { name: 'p99', of: (r) => r.p99_ns },
  { name: 'p99.9', of: (r) => r.p999_ns },
];

export async function latency_section(ctx: Context): Promise<Sections> {
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
        `<p class="finding">${esc(alone_sentence(w, cpus, f))}</p>`,
      );
      headlines.push(
        `${w}, measured natively: p99 over p99 alone ${f.ratios_text}; target ${f.verdict}.`,
      );
    }
  }
  if (parts.length === 1) parts.push('<p>No native runs.</p>');
  return { html: parts.join('\n'), headlines };
}

function latency_sentence(w: string, cpus: number, points: readonly BenchResult[]): string {
  const shows = `Measured natively on this machine at ${cpus_text(cpus)}: the p50, p99 and p99.9 latency of each ${w} operation, per policy (log scale).`;
  if (points.length === 1) {
    const r = points[0]!;
    return `${shows} ${r.policy}'s are ${PERCENTILES.map((p) => fmt_ns(p.of(r))).join(', ')}.`;
  }
  const by_p99 = [...points].sort((a, b) => a.p99_ns - b.p99_ns);
  const best = by_p99[0]!;
  const worst = by_p99[by_p99.length - 1]!;
  const by_p999 = [...points].sort((a, b) => a.p999_ns - b.p999_ns);
  const lo = by_p999[0]!;
  const hi = by_p999[by_p999.length - 1]!;
  return (
    `${shows} ${best.policy} has the lowest p99 (${fmt_ns(best.p99_ns)}) and ${worst.policy} the highest ` +
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

function alone_sentence(w: string, cpus: number, f: AloneFinding): string {
  return (
    `Measured natively on this machine at ${cpus_text(cpus)}: each policy's p99 on ${w} with the interfering CPU and without it (log scale). ` +
    `The p99 with it is ${f.ratios_text} the p99 alone. ` +
    `The target (per-VMA policies ≤ ${PER_VMA_MAX_RATIO}×, mmap-lock ≥ ${MMAP_LOCK_MIN_RATIO}×) is ${f.verdict}.`
  );
}
