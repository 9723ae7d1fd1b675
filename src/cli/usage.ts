/*
 * Bad usage: what every command reports the same way, one line on stderr
 * naming the problem and exit status 2.
 */
import { InvalidArgumentError } from 'commander';

/** A bad command line or bad input: one line on stderr, exit status 2. */
export class UsageError extends Error {}

/** f(), with any error it throws turned into bad usage (same message). */
export function as_usage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export const EXIT_OK = 0;
export const EXIT_BUG = 1;
export const EXIT_USAGE = 2;

/** An option parser for an integer in [min, max]. */
export function int_arg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer, not '${v}'`);
    const n = Number(v);
    if (n < min || n > max)
      throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, not ${v}`);
    return n;
  };
}
