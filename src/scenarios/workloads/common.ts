/*
 * What the benchmark workloads share: where their CPUs' regions lie in the
 * address space, the kernel memory a run needs, the globals every CPU
 * reads (the mm, the stop word), the measured loop that brackets each
 * operation with k.op_begin()/k.op_end(), the interfering cpu0's loop,
 * and the report and check every workload makes. Not a workload:
 * index.ts lists workloads by import, never by file.
 *
 * Unlike the explorer's scenarios (src/scenarios/common.ts), the
 * loops here are generators: a workload is run for its operations, not
 * traced to tell a race, so an access of the loop itself (the stop word)
 * being named after measure() rather than the workload costs nothing.
 */

import { user_access } from '../../kernel/arch/fault.js';
import type { KernelSymbols } from '../../kernel/boot.js';
import { check_mm_caches_empty } from '../../kernel/mm/debug.js';
import { fput } from '../../kernel/mm/filemap.js';
import { PAGE_FRAME } from '../../kernel/mm/mm_init.js';
import { PAGE, PTRS_PER_PTE } from '../../kernel/mm/mm_types.js';
import { do_mmap, type MmapArgs, mmput } from '../../kernel/mm/mmap.js';
import { PAGE_BYTES } from '../../kernel/mm/syscalls.js';
import { vm_events_sum } from '../../kernel/sched.js';
import { slab_object_words } from '../../runtime/heap.js';
import { cacheline_aligned, defineStruct } from '../../runtime/layout.js';
import type { KernelMemory } from '../../runtime/memory.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../runtime/ops.js';
import type { RunConfig } from '../../runtime/scenario.js';
import { BASE, TOP } from '../common.js';

/* ---- layout ---- */

/**
 * Pages left unmapped between two regions: adjacent anonymous VMAs with the
 * same flags would merge, and then one CPU's munmap or mprotect would split
 * the VMA another CPU faults in, which is not the workload.
 */
const GAP = 1;

/**
 * Pages from one CPU's region (or slice) to the next when each is `pages`
 * long, GAP included: whole PTE tables, so that no two CPUs share one, as
 * no two threads of will-it-scale or pft do (each has megabytes of its
 * own). Packed, 256 CPUs faulting a few pages each would all contend on a
 * few PTE tables' split locks, which is not the workload.
 */
export function stride(pages: number): number {
  return Math.ceil((pages + GAP) / PTRS_PER_PTE) * PTRS_PER_PTE;
}

/**
 * First page of region `i` when every region is `pages` long: the regions
 * tile [BASE, TOP) from the bottom, the gigabyte below the mmap base that
 * the scenarios' mms have page tables for, each on PTE tables of its own.
 */
export function region(i: number, pages: number): number {
  return BASE + i * stride(pages);
}

/**
 * A usage Error unless `n` regions of `pages` pages, then `extra` pages,
 * fit below TOP. Called by setup(), before anything runs.
 */
export function check_layout(name: string, n: number, pages: number, extra = 0): void {
  if (pages < 1) throw new Error(`${name}: parameter pages must be at least 1`);
  if (region(n, pages) + extra > TOP)
    throw new Error(
      `${name}: ${n} regions of ${pages} pages${extra ? ` and ${extra} more pages` : ''} do not fit the ${(TOP - BASE) >> 8} MiB the workload maps in`,
    );
}

/**
 * Words a populated page costs: its frame and struct page with their slab
 * headers, padding and share of their slabs' slack, and a share of a PTE
 * table. Without the slack, pft's native size on 2 CPUs (32,768 pages
 * each) ran out of memory 172 pages before its end, which a fast enough
 * machine reached within a run.
 */
const WORDS_PER_PAGE = slab_object_words(PAGE_FRAME.$) + slab_object_words(PAGE.$) + 6;
/** The boot objects, the mm and its VMA index nodes, slack for the slabs' partial pages. */
const BASE_WORDS = 1 << 22;
/** Per CPU: its task and RCU data, its VMAs, and the VMA index nodes its changes retire. */
const WORDS_PER_CPU = 1 << 14;

/**
 * Kernel memory for a run of `cfg` that holds at most `pages` populated
 * pages at once (quarantined frames included: the caller counts them).
 */
export function workload_memory(cfg: RunConfig, pages: number): number {
  return BASE_WORDS + cfg.cpus * WORDS_PER_CPU + Math.ceil(pages * WORDS_PER_PAGE);
}

/**
 * A run's share per CPU of `total` operations, at least `min` each: the
 * timing executor simulates every CPU on one thread, so a run costs its
 * total accesses whatever the CPU count.
 */
export function share(total: number, cpus: number, min: number): number {
  return Math.max(min, Math.ceil(total / cpus));
}

/* ---- globals ---- */

