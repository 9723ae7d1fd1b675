/*
 * How fast this machine runs now, by a fixed probe. Its host takes speed
 * away from it for seconds and minutes at a time, so the `js` profile's
 * constants stand for the machine at the speed it ran at while they were
 * calibrated, and a native point is compared with the model at the speed
 * it was measured at (at_host_speed()).
 *
 * The probe is the shape of the kernel's code here: generators, each
 * step an Atomics load from a SharedArrayBuffer that stays in cache, so
 * that it reads the core's speed and not the memory's. Run on the main
 * thread between native runs, while the workers wait. One probe says
 * little of the run after it (each vCPU runs at one of two speeds at a
 * time, and the probing thread need not be on the run's core), but over
 * minutes the workloads' medians follow the probes', so a point takes the
 * median of its workload's probes: the level of the minutes it ran in.
 * The measurements behind this: docs/calibration-log.md, "Host-speed probes".
 */
import type { CostProfile } from '../runtime/executors/timing_costs.js';
import type { BenchResult } from './result.js';

const PROBE_WORDS = (256 << 10) / 4;
let probe_memory = new Int32Array(new SharedArrayBuffer(0));

function* probe_load(i: number): Generator<number, number, number> {
  return yield Atomics.load(probe_memory, i);
}

function* probe_walk(from: number): Generator<number, number, number> {
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += yield* probe_load((from + i * 4099) % PROBE_WORDS);
  return sum;
}

let seed = 1;

/* Probe steps per microsecond over `ms` of this thread's time. */
function probe(ms: number): number {
  const t0 = performance.now();
  let steps = 0;
  let t = t0;
  while (t - t0 < ms) {
    for (let j = 0; j < 64; j++) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      const g = probe_walk(seed >>> 8);
      let r = g.next(0);
      while (!r.done) r = g.next(r.value);
      steps += 8;
    }
    t = performance.now();
  }
  return steps / ((t - t0) * 1e3);
}

/* A probe's length: a few percent of a 0.4 s native run. */
const PROBE_MS = 25;

/** The probe's speed now, in its steps per microsecond (its memory made and its code compiled the first time). */
export function probe_host_speed(): number {
  if (probe_memory.length === 0) {
    probe_memory = new Int32Array(new SharedArrayBuffer(PROBE_WORDS * 4));
    probe(200);
  }
  return probe(PROBE_MS);
}

/**
 * How fast the host ran `native` against the speed `profile` was
 * calibrated at; 1 where either is unknown (a profile not of this
 * machine, a point not measured natively).
 */
export function host_speed_ratio(
  native: Pick<BenchResult, 'host_speed'>,
  profile: Pick<CostProfile, 'host_speed'>,
): number {
  return native.host_speed !== undefined && profile.host_speed !== undefined
    ? native.host_speed / profile.host_speed
    : 1;
}
