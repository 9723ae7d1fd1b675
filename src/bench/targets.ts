/*
 * The performance lab's targets, in one place for the report's verdicts
 * and `npm run bench`'s. The `js` profile's predictions of native
 * throughput have none: the profile is frozen, and this machine's speed
 * moves too far from one minute to the next for a model of it to be
 * checked to a limit (docs/timing-model.md); how far they land is told,
 * not judged.
 */
import { POLICY_MMAP_LOCK } from '../kernel/mm/policy.js';

/** How far `figure` is from the `measured` figure it is set beside, as a fraction of it. */
export const deviation = (figure: number, measured: number): number =>
  (figure - measured) / measured;

/*
 * fault-vs-mprotect: a fault's p99 with the mprotect writer over its p99
 * alone. Per-VMA locks keep faults off the writer's lock; the whole
 * mmap_lock makes them wait for it. The range policy has no target.
 */
export const PER_VMA_POLICIES: readonly string[] = ['vma-rwsem', 'vma-refcnt'];
export const PER_VMA_MAX_RATIO = 1.5;
export const MMAP_LOCK_MIN_RATIO = 10;

/** Whether `policy`'s p99-over-alone `ratio` meets its target; null where it has none. */
export function alone_target_met(policy: string, ratio: number): boolean | null {
  if (PER_VMA_POLICIES.includes(policy)) return ratio <= PER_VMA_MAX_RATIO;
  if (policy === POLICY_MMAP_LOCK) return ratio >= MMAP_LOCK_MIN_RATIO;
  return null;
}
