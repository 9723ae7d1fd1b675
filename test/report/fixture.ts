/*
 * Synthetic report data whose winners and deviations are known, for the
 * tests of the report page and its sections, and what they assert with.
 */
import assert from 'node:assert/strict';
import type { BenchResult } from '../../src/bench/result.js';
import type { Catalogue, CatalogueEntry } from '../../src/check/catalogue.js';
import type { ReportData } from '../../src/report/section.js';

export const POLICIES = ['mmap-lock', 'vma-rwsem', 'vma-refcnt', 'range'] as const;
export const SCALING_CPUS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

function point(
  over: Partial<BenchResult> & Pick<BenchResult, 'workload' | 'policy' | 'cpus' | 'ops_per_s'>,
): BenchResult {
  return {
    executor: 'native',
    ops: 1000,
    p50_ns: 1000,
    p90_ns: 2000,
    p99_ns: 5000,
    p999_ns: 9000,
    max_ns: 20_000,
    counters: {},
    ...over,
  };
}

/*
 * pft's predicted throughput: at 1 CPU the four policies within 4% of
 * each other; at 256 CPUs vma-refcnt does 8x mmap-lock's and 1.25x
 * vma-rwsem's, ahead of everyone from 2 CPUs on.
 */
const SPEEDUP_256: Readonly<Record<string, number>> = {
  'mmap-lock': 1,
  'vma-rwsem': 160,
  'vma-refcnt': 200,
  range: 40,
};
const AT_1: Readonly<Record<string, number>> = {
  'mmap-lock': 1_000_000,
  'vma-rwsem': 1_010_000,
  'vma-refcnt': 1_040_000,
  range: 1_020_000,
};

export function scaling_point(workload: string, policy: string, cpus: number): BenchResult {
  // Geometric in the CPU count, from AT_1 to 256 CPUs' target.
  const base = AT_1[policy]!;
  const at_256 = policy === 'mmap-lock' ? 1_000_000 : (8_000_000 * SPEEDUP_256[policy]!) / 200;
  const ops = base * (at_256 / base) ** (Math.log2(cpus) / 8);
  return point({ workload, policy, cpus, ops_per_s: ops, executor: 'timing', profile: 'hw' });
}

/* Native pft at 1 and 2 CPUs, and fault-vs-mprotect at 2 with p99 alone. */
export function natives(): BenchResult[] {
  const out: BenchResult[] = [];
  for (const policy of POLICIES)
    for (const cpus of [1, 2])
      out.push(
        point({
          workload: 'pft',
          policy,
          cpus,
          ops_per_s: 1_000_000 * cpus,
          p99_ns: policy === 'mmap-lock' ? 40_000 : 4000,
          counters:
            policy === 'mmap-lock'
              ? { mmap_lock_fault: 1000 }
              : policy === 'range'
                ? { range_lock_fault: 1000 }
                : { vma_lock_success: 990, vma_lock_abort: 10, mmap_lock_fault: 10 },
        }),
      );
  const alone: Readonly<Record<string, [number, number]>> = {
    'mmap-lock': [100_000, 5000],
    'vma-rwsem': [6000, 5000],
    'vma-refcnt': [5500, 5000],
    range: [15_000, 5000],
  };
  for (const policy of POLICIES)
    out.push(
      point({
        workload: 'fault-vs-mprotect',
        policy,
        cpus: 2,
        ops_per_s: 500_000,
        p99_ns: alone[policy]![0],
        p99_alone_ns: alone[policy]![1],
        counters: { vma_lock_success: 100, mmap_lock_fault: policy === 'mmap-lock' ? 100 : 0 },
      }),
    );
  return out;
}

