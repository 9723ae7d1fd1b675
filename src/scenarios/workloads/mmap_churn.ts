/*
 * mmap-churn: will-it-scale's mmap1, threads mode (one mm). Each CPU
 * loops: mmap `pages` pages of private anonymous memory wherever the
 * kernel puts them (no hint, not MAP_FIXED: the top-down search), then
 * munmap them; one operation is the pair. Nothing is ever touched, so
 * there are no faults.
 *
 * What it stresses: the write side. Every mmap and munmap takes mmap_lock
 * for write (under the range policy, munmap locks only the range of the
 * VMAs it removes), replaces the VMA index node and retires the old one
 * through RCU, and write-locks the VMAs it removes; per-VMA locks make
 * this path longer, never shorter, so this is where their cost shows.
 * The kernel may place one CPU's mapping next to another's and merge the
 * two; the other's munmap then splits it again, as on Linux.
 */

import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel/mm/mm_types.js';
import { do_munmap, type MmapArgs } from '../../kernel/mm/mmap.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { new_mm } from '../common.js';
import type { Workload } from '../workload.js';
import {
  type Globals,
  globals_of,
  map,
  measure_all,
  publish,
  setup_globals,
  share,
  stop_word,
  workload_end,
  workload_memory,
} from './common.js';

const NAME = 'mmap-churn';

export const scenario: Scenario<Globals> = {
  name: NAME,
  description:
    'every CPU maps anonymous memory where the kernel places it and unmaps it, in a loop',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 256,
  // pages: each mapping's length (512: 2 MiB, which the kernel THP-aligns); loops: pairs per CPU.
  params: { pages: 512, loops: 8 },
  param_max: { pages: 1 << 16 },
  // Nothing is populated: VMAs and index nodes only.
  memory_words: (cfg) => workload_memory(cfg, 0),
  kthreads: [RCU_GP_KTHREAD],

  setup(m, _sys, cfg): Globals {
    if (cfg.params.pages! < 1) throw new Error(`${NAME}: parameter pages must be at least 1`);
    return setup_globals(m, cfg, NAME);
  },
  stop_word,

  *prologue(k: KernelContext, w: Globals): KGen {
    yield* publish(k, w, yield* call(new_mm(k)));
  },

  *cpu(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
    const { mm } = yield* globals_of(k, w);
    const pages = cfg.params.pages!;
    const args: MmapArgs = {
      addr: 0,
      len: pages,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
      file: 0,
      pgoff: 0,
    };
    yield* call(
      measure_all(k, w, cfg.params.loops!, function* () {
        const addr = yield* call(map(k, mm, args, NAME));
        const r = yield* call(do_munmap(k, mm, addr, pages));
        if (r !== 0) throw new KernelBug('BUG', `${NAME}: cpu${k.cpu}: munmap failed (${r})`);
      }),
    );
  },

  ...workload_end((cfg) => ({
    name: NAME,
    op: 'mmap+munmap',
    per_cpu: cfg.params.loops!,
    interferer: false,
  })),
};

export const workload: Workload = {
  name: NAME,
  description: "will-it-scale's mmap1: threads mmap and munmap 2 MiB of anonymous memory",
  op: 'mmap+munmap',
  scenario: scenario as Scenario,
  // Natively 16384 pairs per CPU, more than a run has time for; under timing ~256 pairs in all, at least 2 per CPU.
  params: (executor, cpus) => ({
    pages: 512,
    loops: executor === 'native' ? 16384 : share(256, cpus, 2),
  }),
};
