/*
 * Cost profiles of the timing executor: what each kind of step costs in
 * simulated nanoseconds. Two machines are modelled:
 *
 *  hw	what the modelled kernel code would cost as kernel code on a current
 *	x86 server, from published measurements (each constant cites one);
 *  js	what mmlab's own generator code costs running natively on this
 *	machine (worker_threads over a SharedArrayBuffer), measured by
 *	src/bench/calibrate.ts, so that a timing run on 1 or 2 CPUs can be
 *	checked against a native run of the same workload.
 *
 * A step costs step_ns, plus what its access adds: a miss, an RMW, a
 * wait for a busy line, words of a bulk copy, an allocation. See
 * timing.ts for which op pays what and cache_model.ts for the lines.
 */

import { NR_UNMODELLED, Unmodelled } from '../ops.js';
import { JS_STEP_WEIGHTS } from './timing_weights.js';

/** The constants of a profile, in the order the report lists them. */
export const COST_NAMES = [
  // Code between two accesses plus the access itself when it hits in the CPU's own cache.
  'step_ns',
  // A line another CPU holds modified (or must invalidate) moves here.
  'line_transfer_ns',
  // First touch of a line no cache holds.
  'memory_ns',
  // Extra for an atomic read-modify-write (cmpxchg, xchg, fetch_*), serialised per line.
  'rmw_ns',
  // Extra per further sharer a write must invalidate, beyond the first transfer.
  'invalidate_ns',
  // Per word of MEMSET/MEMCPY/MEMCHR_INV (clear_page, copy_page, a scan) and of a zeroing allocation.
  'word_ns',
  // A slab alloc or free (the ALLOC and FREE ops).
  'alloc_ns',
  // Futex wake to the woken CPU running again.
  'wake_ns',
  // A lockdep annotation (lock_acquire, lock_release, lockdep_assert_held).
  'annotation_ns',
  // The waker's side of a wake-up that wakes someone (try_to_wake_up, the IPI).
  'waker_ns',
  // Extra per step where the CPUs leave the machine no spare core (CostProfile.cores).
  'crowded_ns',
  // A benchmark operation's bookkeeping as it ends: reading its clock twice, recording its latency.
  'op_ns',
  // What the model has no steps for (k.unmodelled()), by Unmodelled code:
  // a page fault's exception entry and exit,
  'fault_entry_ns',
  // a system call's entry and exit,
  'syscall_ns',
  // a new user page's bookkeeping the model has no steps for (memcg charge, LRU insertion).
  'new_page_ns',
] as const;
type CostName = (typeof COST_NAMES)[number];

/** One constant: its value and where the value comes from. */
export interface Cost {
  readonly value_ns: number;
  readonly source: string;
}

export type ProfileName = 'js' | 'hw';

/** A profile as the executor reads it: one number a constant, and their sources. */
export type CostProfile = Readonly<Record<CostName, number>> & {
  readonly name: ProfileName;
  readonly sources: Readonly<Record<CostName, string>>;
  /**
   * The cores of the machine the profile describes, where it has fewer
   * than a run can have CPUs: from this many CPUs up, every step pays
   * crowded_ns. Absent: a core for every CPU.
   */
  readonly cores?: number;
  /**
   * A step's cost by the kernel function whose frame makes it (the
   * function called with call(), which runs its plain `yield*` callees
   * inside it), as a multiple of step_ns; a function not listed, 1.
   * Absent: every step costs step_ns.
   */
  readonly step_weights?: Readonly<Record<string, number>>;
  /**
   * Whether allocations, frees and rss counters are priced as the kernel's
   * per-CPU structures in front of its shared lists (timing_percpu.ts)
   * make them cost. Absent: alloc_ns each and no line, as mmlab's own heap
   * (one word lock a cache) costs natively, what the js profile's fitted
   * alloc_ns carries.
   */
  readonly percpu_lists?: boolean;
  /**
   * How fast the machine ran while the profile was calibrated, in the
   * host-speed probe's steps per microsecond (src/bench/host_speed.ts):
   * the speed its constants stand for. A native point measured at another
   * speed is compared with the model scaled to it. Absent: the profile is
   * not this machine's (hw).
   */
  readonly host_speed?: number;
};