/* timing (js) at the native pft points: +10% everywhere but mmap-lock at 2 CPUs, +40%. */
export function timing_js(native: readonly BenchResult[]): BenchResult[] {
  return native
    .filter((r) => r.workload === 'pft')
    .map((r) => ({
      ...r,
      executor: 'timing' as const,
      profile: 'js' as const,
      ops_per_s: r.ops_per_s * (r.policy === 'mmap-lock' && r.cpus === 2 ? 1.4 : 1.1),
    }));
}

export const NASTY_REPLAY = '1:fetch_add:vm_lock.count,0:*<b>&"x"</b>';

export function catalogue_entry(over: Partial<CatalogueEntry>): CatalogueEntry {
  return {
    variant: 'up-read-without-rcu',
    seed_doc: '000',
    fix: 'seed 000',
    scenario: 'fault-vs-munmap',
    policy: 'vma-rwsem',
    strategy: 'dfs',
    found: true,
    found_seeds: 3,
    seeds: 3,
    class: 'use-after-free',
    preemptions: 2,
    median_ms: 120,
    worst_ms: 300,
    median_schedules: 400,
    worst_schedules: 900,
    replay: NASTY_REPLAY,
    fixed_clean: true,
    fixed_schedules: 10_000,
    fixed_ms: 2000,
    fixed_proved_bound: 3,
    ...over,
  };
}

const CATALOGUE: Catalogue = {
  entries: [
    catalogue_entry({}),
    catalogue_entry({
      variant: 'put-reads-mm-late',
      seed_doc: '001',
      policy: 'vma-refcnt',
      replay: '2:xchg:task_struct[0].__state',
      worst_ms: 900,
    }),
  ],
  schedules_per_s: 25_000,
};

export function data(over: Partial<ReportData> = {}): ReportData {
  const native = natives();
  return {
    generated: '2025-01-01T00:00:00.000Z',
    machine: '2 CPUs (Test CPU), Node v20.0.0',
    catalogue: CATALOGUE,
    native,
    timing_js: timing_js(native),
    scaling: POLICIES.flatMap((p) => SCALING_CPUS.map((n) => scaling_point('pft', p, n))),
    workloads: [
      { name: 'pft', description: 'page faults on private anonymous memory', op: 'fault' },
      { name: 'fault-vs-mprotect', description: 'faults while a CPU mprotects', op: 'fault' },
      { name: 'mmap-munmap', description: 'never measured here', op: 'mmap+munmap' },
    ],
    profiles: [
      {
        name: 'hw',
        constants: [{ name: 'cache_miss', value_ns: 80, source: 'a <measured> value' }],
      },
    ],
    durations_ms: { catalogue: 1234, native: 5678 },
    ...over,
  };
}

/*
 * Every assertion carries its own message: under tsx, a failing assert.ok
 * without one makes Node 20 look for the asserted expression in the
 * transpiled source (nodejs/node#52962), which here took minutes and then
 * quoted the wrong line.
 */
export function has(text: string, part: string): void {
  assert.ok(text.includes(part), `${JSON.stringify(part)} is missing from:\n${findings(text)}`);
}

export function lacks(text: string, part: string): void {
  assert.ok(!text.includes(part), `${JSON.stringify(part)} should not be in:\n${findings(text)}`);
}

/** A page's computed sentences, or the start of any other text: what a failure shows. */
function findings(text: string): string {
  const lines = text
    .split('\n')
    .filter((l) => l.includes('class="finding"') || l.includes('class="summary"'));
  return lines.length > 0 ? lines.join('\n') : text.slice(0, 2000);
}

export function count(s: string, sub: string): number {
  return s.split(sub).length - 1;
}

/** The `<tr>` of the native-vs-timing table for one point. */
export function deviation_row(
  html: string,
  workload: string,
  policy: string,
  cpus: number,
): string {
  const cells = `<td>${workload}</td><td>${policy}</td><td class="num">${cpus}</td>`;
  const row = html.split('\n').find((l) => l.startsWith('<tr') && l.includes(cells));
  assert.ok(row, `a row for ${workload}/${policy}/${cpus}`);
  return row;
}
