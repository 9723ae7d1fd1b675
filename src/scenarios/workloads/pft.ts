/*
 * pft: mmtests' pft (page fault test), threads mode: every CPU faults in
 * fresh anonymous memory, all of it in one shared VMA. The prologue maps
 * one private anonymous VMA of cpus * pages pages; CPU i writes the first
 * word of each page of its own slice of it, one fault per page, one
 * operation per fault.
 *
 * What it stresses: the read side of the lock a fault takes. Every fault
 * is on the same VMA, so under a per-VMA lock they all take (and bounce
 * the cache line of) that one VMA's lock, as under mmap_lock they all
 * take mm->mmap_lock; no one writes. The first faults also prepare the
 * VMA's anon_vma, which needs mmap_lock (a trylock under the VMA lock).
 */

import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { anon_fixed, new_mm } from '../common.js';
import type { Workload } from '../workload.js';
import {
  check_layout,
  type Globals,
  globals_of,
  map,
  measure_all,
  publish,
  region,
  setup_globals,
  share,
  stop_word,
  stride,
  workload_end,
  workload_memory,
  write_page,
} from './common.js';

const NAME = 'pft';
/** What each CPU writes: anything; the pages are private to the process. */
const VALUE = 0x9f70000;

/*
 * The shared VMA: every CPU's slice, each on PTE tables of its own
 * (stride()); only the slices' pages are ever faulted in.
 */
const vma_pages = (cfg: RunConfig): number => cfg.cpus * stride(cfg.params.pages!);

export const scenario: Scenario<Globals> = {
  name: NAME,
  description: 'every CPU faults in fresh pages of its own slice of one shared anonymous VMA',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 256,
  // pages: each CPU's slice, one fault each.
  params: { pages: 64 },
  memory_words: (cfg) => workload_memory(cfg, cfg.cpus * cfg.params.pages!),
  kthreads: [RCU_GP_KTHREAD],

  check_config: (cfg) => check_layout(NAME, 1, vma_pages(cfg)),
  setup(m, _sys, cfg): Globals {
    return setup_globals(m, cfg, NAME);
  },
  stop_word,

  *prologue(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
    const mm = yield* call(new_mm(k));
    yield* call(map(k, mm, anon_fixed(region(0, vma_pages(cfg)), vma_pages(cfg)), NAME));
    yield* publish(k, w, mm);
  },

  *cpu(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
    const { mm } = yield* globals_of(k, w);
    const pages = cfg.params.pages!;
    const first = region(0, vma_pages(cfg)) + k.cpu * stride(pages);
    yield* call(measure_all(k, w, pages, (i) => write_page(k, mm, first + i, VALUE, NAME)));
  },

  ...workload_end((cfg) => ({
    name: NAME,
    op: 'fault',
    per_cpu: cfg.params.pages!,
    interferer: false,
  })),
};

export const workload: Workload = {
  name: NAME,
  description: "mmtests' pft: threads fault in fresh pages of one shared anonymous VMA",
  op: 'fault',
  scenario: scenario as Scenario,
  // Natively more faults than a half-second run has time for (one CPU
  // here takes about 40k a second), 128 MiB a CPU and 1 GiB in all at most;
  // under timing ~2048 faults in all, at least 4 per CPU.
  params: (executor, cpus) => ({
    pages:
      executor === 'native' ? Math.min(32768, share(262144, cpus, 2048)) : share(2048, cpus, 4),
  }),
};
