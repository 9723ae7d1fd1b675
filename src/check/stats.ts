/*
 * Statistics over repeated runs, shared by the catalogue (check), the
 * benchmarks (bench) and the report: here, the lowest layer that uses them.
 */

/** The median of repeated measurements (of an even count, the mean of the middle two). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
