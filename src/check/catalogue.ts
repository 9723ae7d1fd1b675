/*
 * The catalogue: every seed variant and every historical one against the
 * scenario that shows it, found from a number of seeds, and the fixed
 * kernel run on the same budget. It is the explorer's acceptance test,
 * and the table a reviewer reads first: how fast each bug is found, and
 * that the fix holds where the bug was found.
 */
import { VARIANT_STACK_EXPAND_UNDER_READ_LOCK } from '../kernel/arch/fault.js';
import { VARIANT_GUP_FAST_WITHOUT_WP_SEQ } from '../kernel/fork.js';
import { VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK } from '../kernel/mm/maple_tree.js';
import {
  VARIANT_FAULT_WITHOUT_MAP_PAGES_AUDIT,
  VARIANT_VMA_LOCK_THEN_MMAP_LOCK,
} from '../kernel/mm/memory.js';
import { VARIANT_MAP_FIXED_GAP } from '../kernel/mm/mmap.js';
import {
  VARIANT_PUT_READS_MM_LATE,
  VARIANT_PUT_WITHOUT_MMGRAB,
  VARIANT_RETRY_WITH_STALE_MAS,
  VARIANT_UP_READ_WITHOUT_RCU,
} from '../kernel/mm/mmap_lock.js';
import { find_scenario } from '../scenarios/index.js';
import { OP_MERGE } from '../scenarios/races/maps_race.js';
import {
  RACE_DISJOINT_SPLITS,
  RACE_PIN_VS_FORK,
  RACE_UNAUDITED_FAULT,
} from '../scenarios/races/vma_races.js';
import { WHOLE } from './dfs.js';
import { make_config } from './kernel.js';
import { run_shard, type ShardResult } from './parallel.js';
import { median } from './stats.js';
import type { SearchStrategy } from './strategy.js';

/** Where a seed's or a historical bug is looked for. */
interface CatalogueCase {
  readonly variant: string;
  /** The seed document that found it by hand ('-' for a historical bug). */
  readonly seed_doc: string;
  /** Where Linux fixed it: the seed document, or the fix's commit or CVE. */
  readonly fix: string;
  readonly scenario: string;
  readonly policy: string;
  readonly params: Readonly<Record<string, number>>;
  readonly strategy: SearchStrategy;
  /** PCT's depth, where the strategy is PCT-like (pct, focus, word). */
  readonly depth?: number;
  /** Report only this class, searching past the others (the fixed kernel's triaged reports). */
  readonly bug_class?: string;
  /** The least budget this entry's search gets, whatever the catalogue's. */
  readonly budget?: { readonly schedules: number; readonly time_ms: number };
}

/*
 * DFS where it reaches the bug within the budget: it finds each bug with the
 * fewest preemptions, and the same search run on the fixed kernel to the end
 * proves it clean within that bound rather than merely unlucky. PCT where
 * the bug's window is narrow and DFS's bound-3 search too wide.
 */
export const CATALOGUE: readonly CatalogueCase[] = [
  {
    variant: VARIANT_UP_READ_WITHOUT_RCU,
    seed_doc: '000',
    fix: 'seed 000',
    scenario: 'fault-vs-munmap',
    policy: 'vma-rwsem',
    params: {},
    strategy: 'dfs',
  },
  {
    variant: VARIANT_PUT_READS_MM_LATE,
    seed_doc: '001',
    fix: 'seed 001',
    scenario: 'fault-vs-munmap',
    policy: 'vma-refcnt',
    params: {},
    strategy: 'dfs',
    // Three preemptions deep: DFS takes 3,500 to 10,300 schedules over seeds 1 to 10.
    budget: { schedules: 20_000, time_ms: 60_000 },
  },
  {
    variant: VARIANT_RANGE_SPLIT_WITHOUT_TREE_LOCK,
    seed_doc: '002',
    fix: 'seed 002',
    scenario: 'vma-races',
    policy: 'range',
    params: { race: RACE_DISJOINT_SPLITS },
    strategy: 'dfs',
  },
  {
    variant: VARIANT_FAULT_WITHOUT_MAP_PAGES_AUDIT,
    seed_doc: '003',
    fix: 'seed 003',
    scenario: 'vma-races',
    policy: 'vma-refcnt',
    params: { race: RACE_UNAUDITED_FAULT },
    strategy: 'dfs',
  },
  {
    variant: VARIANT_GUP_FAST_WITHOUT_WP_SEQ,
    seed_doc: '004',
    fix: 'seed 004',
    scenario: 'vma-races',
    policy: 'vma-refcnt',
    params: { race: RACE_PIN_VS_FORK },
    strategy: 'dfs',
  },
  {
    variant: VARIANT_STACK_EXPAND_UNDER_READ_LOCK,
    seed_doc: '-',
    fix: 'CVE-2023-3269 (StackRot)',
    scenario: 'stack-expand',
    // Its kernels found the VMA under mmap_lock alone.
    policy: 'mmap-lock',
    params: {},
    strategy: 'dfs',
  },
  {
    variant: VARIANT_PUT_WITHOUT_MMGRAB,
    seed_doc: '-',
    fix: '9bbffee67ffd (mmgrab() before the put)',
    scenario: 'recycle-exit',
    policy: 'vma-refcnt',
    params: {},
    // Four preemptions, each after an access to the recycled VMA's vm_refcnt (word.ts).
    strategy: 'word',
    depth: 5,
    // Past the fixed kernel's vm_lock_seq report (triaged benign in docs/explorer.md).
    bug_class: 'use-after-free',
    budget: { schedules: 10_000, time_ms: 60_000 },
  },
  {
    variant: VARIANT_RETRY_WITH_STALE_MAS,
    seed_doc: '-',
    fix: 'mm/mmap_lock: reset maple state on lock_vma_under_rcu() retry',
    scenario: 'lookup-retry',
    policy: 'vma-refcnt',
    params: {},
    strategy: 'pct',
    depth: 3,
  },
  {
    variant: VARIANT_VMA_LOCK_THEN_MMAP_LOCK,
    seed_doc: '-',
    fix: "syzbot's userfaultfd move_pages() lockdep report",
    scenario: 'vma-lock-order',
    policy: 'vma-refcnt',
    params: {},
    strategy: 'dfs',
  },
  {
    variant: VARIANT_MAP_FIXED_GAP,
    seed_doc: '-',
    fix: 'f8d112a4e657 (Avoid MAP_FIXED gap exposure)',
    scenario: 'maps-race',
    policy: 'vma-refcnt',
    params: { op: OP_MERGE },
    strategy: 'dfs',
  },
];

