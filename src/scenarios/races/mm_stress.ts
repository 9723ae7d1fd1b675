/*
 * mm-stress: one address space, CPU 0 changing it while every other CPU
 * faults in it. CPU 0 maps and unmaps, mprotects, mremaps, drops pages
 * (MADV_DONTNEED), forks children that write and exit, and pins pages
 * across fork. CPU c >= 1 writes values only it writes into its own region
 * and reads them back, and reads CPU 0's regions.
 *
 * The outcome rule, checked as it runs: a value read back is the value
 * written or zero (DONTNEED may drop it), never a child's, another CPU's
 * or an older write of its own (each write's value encodes its CPU and
 * iteration: faulter_value()); a page pinned across fork stays the page the parent writes; CPU
 * 0's regions hold zero or their pattern. And at the end: validate_mm()
 * (index, map_count, mapcounts, references), then no object is left once
 * the mm is gone.
 */
import { user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { dup_mmap } from '../../kernel/fork.js';
import { check_mm_caches_empty, validate_mm } from '../../kernel/mm/debug.js';
import { pin_user_pages_fast, unpin_user_page } from '../../kernel/mm/gup.js';
import { do_madvise_dontneed } from '../../kernel/mm/madvise.js';
import { MREMAP_MAYMOVE, PAGE, PROT_READ, PROT_WRITE } from '../../kernel/mm/mm_types.js';
import { do_mmap, do_munmap, mmput } from '../../kernel/mm/mmap.js';
import { do_mprotect } from '../../kernel/mm/mprotect.js';
import { do_mremap } from '../../kernel/mm/mremap.js';
import { RCU_GP_KTHREAD } from '../../kernel/rcu/tree.js';
import { vm_events_sum } from '../../kernel/sched.js';
import { defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig, Scenario } from '../../runtime/scenario.js';
import { anon_fixed, BASE, new_mm, SEED_VARIANT_DOCS, SEED_VARIANTS } from '../common.js';
import { HISTORICAL_VARIANT_DOCS, HISTORICAL_VARIANTS } from '../historical.js';
import { Rng } from '../random.js';

/** Pages of each region. */
const REGION = 16;
/** CPU 0's regions, and where CPU c's region lies. */
const MUTATOR_REGIONS = 4;
const mutator_region = (j: number) => BASE + 4096 + j * 64;
const faulter_region = (c: number) => BASE + c * 64;

const STRESS = defineStruct('mm_stress', {
  mm: 'WRITE_ONCE by cpu0 before the others look; the shared address space',
  stop: 'WRITE_ONCE by the executor: end now',
  faulters_done: 'atomic: CPUs >= 1 that finished',
});

interface Globals {
  readonly st: number;
}

const PATTERN = 0x5a5a0000;
/** What CPU 0 writes at byte address a of its regions. */
export const pattern = (a: number) => (PATTERN | ((a >>> 2) & 0xffff)) >>> 0;

const rw = PROT_READ | PROT_WRITE;

function* map_fixed(k: KernelContext, mm: number, page: number, prot: number): KGen<number> {
  return yield* call(do_mmap(k, mm, anon_fixed(page, REGION, prot)));
}

function* stopped(k: KernelContext, st: number): KGen<boolean> {
  return (yield k.READ_ONCE(st + STRESS.stop)) !== 0;
}

/* CPU 0: one change to the address space. */
function* mutate(k: KernelContext, mm: number, rng: Rng, cpus: number): KGen {
  const j = rng.below(MUTATOR_REGIONS);
  const region = mutator_region(j);
  const victim = cpus > 1 ? faulter_region(1 + rng.below(cpus - 1)) : region;
  switch (rng.below(7)) {
    case 0: {
      // Unmap and map again: faulters see SIGSEGV, then zeros and patterns.
      yield* call(do_munmap(k, mm, region, REGION));
      yield* call(map_fixed(k, mm, region, rw));
      const a = (region + rng.below(REGION)) * 4096;
      yield* call(user_access(k, mm, a, true, pattern(a)));
      break;
    }
    case 1:
      // A faulter's region read-only for a while: its writes get SIGSEGV, reads go on.
      yield* call(do_mprotect(k, mm, victim + rng.below(REGION / 2), REGION / 2, PROT_READ));
      yield* call(do_mprotect(k, mm, victim, REGION, rw));
      break;
    case 2:
      yield* call(
        do_madvise_dontneed(k, mm, rng.below(2) ? victim : region, 1 + rng.below(REGION)),
      );
      break;
    case 3: {
      // Grow in place or move; then put it back, as it was.
      const moved = yield* call(do_mremap(k, mm, region, REGION, REGION + 4, MREMAP_MAYMOVE, 0));
      if (moved === region) {
        yield* call(do_mremap(k, mm, region, REGION + 4, REGION, 0, 0));
      } else if (moved > 0) {
        yield* call(do_munmap(k, mm, moved, REGION + 4));
        yield* call(map_fixed(k, mm, region, rw));
      }
      break;
    }
    case 4: {
      // A child writes its own values everywhere; the parent must never see them.
      const child = yield* call(dup_mmap(k, mm));
      k.BUG_ON(child === 0, 'mm-stress: fork failed');
      for (let i = 0; i < 4; i++)
        yield* call(
          user_access(k, child, (victim + rng.below(REGION)) * 4096, true, 0xdead0000 | i),
        );
      yield* call(mmput(k, child));
      break;
    }
    case 5: {
      // A page pinned across fork stays the parent's: the device sees the parent's writes.
      const a = (region + rng.below(REGION)) * 4096;
      if ((yield* call(user_access(k, mm, a, true, pattern(a)))) < 0) break;
      const [page] = yield* call(pin_user_pages_fast(k, mm, a / 4096, 1, true));
      if (page === undefined) break;
      const child = yield* call(dup_mmap(k, mm));
      k.BUG_ON(child === 0, 'mm-stress: fork failed');
      yield* call(user_access(k, mm, a, true, pattern(a)));
      const frame = yield k.load(page + PAGE.frame);
      const seen = yield k.load(frame + ((a % 4096) >> 2));
      yield* call(mmput(k, child));
      yield* call(unpin_user_page(k, page));
      k.BUG_ON(
        seen !== (pattern(a) | 0),
        `mm-stress: the pinned page lost the parent's write (${seen})`,
      );
      break;
    }
    default:
      yield* call(do_mprotect(k, mm, region, REGION, rng.below(2) ? PROT_READ : rw));
  }
}

/** What CPU c >= 1 writes the seq-th time: its number and the iteration, so no two writes match. */
export const faulter_value = (cpu: number, seq: number): number =>
  ((cpu << 24) | (seq & 0xffffff)) >>> 0;

/**
 * The rule for a faulter's read back of its own write `v`: `v`, or 0 where
 * MADV_DONTNEED dropped the page; never a fault (its region stays
 * readable), another CPU's or a child's value, or an older write of its own.
 */
export function own_read_wrong(v: number, r: number): string | undefined {
  if (r < 0) return `cannot read its own region (${r})`;
  if (r !== v && r !== 0) return `wrote ${v.toString(16)} and read ${r.toString(16)}`;
  return undefined;
}

/** The rule for a faulter's read at `b` in CPU 0's regions: a fault, 0, or CPU 0's pattern there. */
export function mutator_read_wrong(b: number, r: number): string | undefined {
  if (r >= 0 && r !== 0 && r !== pattern(b)) return `read ${r.toString(16)} at ${b.toString(16)}`;
  return undefined;
}

/* CPU c >= 1: write and read back in its region; read CPU 0's regions. */
function* fault_and_check(k: KernelContext, mm: number, rng: Rng, seq: number): KGen {
  const a = faulter_region(k.cpu) * 4096 + rng.below(REGION * 1024) * 4;
  const v = faulter_value(k.cpu, seq);
  if ((yield* call(user_access(k, mm, a, true, v))) === 0) {
    const wrong = own_read_wrong(v, yield* call(user_access(k, mm, a, false, 0)));
    k.BUG_ON(wrong !== undefined, `mm-stress: cpu${k.cpu} at ${a.toString(16)}: ${wrong}`);
  }
  const b = mutator_region(rng.below(MUTATOR_REGIONS)) * 4096 + rng.below(REGION * 1024) * 4;
  const wrong = mutator_read_wrong(b, yield* call(user_access(k, mm, b, false, 0)));
  k.BUG_ON(wrong !== undefined, `mm-stress: cpu${k.cpu}: ${wrong}`);
}

export const scenario: Scenario<Globals> = {
  name: 'mm-stress',
  description:
    'CPU 0 mmaps, munmaps, mprotects, mremaps, madvises, forks and pins while the others fault and check what they read',
  module: import.meta.url,
  variants: [...SEED_VARIANTS, ...HISTORICAL_VARIANTS],
  variant_docs: { ...SEED_VARIANT_DOCS, ...HISTORICAL_VARIANT_DOCS },
  default_cpus: 2,
  max_cpus: 16,
  params: { iters: 4, seed: 1 },
  param_docs: {
    iters: {
      doc: "cpu0's changes to the address space, and each other CPU's faults",
      native: 20,
      native_only: { value: 0, means: 'runs until stopped' },
    },
    seed: { doc: "seed of the CPUs' random choices" },
  },
  memory_words: 1 << 22,
  kthreads: [RCU_GP_KTHREAD],

  setup(m: KernelMemory): Globals {
    return { st: m.boot_alloc(STRESS.$, 'mm_stress') };
  },

  stop_word: (g) => g.st + STRESS.stop,

  *cpu(k: KernelContext, { st }: Globals, cfg: RunConfig): KGen {
    const rng = new Rng((cfg.params.seed! * 977) ^ (k.cpu * 0x9e3779b1));
    const iters = cfg.params.iters!;
    const faulters = cfg.cpus - 1;
    if (k.cpu === 0) {
      const mm = yield* call(new_mm(k));
      for (let c = 1; c < cfg.cpus; c++) yield* call(map_fixed(k, mm, faulter_region(c), rw));
      for (let j = 0; j < MUTATOR_REGIONS; j++)
        yield* call(map_fixed(k, mm, mutator_region(j), rw));
      yield k.store_release(st + STRESS.mm, mm);
      for (let i = 0; (iters === 0 || i < iters) && !(yield* stopped(k, st)); i++)
        yield* call(mutate(k, mm, rng, cfg.cpus));
      // Let the faulters finish, then check the address space and tear it down.
      let done = yield k.load_acquire(st + STRESS.faulters_done);
      while (done !== faulters) done = yield k.cond_load_ne(st + STRESS.faulters_done, done);
      yield* call(validate_mm(k, mm));
      yield* call(mmput(k, mm));
      return;
    }
    let mm = yield k.load_acquire(st + STRESS.mm);
    while (mm === 0) mm = yield k.cond_load_ne(st + STRESS.mm, 0);
    for (let i = 0; (iters === 0 || i < iters) && !(yield* stopped(k, st)); i++)
      yield* call(fault_and_check(k, mm, rng, i));
    yield k.fetch_add(st + STRESS.faulters_done, 1);
  },

  report: (m, sys) => vm_events_sum(m.words, sys.tasks),

  check(m: KernelMemory, sys: KernelSymbols): void {
    check_mm_caches_empty(m, sys, 'after the mm died');
  },
};
