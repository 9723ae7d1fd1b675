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

/*
 * Why a file could not be read or written, as a user reads it: "no such
 * file or directory (ENOENT)", not Node's message with the syscall and
 * the path of a temporary file in it.
 */
export function fs_why(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const text = /^E[A-Z]+: ([^,]+)/.exec(err.message)?.[1];
  return text && err.code ? `${text} (${err.code})` : (err.code ?? err.message);
}

export const EXIT_OK = 0;
export const EXIT_BUG = 1;
export const EXIT_USAGE = 2;

/** An option parser for an integer in [min, max]. */
export function int_arg(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^\d+$/.test(v))
      throw new InvalidArgumentError(`${name} must be a whole number, not '${v}'`);
    const n = Number(v);
    if (n < min || n > max)
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `${name} must be at least ${min}, not ${v}`
          : `${name} must be between ${min} and ${max}, not ${v}`,
      );
    return n;
  };
}

/** The longest word of input an error line echoes whole; a longer one is cut. */
const ECHO_WORD_CHARS = 200;
/** The longest error line. */
const ECHO_LINE_CHARS = 1000;

/**
 * `s` as one line of stderr: control characters (a newline in a file
 * name, NUL bytes) escaped, and a long run of echoed input cut to its
 * start, so that whatever a user fed in, an error stays one readable line.
 */
export function one_line(s: string): string {
  const cut = s.replace(
    new RegExp(`\\S{${ECHO_WORD_CHARS + 1},}`, 'g'),
    (w) => `${w.slice(0, ECHO_WORD_CHARS)}...(${w.length} characters)`,
  );
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping them is the point
  const escaped = cut.replace(/[\x00-\x1f\x7f]/g, (c) =>
    c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return escaped.length > ECHO_LINE_CHARS ? `${escaped.slice(0, ECHO_LINE_CHARS)}...` : escaped;
}
