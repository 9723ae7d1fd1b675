/*
 * page-fault1/2/3: will-it-scale's page_fault1, page_fault2 and
 * page_fault3, threads mode (one mm). Each CPU loops `loops` times: mmap
 * its own region of `pages` pages (MAP_FIXED at a place no other CPU
 * uses), write the first word of every page (one fault each, one
 * operation each), munmap it. What is mapped:
 *
 *  1. private anonymous memory: a write fault allocates a zeroed page;
 *  2. a MAP_PRIVATE mapping of a file (made by the prologue, long enough
 *     for every CPU's region at its own offset): a write fault copies the
 *     page cache page (COW), and the file stays as it was;
 *  3. a MAP_SHARED mapping of the same file: a write fault maps the page
 *     cache page itself, and the write reaches the file.
 *
 * What it stresses: faults against mmap and munmap of other VMAs. Both
 * take mmap_lock for write, which under the mmap-lock policy stalls every
 * other CPU's faults; a per-VMA lock leaves them alone (bar the first
 * write fault of each private mapping, whose anon_vma needs mmap_lock: a
 * trylock, else a retry under it). The epilogue checks the file (2 and 3)
 * before the teardown.
 *
 * One implementation for the three: page_fault1.ts, page_fault2.ts and
 * page_fault3.ts each export one, because a native worker finds its
 * scenario as the `scenario` export of the scenario's own module.
 */

import { file_alloc, filemap_get_page } from '../../kernel/mm/filemap.js';
import {
  FILE_REGULAR,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE,
  PROT_READ,
  PROT_WRITE,
} from '../../kernel/mm/mm_types.js';
import { do_munmap, type MmapArgs } from '../../kernel/mm/mmap.js';
import { put_page } from '../../kernel/mm/page_alloc.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { new_mm } from '../common.js';
import type { Workload } from '../workload.js';
import {
  check_layout,
  finish,
  type Globals,
  globals_of,
  map,
  measure,
  ops_word,
  publish,
  record_bad,
  region,
  setup_globals,
  share,
  stop_word,
  teardown,
  workload_end,
  workload_memory,
  write_page,
} from './common.js';

/** Which of will-it-scale's three: what each CPU maps. */
type PageFaultKind = 1 | 2 | 3;

interface Mapping {
  readonly what: string;
  readonly file: boolean;
  readonly shared: boolean;
}

const MAPPINGS: Readonly<Record<PageFaultKind, Mapping>> = {
  1: { what: 'private anonymous memory', file: false, shared: false },
  2: { what: 'a private mapping of a file (COW)', file: true, shared: false },
  3: { what: 'a shared mapping of a file', file: true, shared: true },
};

/** The file's id: word i of its page j holds FILE_ID << 28 | j << 16 | i until written. */
const FILE_ID = 1;
/** What CPU c writes to the first word of each of its pages: unlike anything the file holds. */
const written = (cpu: number): number => 0x5a5a0000 | cpu;
/** What word 0 of file page j holds as read from "disk" (filemap_get_page()). */
const original = (index: number): number => (FILE_ID << 28) | (index << 16);

/**
 * Frames a run holds at most: each CPU's region populated, and as much
 * again twice over for the frames of past loops that wait in the slab
 * quarantine for a grace period (a private mapping's own pages); plus
 * the file's page cache.
 */
function frames(cfg: RunConfig, mapping: Mapping): number {
  const regions = cfg.cpus * cfg.params.pages!;
  return (mapping.shared ? 0 : 3 * regions) + (mapping.file ? regions : 0);
}

/*
 * The epilogue, before the teardown: the file's page cache must hold what
 * the mappings made of it. A private mapping's write copied the page, so
 * the file reads as it was; a shared mapping's write went to the page
 * cache page itself. Pages a CPU never wrote (a stopped run) are skipped.
 * The executors join every CPU before the epilogue: their words are read
 * plainly.
 */
