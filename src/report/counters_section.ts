/*
 * The report's lock counters section: the vmstat events per fault natively,
 * the share of faults handled without the whole mmap_lock, and the wasted
 * per-VMA lock attempts.
 */
import type { BenchResult } from '../bench/result.js';
import { COUNTER_ORDER, type CounterRow, counters_spec } from './charts.js';
import { cpus_text, fmt_num, fmt_share } from './format.js';
import { esc } from './html_util.js';
import { at_top_cpus, type Context, chart, of_workload } from './section.js';

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

export async function counters_section(ctx: Context): Promise<string> {
  const parts = ['<h2 id="counters">Lock counters (native, vmstat events)</h2>'];
  for (const w of ctx.workloads) {
    const results = of_workload(ctx.data.native, w);
    if (results.length === 0) continue;
    const { cpus, points } = at_top_cpus(results);
    const counted = points.filter((r) => faults(r.counters) > 0);
    if (counted.length === 0) continue;
    const rows: CounterRow[] = counted.flatMap((r) =>
      COUNTER_ORDER.map((counter) => ({
        policy: r.policy,
        counter,
        share: (r.counters[counter] ?? 0) / faults(r.counters),
      })),
    );
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
  return (
    `Measured natively on this machine at ${cpus_text(cpus)}: each policy's vmstat events on ${w}, per fault handled; ` +
    `a fault ends under a VMA lock, a range lock or the whole mmap_lock, and aborts, retries and misses stack beyond 100%. ` +
    `The share of faults handled without the whole mmap_lock is ${shares}; ${waste}`
  );
}
