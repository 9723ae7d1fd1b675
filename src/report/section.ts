/*
 * What every section of the report page (src/report/html.ts) shares: the
 * data the page is drawn from, indexed once; what a section hands back
 * (its HTML and the headlines the summary at the top tells); its charts.
 */
import type { BenchResult } from '../bench/result.js';
import type { Catalogue } from '../check/catalogue.js';
import { per_interferer_op_unit } from '../scenarios/workload.js';
import { policy_order, render_svg } from './charts.js';

/** What the page is drawn from (src/report/collect.ts gathers it). */
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
  /** A short run's budget (mmlab report --quick), said at the top of the page; absent: the full run. */
  readonly short_run?: string;
}

/** What a section reads: results by workload, workloads in the page's order. */
export class Context {
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

export function of_workload(results: readonly BenchResult[], workload: string): BenchResult[] {
  return results.filter((r) => r.workload === workload);
}

/** The results at the highest CPU count of a set, one per policy (in policy order). */
export function at_top_cpus(results: readonly BenchResult[]): {
  cpus: number;
  points: BenchResult[];
} {
  const cpus = Math.max(...results.map((r) => r.cpus));
  return { cpus, points: one_per_policy(results.filter((r) => r.cpus === cpus)) };
}

/** One result per policy, in policy order (the last of a policy measured twice). */
export function one_per_policy(results: readonly BenchResult[]): BenchResult[] {
  const by = new Map(results.map((r) => [r.policy, r]));
  return policy_order(by.keys()).map((p) => by.get(p)!);
}

/** A section's HTML, and what it tells the summary (null: nothing). */
export interface Section {
  readonly html: string;
  readonly headline: string | null;
}

/** A section of a part per workload, and a headline for the summary from each. */
export interface Sections {
  readonly html: string;
  readonly headlines: readonly string[];
}

/** A chart inlined as SVG, in a figure that scrolls on a narrow screen. */
export async function chart(spec: Parameters<typeof render_svg>[0]): Promise<string> {
  return `<figure class="chart">${await render_svg(spec)}</figure>`;
}
