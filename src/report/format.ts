/*
 * Numbers as a reader of the report reads them.
 */

/** Three significant digits with an SI prefix: 12.3 M, 456 k, 78.9. */
export function fmt_si(x: number): string {
  if (!Number.isFinite(x)) return '—';
  for (const [div, unit] of [
    [1e12, ' T'],
    [1e9, ' G'],
    [1e6, ' M'],
    [1e3, ' k'],
  ] as const)
    if (Math.abs(x) >= div) return `${(x / div).toPrecision(3)}${unit}`;
  // Trailing zeros only after a decimal point: 100 stays 100, 1.50 is 1.5.
  return String(Number(x.toPrecision(3)));
}

/** `n` and `what`, plural unless `n` is 1: "1 preemption", "2 parts". */
export function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

export function fmt_num(x: number): string {
  return Number.isInteger(x) ? x.toLocaleString('en-US') : String(Number(x.toPrecision(3)));
}

/** 850 ns, 12.3 µs, 4.10 ms, 1.20 s. */
export function fmt_ns(ns: number): string {
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

export function fmt_ms(ms: number): string {
  return fmt_ns(ms * 1e6);
}

/** A ratio: 8.1×, 37×. */
export function fmt_ratio(r: number): string {
  if (!Number.isFinite(r)) return '—×';
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

export function fmt_pct(f: number): string {
  const p = f * 100;
  return `${Math.abs(p) >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

/*
 * A share of a whole, to a tenth of a percent: 0% and 100% only when
 * exactly none or all, so that a few faults taking the mmap_lock still
 * show (99.6% is not told as 100%).
 */
export function fmt_share(f: number): string {
  if (f <= 0) return '0%';
  if (f >= 1) return '100%';
  const p = f * 100;
  if (p < 0.05) return '<0.1%';
  if (p >= 99.95) return '>99.9%';
  return `${p.toFixed(1)}%`;
}

export function fmt_signed_pct(f: number): string {
  return `${f >= 0 ? '+' : '−'}${fmt_pct(Math.abs(f))}`;
}

export function cpus_text(n: number): string {
  return n === 1 ? '1 CPU' : `${n} CPUs`;
}

export function count_word(n: number): string {
  return ['zero', 'one', 'two', 'three', 'four', 'five', 'six'][n] ?? String(n);
}
