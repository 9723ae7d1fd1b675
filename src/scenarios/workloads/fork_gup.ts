/*
 * fork-gup: GUP-fast pins against fork, over write_protect_seq: the race
 * of seed 004 (commit 57efa1fe5957, "mm/gup: prevent gup_fast from racing
 * with COW during fork"), run as a benchmark. The prologue maps and
 * populates one private anonymous VMA; CPUs 1..N-1 each own a slice of
 * `pages` pages of it and loop: pin_user_pages_fast(FOLL_PIN|FOLL_WRITE)
 * one page of the slice (rotating through it), then unpin_user_page();
 * one operation is the pin and its unpin. cpu0 forks in a loop until the
 * pinners are done: dup_mmap() a child, then mmput() it (the child exits
 * at once). On one CPU there is no forker: cpu0 pins alone.
 *
 * What it stresses: GUP-fast's lockless walk against fork. A fork holds
 * mmap_lock for write and keeps write_protect_seq odd while it
 * write-protects the parent's PTEs; a pin that meets it (or sees the
 * sequence move) falls back to the slow path, which waits for mmap_lock
 * and then unshares the now write-protected page (a copy while the child
 * lives). The epilogue checks that no pin was lost: every page of the VMA
 * is mapped once, with no pin and one reference, as before the run.
 */

import { dup_mmap } from '../../kernel/fork.js';
import { pin_user_pages_fast, unpin_user_page } from '../../kernel/mm/gup.js';
import { MAP_POPULATE, PAGE, PROT_READ, PROT_WRITE } from '../../kernel/mm/mm_types.js';
import { mmput } from '../../kernel/mm/mmap.js';
import { pte_page, walk_present_ptes } from '../../kernel/mm/pgtable.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { refcount_read } from '../../kernel/refcount.js';
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
  publish,
  record_bad,
  region,
  setup_globals,
  share,
  stop_word,
  teardown,
  workload_end,
  workload_memory,
} from './common.js';

const NAME = 'fork-gup';

/* The VMA: a slice of `pages` pages per CPU (cpu0's unused while it forks). */
const vma_pages = (cfg: RunConfig): number => cfg.cpus * cfg.params.pages!;
const vma_start = (cfg: RunConfig): number => region(0, vma_pages(cfg));

/*
 * The epilogue, before the teardown: every pin was unpinned. Each page of
 * the VMA must be present (the parent never unmaps), pinned by no one and
 * referenced by its one PTE alone; the children are gone, and a page
 * still shared with one, or a pin never dropped, would show here. The
 * executors join every CPU before the epilogue: plain reads suffice.
 */
function* check_pins(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
  const { mm } = yield* globals_of(k, w);
  const start = vma_start(cfg);
  const end = start + vma_pages(cfg);
  let next = start;
  yield* call(
    walk_present_ptes(k, mm, start, end, function* (_slot, pte, p) {
      for (; next < p; next++) yield* record_bad(k, w, next);
      next = p + 1;
      const page = pte_page(pte);
      const pins = yield k.load(page + PAGE._pincount);
      if (pins !== 0 || (yield refcount_read(k, page + PAGE._refcount)) !== 1)
        yield* record_bad(k, w, p);
    }),
  );
  for (; next < end; next++) yield* record_bad(k, w, next);
}

export const scenario: Scenario<Globals> = {
  name: NAME,
  description: 'CPUs pin and unpin pages with pin_user_pages_fast() while cpu0 forks in a loop',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 256,
  // pages: each pinner's slice; pins: pin/unpin pairs per pinner.
  params: { pages: 4, pins: 8 },
  // The VMA, and as much again twice over: the copies that unsharing a
  // page makes after each fork, and the frames they replaced, waiting
  // in the slab quarantine for a grace period.
  memory_words: (cfg) => workload_memory(cfg, 3 * vma_pages(cfg)),
  kthreads: [RCU_GP_KTHREAD],

  check_config: (cfg) => check_layout(NAME, 1, vma_pages(cfg)),
  setup(m, _sys, cfg): Globals {
    return setup_globals(m, cfg, NAME);
  },
  stop_word,

  // Untimed: the VMA with every page written, so that every pin can be fast.
  *prologue(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
    const mm = yield* call(new_mm(k));
    const rw = PROT_READ | PROT_WRITE;
    yield* call(map(k, mm, anon_fixed(vma_start(cfg), vma_pages(cfg), rw, MAP_POPULATE), NAME));
    yield* publish(k, w, mm);
  },

  *cpu(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
    const { mm } = yield* globals_of(k, w);
    if (k.cpu === 0 && cfg.cpus > 1) {
      yield* call(
        interfere(k, w, cfg.cpus - 1, function* () {
          const child = yield* call(dup_mmap(k, mm));
          if (child === 0) throw new KernelBug('BUG', `${NAME}: fork failed`);
          yield* call(mmput(k, child));
        }),
      );
      return;
    }
    const pages = cfg.params.pages!;
    const first = vma_start(cfg) + k.cpu * pages;
    yield* call(
      measure_all(k, w, cfg.params.pins!, function* (i) {
        const pinned = yield* call(pin_user_pages_fast(k, mm, first + (i % pages), 1, true));
        if (pinned.length !== 1)
          throw new KernelBug('BUG', `${NAME}: cpu${k.cpu}: pin_user_pages_fast() pinned nothing`);
        yield* call(unpin_user_page(k, pinned[0]!));
      }),
    );
  },

  ...workload_end((cfg) => ({
    name: NAME,
    op: 'pin',
    per_cpu: cfg.params.pins!,
    interferer: true,
    bad: 'pages not back as they were (missing, still pinned, or referenced more than once)',
  })),
  *epilogue(k: KernelContext, w: Globals, cfg: RunConfig): KGen {
    yield* call(check_pins(k, w, cfg));
    yield* call(teardown(k, w));
  },
};

export const workload: Workload = {
  name: NAME,
  description: 'pin_user_pages_fast() and unpin in threads while another thread forks',
  op: 'pin',
  interferer_op: 'fork',
  scenario: scenario as Scenario,
  // Natively 64-page slices and more pins than a run has time for; under timing 4-page slices and ~4096 pins in all, at least 4
  // per pinner.
  params: (executor, cpus) =>
    executor === 'native'
      ? { pages: 64, pins: Math.min(1 << 20, share(1 << 22, cpus - 1, 16384)) }
      : { pages: 4, pins: share(4096, Math.max(1, cpus - 1), 4) },
};