const WORKLOAD = defineStruct('workload', {
  mm: 'store by the prologue before any CPU starts: the address space all CPUs are threads of',
  file: 'store by the prologue: the file page-fault2/3 map (0: none); fput by the epilogue',
  stop: 'WRITE_ONCE by the executor (a run of S seconds): end now',
  done: 'atomic: measuring CPUs that finished; an interfering cpu0 goes on until all did',
  bad: 'the epilogue: wrong outcomes it found before the teardown (0: none)',
  bad_at: 'the epilogue: the page of the first one',
});

/* One cache line per CPU, so that a CPU's own word shares a line with no other's. */
const WORKLOAD_CPU = defineStruct('workload_cpu', {
  ops: cacheline_aligned('its CPU, once as it ends: operations completed; read after the run'),
});

/** Where setup() put a workload's globals: structuredClone-safe, it goes to workers. */
export interface Globals {
  readonly g: number;
  readonly per_cpu: number;
}

export function setup_globals(m: KernelMemory, cfg: RunConfig, name: string): Globals {
  return {
    g: m.boot_alloc(WORKLOAD.$, name),
    per_cpu: m.boot_alloc(WORKLOAD_CPU.$, `${name}.cpu`, cfg.cpus),
  };
}

export const stop_word = (w: Globals): number => w.g + WORKLOAD.stop;

/** The word where CPU `cpu` records its operations as it ends. */
export const ops_word = (w: Globals, cpu: number): number =>
  w.per_cpu + cpu * WORKLOAD_CPU.$.size + WORKLOAD_CPU.ops;

/** Operations CPU `cpu` completed, read after the run (the check, the tests). */
function ops_done(m: KernelMemory, w: Globals, cpu: number): number {
  return m.words[ops_word(w, cpu)]!;
}

/**
 * The CPUs whose operations are measured: every CPU, or, where cpu0
 * interferes (a writer, a forker), every other one; alone, cpu0 measures.
 */
export function measuring_cpus(cfg: RunConfig, interferer: boolean): number[] {
  const first = interferer && cfg.cpus > 1 ? 1 : 0;
  return Array.from({ length: cfg.cpus - first }, (_, i) => first + i);
}

/* ---- the CPUs' code ---- */

/** The prologue publishes the mm (and the file): plain stores, before any CPU runs. */
export function* publish(k: KernelContext, w: Globals, mm: number, file = 0): KGen {
  yield k.store(w.g + WORKLOAD.mm, mm);
  if (file !== 0) yield k.store(w.g + WORKLOAD.file, file);
}

/** What the prologue published. */
export function* globals_of(k: KernelContext, w: Globals): KGen<{ mm: number; file: number }> {
  return { mm: yield k.load(w.g + WORKLOAD.mm), file: yield k.load(w.g + WORKLOAD.file) };
}

/** do_mmap() that must succeed (a workload's own mappings): returns the first page. */
export function* map(k: KernelContext, mm: number, a: MmapArgs, who: string): KGen<number> {
  const addr = yield* call(do_mmap(k, mm, a));
  if (addr < 0) throw new KernelBug('BUG', `${who}: cpu${k.cpu}: mmap failed (${addr})`);
  return addr;
}

/** Write `value` to the first word of `page`; a write that faults and fails is a bug. */
export function* write_page(
  k: KernelContext,
  mm: number,
  page: number,
  value: number,
  who: string,
): KGen {
  const r = yield* call(user_access(k, mm, page * PAGE_BYTES, true, value));
  // No template string unless it failed: this is every fault's path.
  if (r !== 0) throw new KernelBug('BUG', `${who}: cpu${k.cpu}: write to page ${page} got ${r}`);
}

/**
 * The measured loop: `op(i)` for i = 0, 1, ... n - 1, each one operation
 * between k.op_begin() and k.op_end(), the stop word polled before each
 * (outside the operation). Returns how many ran: n unless stopped.
 */
export function* measure(
  k: KernelContext,
  w: Globals,
  n: number,
  op: (i: number) => KGen,
): KGen<number> {
  let i = 0;
  for (; i < n && !(yield k.READ_ONCE(w.g + WORKLOAD.stop)); i++) {
    k.op_begin();
    yield* call(op(i));
    k.op_end();
  }
  return i;
}

/**
 * A measuring CPU's whole run: measure() of `n` operations `op(i)`, then
 * finish() with how many ran.
 */
export function* measure_all(
  k: KernelContext,
  w: Globals,
  n: number,
  op: (i: number) => KGen,
): KGen {
  yield* finish(k, w, yield* call(measure(k, w, n, op)));
}

/**
 * A measuring CPU ends: it records its operations (its own word, once)
 * and counts itself done, which ends an interfering cpu0's loop.
 */
export function* finish(k: KernelContext, w: Globals, ops: number): KGen {
  yield k.store(ops_word(w, k.cpu), ops);
  yield k.fetch_add(w.g + WORKLOAD.done, 1);
}