function* check_file(
  k: KernelContext,
  w: Globals,
  cfg: RunConfig,
  name: string,
  mapping: Mapping,
): KGen {
  const { file } = yield* globals_of(k, w);
  const pages = cfg.params.pages!;
  for (let cpu = 0; cpu < cfg.cpus; cpu++) {
    const wrote = Math.min(pages, yield k.load(ops_word(w, cpu)));
    for (let p = 0; p < wrote; p++) {
      const index = cpu * pages + p;
      const page = yield* call(filemap_get_page(k, file, index));
      if (page <= 0) throw new KernelBug('BUG', `${name}: file page ${index} cannot be read`);
      const word = yield k.load(yield k.load(page + PAGE.frame));
      if (word !== (mapping.shared ? written(cpu) : original(index)))
        yield* record_bad(k, w, region(cpu, pages) + p);
      yield* put_page(k, page);
    }
  }
}

/** The page-fault`n` workload, its scenario's module being `module` (its import.meta.url). */
export function page_fault(n: PageFaultKind, module: string): Workload {
  const name = `page-fault${n}`;
  const mapping = MAPPINGS[n];
  const scenario: Scenario<Globals> = {
    name,
    description: `every CPU maps ${mapping.what}, writes each page, unmaps it, in a loop`,
    module,
    variants: [],
    default_cpus: 2,
    max_cpus: 256,
    // pages: each CPU's region, one fault each; loops: how many times it maps it.
    params: { pages: 16, loops: 2 },
    memory_words: (cfg) => workload_memory(cfg, frames(cfg, mapping)),
    kthreads: [RCU_GP_KTHREAD],

    check_config: (cfg) => check_layout(name, cfg.cpus, cfg.params.pages!),
    setup(m, _sys, cfg): Globals {
      return setup_globals(m, cfg, name);
    },
    stop_word,

    *prologue(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
      const mm = yield* call(new_mm(k));
      let file = 0;
      if (mapping.file) {
        file = yield* file_alloc(k, FILE_ID, cfg.cpus * cfg.params.pages!, FILE_REGULAR);
        if (file === 0) throw new KernelBug('BUG', `${name}: the prologue cannot make its file`);
      }
      yield* publish(k, w, mm, file);
    },

    *cpu(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
      const { mm, file } = yield* globals_of(k, w);
      const pages = cfg.params.pages!;
      const start = region(k.cpu, pages);
      const args: MmapArgs = {
        addr: start,
        len: pages,
        prot: PROT_READ | PROT_WRITE,
        flags: (mapping.shared ? MAP_SHARED : MAP_PRIVATE) | (file ? 0 : MAP_ANONYMOUS) | MAP_FIXED,
        file,
        // Each CPU's own part of the file: no two CPUs share a page cache page.
        pgoff: file ? k.cpu * pages : 0,
      };
      let ops = 0;
      for (let loop = 0; loop < cfg.params.loops!; loop++) {
        yield* call(map(k, mm, args, name));
        const done = yield* call(
          measure(k, w, pages, (i) => write_page(k, mm, start + i, written(k.cpu), name)),
        );
        ops += done;
        const r = yield* call(do_munmap(k, mm, start, pages));
        if (r !== 0) throw new KernelBug('BUG', `${name}: cpu${k.cpu}: munmap failed (${r})`);
        if (done < pages) break;
      }
      yield* finish(k, w, ops);
    },

    ...workload_end((cfg) => ({
      name,
      op: 'fault',
      per_cpu: cfg.params.loops! * cfg.params.pages!,
      interferer: false,
      bad: mapping.shared
        ? 'file pages that miss the write made through the shared mapping'
        : 'file pages changed by a write through the private mapping',
    })),
    *epilogue(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
      if (mapping.file) yield* call(check_file(k, w, cfg, name, mapping));
      yield* call(teardown(k, w));
    },
  };
  return {
    name,
    description: `will-it-scale page_fault${n}: threads map ${mapping.what}, write every page, unmap it`,
    op: 'fault',
    scenario: scenario as Scenario,
    // Natively ~65536 faults per CPU, more than a run has time for (a run
    // is time-bound), in regions of up to 4 MiB (8192 pages in all at most); under timing ~1024 faults in all, at least 2 loops
    // of 2 pages per CPU.
    params: (executor, cpus) => {
      if (executor === 'native') {
        const pages = Math.min(1024, share(8192, cpus, 256));
        return { pages, loops: Math.ceil(65536 / pages) };
      }
      return { pages: share(512, cpus, 2), loops: 2 };
    },
  };
}