/** Whether a run of `cpus` CPUs leaves `p`'s machine no spare core. */
export function crowded(p: CostProfile, cpus: number): boolean {
  return p.cores !== undefined && cpus >= p.cores;
}

/* What a profile of this machine adds to its constants. */
interface MachineOf {
  readonly cores: number;
  readonly step_weights: Readonly<Record<string, number>>;
  readonly host_speed: number;
}

function profile(
  name: ProfileName,
  costs: Readonly<Record<CostName, Cost>>,
  machine?: MachineOf,
  percpu_lists?: true,
): CostProfile {
  const values = {} as Record<CostName, number>;
  const sources = {} as Record<CostName, string>;
  for (const c of COST_NAMES) {
    const { value_ns, source } = costs[c];
    if (!(Number.isFinite(value_ns) && value_ns >= 0))
      throw new Error(`cost profile ${name}: ${c} = ${value_ns} is not a time`);
    values[c] = value_ns;
    sources[c] = source;
  }
  if (machine && !(Number.isFinite(machine.host_speed) && machine.host_speed > 0))
    throw new Error(`cost profile ${name}: host_speed = ${machine.host_speed} is not a speed`);
  for (const [fn, w] of Object.entries(machine?.step_weights ?? {}))
    if (!(Number.isFinite(w) && w > 0))
      throw new Error(
        `cost profile ${name}: the step weight of ${fn} = ${w} is not a positive factor`,
      );
  return {
    name,
    ...values,
    sources,
    ...machine,
    ...(percpu_lists ? { percpu_lists } : {}),
  };
}

/** What each Unmodelled work costs under `p`, indexed by its code. */
export function unmodelled_costs_ns(p: CostProfile): Float64Array {
  const costs = new Float64Array(NR_UNMODELLED);
  costs[Unmodelled.FAULT_ENTRY] = p.fault_entry_ns;
  costs[Unmodelled.SYSCALL_ENTRY] = p.syscall_ns;
  costs[Unmodelled.NEW_PAGE] = p.new_page_ns;
  // add_mm_counter() costs what its per-CPU counter makes it (percpu_lists), else nothing.
  costs[Unmodelled.MM_COUNTER] = 0;
  return costs;
}

/** A profile's constants with their sources, for the report's table. */
export function profile_constants(
  p: CostProfile,
): { name: CostName; value_ns: number; source: string }[] {
  return COST_NAMES.map((c) => ({ name: c, value_ns: p[c], source: p.sources[c] }));
}

/*
 * A current x86 server core at about 4 GHz, one socket. Where sources
 * give a range, the value is a round figure inside it.
 */