/**
 * The interfering cpu0: `body(i)` for i = 0, 1, ... while any of the
 * `workers` measuring CPUs is still running (a stop ends them, and so
 * this loop), and at most `max` times where `max` is not 0: a schedule
 * that never lets a worker run (PCT, DFS) must still end. Its iterations
 * go to its own ops word, which no check counts as operations: how much
 * it interfered.
 */
export function* interfere(
  k: KernelContext,
  w: Globals,
  workers: number,
  body: (i: number) => KGen,
  max = 0,
): KGen {
  let i = 0;
  while ((max === 0 || i < max) && (yield k.READ_ONCE(w.g + WORKLOAD.done)) < workers)
    yield* call(body(i++));
  yield k.store(ops_word(w, k.cpu), i);
}

/** The epilogue records a wrong outcome: how many, and the page of the first. */
export function* record_bad(k: KernelContext, w: Globals, page: number): KGen {
  const bad = yield k.load(w.g + WORKLOAD.bad);
  if (bad === 0) yield k.store(w.g + WORKLOAD.bad_at, page);
  yield k.store(w.g + WORKLOAD.bad, bad + 1);
}

/** The epilogue's teardown: the process exits (mmput), its file is closed. */
export function* teardown(k: KernelContext, w: Globals): KGen {
  const { mm, file } = yield* globals_of(k, w);
  yield* call(mmput(k, mm));
  if (file !== 0) yield* call(fput(k, file));
}

/* ---- after the run ---- */

/** The per-VMA lock counters (vmstat events) of the measuring CPUs. */
function report_events(
  m: KernelMemory,
  sys: KernelSymbols,
  cfg: RunConfig,
  interferer: boolean,
): Record<string, number> {
  return vm_events_sum(
    m.words,
    measuring_cpus(cfg, interferer).map((c) => sys.tasks[c]!),
  );
}

/*
 * A workload whose cpu0 interferes: the measuring CPUs' events, and both
 * sides' operations over the whole run, `run_ops` (the measuring CPUs')
 * and `interferer_ops` (cpu0's). Their ratio, the operations that each of
 * cpu0's lets through (pins a fork), is what the interference costs; both
 * counts cover the same span, where the recorded operations leave out the
 * run's warm-up.
 */
export function report_interference(
  m: KernelMemory,
  sys: KernelSymbols,
  w: Globals,
  cfg: RunConfig,
): Record<string, number> {
  const cpus = measuring_cpus(cfg, true);
  const interfered = cfg.cpus > 1;
  return {
    ...report_events(m, sys, cfg, true),
    run_ops: cpus.reduce((sum, c) => sum + ops_done(m, w, c), 0),
    interferer_ops: interfered ? ops_done(m, w, 0) : 0,
  };
}

interface Expected {
  readonly name: string;
  /** What one operation is, as the workload names it. */
  readonly op: string;
  /** Operations each measuring CPU completes unless stopped. */
  readonly per_cpu: number;
  readonly interferer: boolean;
  /** What the epilogue's `bad` counts, for the message. */
  readonly bad?: string;
}

/**
 * A workload's end, as most declare it: the epilogue tears the address
 * space down, the report is the measuring CPUs' events (and, where cpu0
 * interferes, both sides' operations), the check is check_workload()
 * with what `expected` says of the configuration.
 */
export function workload_end(expected: (cfg: RunConfig) => Expected) {
  return {
    epilogue: teardown,
    report: (m: KernelMemory, sys: KernelSymbols, w: Globals, cfg: RunConfig) =>
      expected(cfg).interferer
        ? report_interference(m, sys, w, cfg)
        : report_events(m, sys, cfg, false),
    check: (m: KernelMemory, sys: KernelSymbols, w: Globals, cfg: RunConfig): void =>
      check_workload(m, sys, w, cfg, expected(cfg)),
  } as const;
}

/**
 * The outcome every workload checks: each measuring CPU did all its
 * operations (at most that many when the run was stopped early), the
 * epilogue found nothing wrong, and no object outlived the mm.
 */
function check_workload(
  m: KernelMemory,
  sys: KernelSymbols,
  w: Globals,
  cfg: RunConfig,
  e: Expected,
): void {
  const stopped = m.words[stop_word(w)] !== 0;
  for (const cpu of measuring_cpus(cfg, e.interferer)) {
    const ops = ops_done(m, w, cpu);
    if (stopped ? ops > e.per_cpu : ops !== e.per_cpu)
      throw new KernelBug(
        'outcome',
        `${e.name}: cpu${cpu} completed ${ops} ${e.op} operations, not ${e.per_cpu}`,
      );
  }
  const bad = m.words[w.g + WORKLOAD.bad]!;
  if (bad !== 0)
    throw new KernelBug(
      'outcome',
      `${e.name}: ${bad} ${e.bad ?? 'wrong outcomes'}, the first at 0x${(m.words[w.g + WORKLOAD.bad_at]! * PAGE_BYTES).toString(16)}`,
    );
  check_mm_caches_empty(m, sys, `after ${e.name} tore its address space down`);
}
