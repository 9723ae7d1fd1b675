/*
 * fault-vs-mprotect: faults of their own VMAs against an mprotect loop
 * over another, populated VMA: the case per-VMA locks were made for
 * (Suren Baghdasaryan's series, 2023, and the 2025 vm_refcnt rework,
 * measured there with page-fault tests beside mmap_lock writers). cpu0,
 * the writer, mprotects a VMA of `big_pages` pages it populated
 * beforehand PROT_READ, then PROT_READ|PROT_WRITE, again and again, each
 * time holding mmap_lock for write across the walk of all its PTEs,
 * until every faulter is done. CPUs 1..N-1 each write the first word of
 * each of `pages` fresh pages of their own VMA: one fault, one operation.
 *
 * What it stresses: a fault's wait for an unrelated writer. Under the
 * mmap-lock policy every fault waits for the current mprotect's whole
 * walk; a per-VMA lock lets it through (the writer locks only the big
 * VMA); the range policy lets it through when the ranges are disjoint.
 * `writer` = 0 leaves cpu0 idle: the same faults alone, for
 * p99_alone_ns. On one CPU there is no writer: cpu0 faults alone.
 *
 * Its defaults are the explorer's: a few pages, and at most `mprotects`
 * mprotects, since a schedule that runs the writer alone (PCT, DFS) would
 * otherwise never end; natively (mmlab stress, mmlab bench) the writer
 * runs until the faulters are done, over 128 MiB.
 */

import { MAP_POPULATE, PROT_READ, PROT_WRITE } from '../../kernel/mm/mm_types.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { anon_fixed, new_mm } from '../common.js';
import type { Workload } from '../workload.js';
import {
  check_layout,
  type Globals,
  globals_of,
  interfere,
  map,
  measure_all,
  measuring_cpus,
  publish,
  region,
  setup_globals,
  share,
  stop_word,
  workload_end,
  workload_memory,
  write_page,
} from './common.js';

const NAME = 'fault-vs-mprotect';
const VALUE = 0xf00d;

/*
 * Faulter c's VMA is region c: its `pages` fresh pages, then one the
 * prologue writes, so that the VMA has its anon_vma before the run. The
 * first write fault of a VMA without one needs mmap_lock (a trylock under
 * the VMA lock), and with only a few faults per CPU (under timing) that
 * one wait for the writer would be what the percentiles show.
 */
const vma_pages = (cfg: RunConfig): number => cfg.params.pages! + 1;
/* The writer's VMA, after every CPU's region. */
const big_vma = (cfg: RunConfig): number => region(cfg.cpus, vma_pages(cfg));

export const scenario: Scenario<Globals> = {
  name: NAME,
  description:
    'CPUs fault in their own VMAs while cpu0 mprotects a populated VMA back and forth in a loop',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 256,
  params: { big_pages: 8, pages: 2, writer: 1, mprotects: 2 },
  param_max: { writer: 1 },
  param_docs: {
    big_pages: { doc: 'pages of the VMA cpu0 populates and mprotects', native: 32768 },
    pages: { doc: 'faults each other CPU makes, one a fresh page', native: 4096 },
    writer: { doc: '0 leaves cpu0 idle: the faults alone' },
    mprotects: {
      doc: 'the most mprotects cpu0 makes',
      native: 0,
      native_only: { value: 0, means: 'mprotects until the faulters are done' },
    },
  },
  memory_words: (cfg) => workload_memory(cfg, cfg.params.big_pages! + cfg.cpus * vma_pages(cfg)),
  kthreads: [RCU_GP_KTHREAD],

  check_config: (cfg) => check_layout(NAME, cfg.cpus, vma_pages(cfg), cfg.params.big_pages!),
  setup(m, _sys, cfg): Globals {
    return setup_globals(m, cfg, NAME);
  },
  stop_word,

  // Untimed: the faulters' VMAs, and the writer's VMA with every page present.
  *prologue(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
    const mm = yield* call(new_mm(k));
    const pages = vma_pages(cfg);
    for (const cpu of measuring_cpus(cfg, true)) {
      yield* call(map(k, mm, anon_fixed(region(cpu, pages), pages), NAME));
      yield* call(write_page(k, mm, region(cpu, pages) + pages - 1, VALUE, NAME));
    }
    const rw = PROT_READ | PROT_WRITE;
    // Populated only for a writer to walk: alone, the faulters see the same
    // VMAs, and the run is spared faulting in 128 MiB it never touches.
    const writer = cfg.cpus > 1 && cfg.params.writer !== 0;
    yield* call(
      map(
        k,
        mm,
        anon_fixed(big_vma(cfg), cfg.params.big_pages!, rw, writer ? MAP_POPULATE : 0),
        NAME,
      ),
    );
    yield* publish(k, w, mm);
  },

  *cpu(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
    const { mm } = yield* globals_of(k, w);
    if (k.cpu === 0 && cfg.cpus > 1) {
      if (cfg.params.writer === 0) return;
      const big = big_vma(cfg);
      const big_pages = cfg.params.big_pages!;
      yield* call(
        interfere(
          k,
          w,
          cfg.cpus - 1,
          function* (i) {
            const prot = i & 1 ? PROT_READ | PROT_WRITE : PROT_READ;
            const r = yield* call(do_mprotect(k, mm, big, big_pages, prot));
            if (r !== 0) throw new KernelBug('BUG', `${NAME}: mprotect failed (${r})`);
          },
          cfg.params.mprotects,
        ),
      );
      return;
    }
    const first = region(k.cpu, vma_pages(cfg));
    yield* call(
      measure_all(k, w, cfg.params.pages!, (i) => write_page(k, mm, first + i, VALUE, NAME)),
    );
  },

  ...workload_end((cfg) => ({
    name: NAME,
    op: 'fault',
    per_cpu: cfg.params.pages!,
    interferer: true,
  })),
};

export const workload: Workload = {
  name: NAME,
  description: 'threads fault in their own VMAs while one mprotects a populated 32 MiB VMA',
  op: 'fault',
  interferer_op: 'mprotect',
  scenario: scenario as Scenario,
  // Natively 32 MiB under mprotect (a walk of about 3 ms here, dozens of
  // faults' worth; mmlab stress's default is 128 MiB, but populating it
  // costs every writer run seconds), and more faults than a half-second
  // run has time for (128 MiB a faulter, 512 MiB in all at most). Under
  // timing the writer's VMA is 1024 pages, its walk still far longer than
  // a fault, and ~256 faults in all, at least 2 per faulter.
  params: (executor, cpus) =>
    executor === 'native'
      ? {
          big_pages: 8192,
          pages: Math.min(32768, share(131072, cpus - 1, 1024)),
          writer: 1,
          mprotects: 0,
        }
      : { big_pages: 1024, pages: share(256, Math.max(1, cpus - 1), 2), writer: 1, mprotects: 0 },
  alone: { writer: 0 },
};