const HW_COSTS: Readonly<Record<CostName, Cost>> = {
  step_ns: {
    value_ns: 3,
    source:
      'One modelled access stands for the access (an L1 hit: 4-5 cycles load-to-use, Intel 64 and IA-32 Architectures Optimization Reference Manual) plus the kernel code between two shared accesses (address arithmetic, branches, locals: about 5-15 instructions at 1-2 IPC); about 12 cycles at 4 GHz in all.',
  },
  line_transfer_ns: {
    value_ns: 60,
    source:
      'A load or atomic on a line modified in another core\'s cache, same socket: 40-100 ns (David, Guerraoui, Trigonakis, "Everything You Always Wanted to Know About Synchronization but Were Afraid to Ask", SOSP 2013; Schweizer, Besta, Hoefler, "Evaluating the Cost of Atomic Operations on Modern Architectures", PACT 2015).',
  },
  memory_ns: {
    value_ns: 90,
    source:
      "Idle DRAM load latency of a current server part, 80-100 ns (Intel Memory Latency Checker; the same two papers measure their machines' memory in that range).",
  },
  rmw_ns: {
    value_ns: 5,
    source:
      'A locked ADD/XADD/XCHG/CMPXCHG on an owned line: about 18-20 cycles of latency on recent Intel cores (Agner Fog, "Instruction tables", Skylake): about 5 ns at 4 GHz.',
  },
  invalidate_ns: {
    value_ns: 10,
    source:
      'A store to a line shared by more caches waits for more invalidation acks; its latency grows with the sharers (David et al., SOSP 2013, stores and CAS on shared lines). The invalidations go out in parallel, so each further sharer adds far less than a transfer: an estimate of a sixth of one.',
  },
  word_ns: {
    value_ns: 0.25,
    source:
      'clear_page()/copy_page() of 4 KiB with REP STOSB/MOVSB at about 16 GB/s (Intel Optimization Reference Manual, "Enhanced REP MOVSB and STOSB operation"): 256 ns a page, 0.25 ns a 32-bit word.',
  },
  alloc_ns: {
    value_ns: 5,
    source:
      'SLUB\'s fast path: kmem_cache_alloc + kmem_cache_free measured at 42 cycles, 10.5 ns, on an i7-4790K at 4 GHz (J. D. Brouer, commit "slub bulk alloc: extract objects from the per cpu slab", v4.4): about 5 ns each.',
  },
  wake_ns: {
    value_ns: 3000,
    source:
      "futex wake to the woken thread running on another, idle CPU: a wake-up IPI, exit from a shallow idle state and a context switch, a few microseconds (lmbench lat_ctx measures 1-3 us for the switch alone; schbench's median wake-up latency on an idle machine is of the same order).",
  },
  annotation_ns: {
    value_ns: 0,
    source:
      'Lockdep annotations compile to nothing without CONFIG_LOCKDEP, which production kernels and the published figures above leave off.',
  },
  crowded_ns: {
    value_ns: 0,
    source:
      'Nothing: a kernel runs no threads of its own runtime beside its CPUs, and the modelled machine has a core for every CPU.',
  },
  op_ns: {
    value_ns: 0,
    source:
      "Nothing: will-it-scale's and mmtests' loops count operations and read the clock once a second, not around each operation; what the kernel does is what the curves compare.",
  },
  waker_ns: {
    value_ns: 500,
    source:
      "An estimate: a remote try_to_wake_up() takes the wakee's runqueue lock (or queues it on the wake list) and sends a reschedule IPI, an x2APIC ICR write of a few hundred cycles; a few hundred ns in all, below the microseconds the wakee waits (wake_ns).",
  },
  fault_entry_ns: {
    value_ns: 180,
    source:
      'A page fault\'s ring crossings, measured in entry_64.S on bare metal: about 440 cycles from user to kernel and 270 back, 710 in all (Yizhou Shan, "x86 Ring Switch Overhead (Page Fault version)", lastweek.io/notes/xperf, 2019, Xeon E5 v3): about 180 ns at 4 GHz.',
  },
  syscall_ns: {
    value_ns: 100,
    source:
      'A null system call round trip (getuid() in a loop): 0.11 us (answer to "What is the overhead involved in a mode switch", Stack Overflow question 1860253); of the order of Shan\'s ring crossings for a fault above (fault_entry_ns). A weak source, and an estimate: 100 ns.',
  },
  new_page_ns: {
    value_ns: 1175,
    source:
      "The one scale point of the profile, not a measurement: what a new user page's work that the model has no steps for costs (mem_cgroup_charge(), folio_add_lru(); its per-CPU page list, rss and vmstat counters are modelled, timing_percpu.ts), set so that pft's fault on one CPU costs what the published one does: 1/507,926 s = 1,969 ns under the per-VMA rw_semaphore (mmtests pft, cover letter of \"mm: replace vm_lock and detached flag with a reference count\", 2025), less the 615 ns the model's steps for that fault cost (its share of the per-CPU page list's refills from the zone included) and fault_entry_ns (180 ns). Its shape at more CPUs follows from the other constants alone.",
  },
};
const HW = profile('hw', HW_COSTS, undefined, true);

/*
 * This machine running mmlab natively (Node 20, worker_threads, Atomics on
 * one SharedArrayBuffer), as src/bench/calibrate.ts measured it; `npm run
 * bench` measures it again and prints how far today's machine is from
 * these figures.
 */