/** DFS's largest preemption bound here: every DFS entry needs at most three. */
const CATALOGUE_BOUND = 3;
/** PCT's depth where an entry names none. */
const CATALOGUE_DEPTH = 3;

export interface CatalogueEntry {
  readonly variant: string;
  readonly seed_doc: string;
  readonly fix: string;
  readonly scenario: string;
  readonly policy: string;
  readonly strategy: string;
  /** Every seed found the bug within the budget. */
  readonly found: boolean;
  /** Seeds (of `seeds`) that found it. */
  readonly found_seeds: number;
  readonly seeds: number;
  /** The bug's class, as the first seed found it. */
  readonly class: string | null;
  /** Fewest preemptions of a failing schedule found. */
  readonly preemptions: number | null;
  /** Time and schedules to find it (seeds that did not find it count as the budget). */
  readonly median_ms: number;
  readonly worst_ms: number;
  readonly median_schedules: number;
  readonly worst_schedules: number;
  /** The replay string of the first seed's failure. */
  readonly replay: string | null;
  /** The fixed kernel, same scenario, strategy and budget (schedules and time): no bug. */
  readonly fixed_clean: boolean;
  readonly fixed_schedules: number;
  readonly fixed_ms: number;
  /** For DFS: the preemption bound the fixed run exhausted (-1: none). */
  readonly fixed_proved_bound: number | null;
}

export interface Catalogue {
  readonly entries: readonly CatalogueEntry[];
  /** Schedules run over the whole catalogue, per second of exploring. */
  readonly schedules_per_s: number;
}

export interface CatalogueOptions {
  readonly seeds: number;
  /** Budget of one search, in schedules and in time. */
  readonly schedules: number;
  readonly time_ms: number;
  /** Only these entries, by variant (all when absent). */
  readonly variants?: readonly string[];
  /** Told before each search starts (progress on stderr). */
  readonly progress?: (what: string) => void;
}

export function run_catalogue(opts: CatalogueOptions): Catalogue {
  let total_schedules = 0;
  let total_ms = 0;
  const cases = CATALOGUE.filter((c) => opts.variants?.includes(c.variant) ?? true);
  const entries = cases.map((c): CatalogueEntry => {
    const s = find_scenario(c.scenario);
    const search = (variant: string, seed: number): ShardResult => {
      const r = run_shard({
        scenario: c.scenario,
        cfg: make_config(s, { policy: c.policy, variant, params: c.params }),
        strategy: c.strategy,
        options: {
          seed,
          schedules: Math.max(opts.schedules, c.budget?.schedules ?? 0),
          depth: c.depth ?? CATALOGUE_DEPTH,
          bound: CATALOGUE_BOUND,
          shard: WHOLE,
        },
        time_ms: Math.max(opts.time_ms, c.budget?.time_ms ?? 0),
        ...(c.bug_class === undefined ? {} : { bug_class: c.bug_class }),
      });
      total_schedules += r.schedules;
      total_ms += r.elapsed_ms;
      return r;
    };
    const runs: ShardResult[] = [];
    for (let seed = 1; seed <= opts.seeds; seed++) {
      opts.progress?.(`${c.variant}: seed ${seed}/${opts.seeds}`);
      runs.push(search(c.variant, seed));
    }
    const hits = runs.filter((r) => r.bug !== null);
    // The fixed kernel gets the budget each seed had: DFS may exhaust its bound first.
    opts.progress?.(`${c.variant}: the fixed kernel`);
    const fixed = search('', 1);
    return {
      variant: c.variant,
      seed_doc: c.seed_doc,
      fix: c.fix,
      scenario: c.scenario,
      policy: c.policy,
      strategy: c.strategy === 'dfs' ? c.strategy : `${c.strategy} d=${c.depth ?? CATALOGUE_DEPTH}`,
      found: hits.length === opts.seeds,
      found_seeds: hits.length,
      seeds: opts.seeds,
      class: hits[0]?.bug?.class ?? null,
      preemptions: hits.length ? Math.min(...hits.map((r) => r.bug!.preemptions)) : null,
      median_ms: median(runs.map((r) => r.elapsed_ms)),
      worst_ms: Math.max(...runs.map((r) => r.elapsed_ms)),
      median_schedules: median(runs.map((r) => r.schedules)),
      worst_schedules: Math.max(...runs.map((r) => r.schedules)),
      replay: hits[0]?.bug?.replay ?? null,
      fixed_clean: fixed.bug === null,
      fixed_schedules: fixed.schedules,
      fixed_ms: fixed.elapsed_ms,
      fixed_proved_bound: fixed.proved_bound,
    };
  });
  return { entries, schedules_per_s: total_ms > 0 ? (total_schedules / total_ms) * 1000 : 0 };
}