const calibrated = (value_ns: number, how: string): Cost => ({
  value_ns,
  source: `${how} (src/bench/calibrate.ts on this machine, 2 AMD EPYC CPUs, Node 20, 2026-11-22)`,
});
/* Work a native run does not do either, so that its model must not charge it. */
const not_run_natively = (why: string): Cost => ({ value_ns: 0, source: `Nothing: ${why}.` });
const JS_CALIBRATION: Readonly<Record<CostName, Cost>> = {
  step_ns: calibrated(
    185.2,
    "fitted: every workload and policy run natively (node --single-threaded-gc) on 1 and 2 CPUs in three sweeps (warm workers; a workload's points in rounds, a point the median of its three runs, scaled to the host speed of the calibration (host_speed), then the median of the sweeps) against the model, least squares on the ratio, linearised anew from each fit, the round of least error kept; not below a bare generator step (55 ns). The mean step: each kernel function's steps cost this times its weight (timing_weights.ts), measured natively before the fit",
  ),
  line_transfer_ns: calibrated(87.0, 'half a round trip of a word two worker threads spin on'),
  memory_ns: calibrated(
    3.05,
    'a write to each 64-byte line of a faulted-in 64 MiB SharedArrayBuffer after 64 MiB more written to evict it, line after line (prefetched)',
  ),
  rmw_ns: calibrated(18.5, 'Atomics.compareExchange less Atomics.load on one word, one thread'),
  invalidate_ns: {
    value_ns: HW_COSTS.invalidate_ns.value_ns,
    source: `Not measurable here: a write to a line shared by more than one other CPU needs three cores. The hw figure: ${HW_COSTS.invalidate_ns.source}`,
  },
  word_ns: calibrated(0.57, 'Int32Array.fill of 4 KiB pages over a 64 MiB SharedArrayBuffer'),
  alloc_ns: calibrated(896, 'fitted with step_ns'),
  wake_ns: calibrated(
    41637,
    'half a round trip through Atomics.wait/notify between two workers, less line_transfer_ns',
  ),
  waker_ns: calibrated(
    21073,
    'fitted with step_ns. Somewhat above what an Atomics.notify of a sleeping worker takes here (11-16 us, a ping-pong of two workers); the fits before step weights put 29-35 us here, carrying what a uniform step cost left out of mmap-churn, which wakes the grace-period kthread on every munmap',
  ),
  crowded_ns: calibrated(
    30.5,
    "fitted with step_ns, from the 2-CPU points, the only ones where this machine's 2 cores are all taken (`cores`): a sixth of a mean step. The fit before step weights put 0 here; those before native runs took --single-threaded-gc, 14-67 ns, when V8's garbage-collector threads took a tenth of the machine on 2 CPUs (page-fault3 under mmap-lock, per-thread CPU time in /proc/self/task)",
  ),
  op_ns: calibrated(
    340,
    "OpRecorder's op_begin() and op_end() on a worker's performance.now() clock, as the native executor installs it: two clock reads and an HDR histogram record",
  ),
  annotation_ns: calibrated(
    0,
    'fitted with step_ns: the fit finds the annotations free, the step before or after them paying for their round trip',
  ),
  fault_entry_ns: not_run_natively('a fault here is a generator call: no exception is taken'),
  syscall_ns: not_run_natively('a system call here is a generator call: no mode switch'),
  new_page_ns: not_run_natively(
    'a new page here is two slab objects: there is no page allocator, memcg or LRU to pay for',
  ),
};
const JS = profile('js', JS_CALIBRATION, {
  cores: 2,
  step_weights: JS_STEP_WEIGHTS,
  // The host-speed probe's median through the calibration's native sweeps.
  host_speed: 7.746,
});

export const PROFILES: Readonly<Record<ProfileName, CostProfile>> = { js: JS, hw: HW };

/** The profile named `name` (--profile); throws a usage Error for any other name. */
export function find_profile(name: string): CostProfile {
  if (name === 'js' || name === 'hw') return PROFILES[name];
  throw new Error(`unknown cost profile '${name}' (known: js, hw)`);
}
