/*
 * The Linux oracle's driver: compiles linux.c (the runner that executes a
 * script on this machine's kernel, shared/DESIGN.md §4) on first use and
 * runs scripts with it. The binary is kept, per source text, in a cache
 * directory only this user can write (oracle_cache_dir()), never in the
 * repository nor under a name in a shared directory that another user could
 * fill first: the directory's owner and mode, and the binary's owner, mode
 * and hash (recorded beside it when it was built), are checked before every
 * run, and a binary that fails the check is rebuilt, never run.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BootParams } from '../kernel/boot.js';

/** How long one script may run (the oracle takes milliseconds). */
const TIMEOUT_MS = 20_000;

interface OracleResult {
  readonly stdout: string;
  readonly stderr: string;
  /** The exit status; 128 + the signal number if it was killed. */
  readonly status: number;
}

/**
 * Why the oracle cannot run here: not x86-64 Linux, no C compiler, an
 * unsafe cache directory, a build that failed, a binary that failed. The
 * message is one sentence naming the problem and, where there is one, the remedy.
 */
export class OracleError extends Error {}

/*
 * tsc does not copy .c files to dist/: from src/oracle/linux.ts the source
 * is beside this module, from dist/oracle/linux.js it is back in src/.
 */
function source_path(): string {
  for (const rel of ['./linux.c', '../../src/oracle/linux.c']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new OracleError(
    `the Linux oracle's source linux.c is not beside ${fileURLToPath(import.meta.url)} nor in src/oracle`,
  );
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The user this process runs as: the one who must own the directory and the binary. */
function uid(): number {
  return process.getuid!();
}

/**
 * Where the oracle is built and kept: `$XDG_CACHE_HOME/mmlab`, else
 * `~/.cache/mmlab`, else (no home) `mmlab-<uid>` in the temporary directory.
 */
export function oracle_cache_dir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  // The XDG base directory specification ignores a relative path.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'mmlab');
  let home = '';
  try {
    home = os.homedir();
  } catch {
    // No home directory (no $HOME and no passwd entry): the temporary directory's fallback.
  }
  return home ? path.join(home, '.cache', 'mmlab') : path.join(os.tmpdir(), `mmlab-${uid()}`);
}

/** The cache directory's inode, the directory made (mode 0700) if it is absent. */
function stat_or_make(dir: string): Stats {
  try {
    return lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new OracleError(`cannot use the Linux oracle's directory: ${(e as Error).message}`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new OracleError(`cannot make the Linux oracle's directory: ${(e as Error).message}`);
  }
  return lstatSync(dir);
}

/** Why no program may run from a directory of this inode, or undefined if none. */
function unsafe_dir(st: Stats): string | undefined {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isDirectory()) return 'is not a directory';
  if (st.uid !== uid()) return `is owned by uid ${st.uid}, not by this user (uid ${uid()})`;
  if ((st.mode & 0o022) !== 0)
    return `is writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); chmod 700 it`;
  return undefined;
}

/**
 * The cache directory, if no other user can put a file in it: a real
 * directory (not a symbolic link), owned by this user, writable by no
 * group nor other. Anything else is refused, whoever made it so.
 */
function private_dir(): string {
  const dir = oracle_cache_dir();
  const unsafe = unsafe_dir(stat_or_make(dir));
  if (unsafe !== undefined)
    throw new OracleError(
      `refusing to run the Linux oracle from ${dir}: it ${unsafe}, or remove it, or set XDG_CACHE_HOME to a directory of your own`,
    );
  return dir;
}

/** Whether `file` is a regular file of this user's that no group nor other can write. */
function private_file(file: string): boolean {
  try {
    const st = lstatSync(file);
    return st.isFile() && st.uid === uid() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** Whether `bin` is the binary this user built: private, and of the hash recorded beside it then. */
function verified(bin: string): boolean {
  const record = `${bin}.sha256`;
  return (
    private_file(bin) &&
    private_file(record) &&
    readFileSync(record, 'utf8') === sha256(readFileSync(bin))
  );
}

/** Compile `source` to `out` with the system's `cc`. */
function compile(source: string, out: string): void {
  const r = spawnSync('cc', ['-std=c11', '-O2', '-Wall', '-Werror', '-o', out, source], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
    throw new OracleError(
      'the Linux oracle needs a C compiler and cc is not on PATH (install one, e.g. apt-get install gcc)',
    );
  if (r.error) throw new OracleError(`cannot run cc to build the Linux oracle: ${r.error.message}`);
  if (r.status !== 0 || !existsSync(out)) {
    const said =
      r.stderr.split('\n').find((l) => /error/.test(l)) ?? r.stderr.trim().split('\n')[0];
    throw new OracleError(
      `cc cannot build the Linux oracle from ${source} (${r.status === null ? `killed by ${r.signal}` : `exit status ${r.status}`})${said ? `: ${said}` : ''}`,
    );
  }
}

/**
 * Build `bin` with its hash recorded beside it. Each is made under a name
 * of this process's own and renamed over the old one: a concurrent build
 * or run never sees half a file, and a planted file or link at either name
 * is replaced, never followed.
 */
function build(source: string, bin: string): void {
  const tmp = `${bin}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    compile(source, tmp);
    chmodSync(tmp, 0o700);
    writeFileSync(`${tmp}.sha256`, sha256(readFileSync(tmp)), { mode: 0o600 });
    renameSync(tmp, bin);
    renameSync(`${tmp}.sha256`, `${bin}.sha256`);
  } catch (e) {
    if (e instanceof OracleError) throw e;
    throw new OracleError(`cannot build the Linux oracle as ${bin}: ${(e as Error).message}`);
  } finally {
    rmSync(tmp, { force: true });
    rmSync(`${tmp}.sha256`, { force: true });
  }
}

let source: { path: string; hash: string } | undefined;

/**
 * The compiled oracle, checked (directory and binary) on every call and
 * built if this source has no binary that passes: the path to run.
 */
export function oracle_binary(): string {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new OracleError(
      `the Linux oracle runs on x86-64 Linux only, not on ${process.platform} ${process.arch}`,
    );
  if (source === undefined) {
    const p = source_path();
    source = { path: p, hash: sha256(readFileSync(p)) };
  }
  const bin = path.join(private_dir(), `linux-oracle-${source.hash.slice(0, 12)}`);
  if (!verified(bin)) build(source.path, bin);
  return bin;
}

/** Run the oracle with `args` on `input`; a timeout or a signal becomes a status and a line of stderr. */
function run_oracle(args: readonly string[], input: string): OracleResult {
  const bin = oracle_binary();
  const r = spawnSync(bin, args, {
    input,
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT')
    throw new OracleError(`cannot run the Linux oracle ${bin}: ${r.error.message}`);
  if (r.status !== null) return { stdout: r.stdout, stderr: r.stderr, status: r.status };
  const signal = r.signal ?? 'SIGKILL';
  const why = r.error ? `timed out after ${TIMEOUT_MS / 1000} s` : `killed by ${signal}`;
  return {
    stdout: r.stdout,
    stderr: `${r.stderr}linux oracle: ${why}\n`,
    status: 128 + os.constants.signals[signal],
  };
}

/**
 * Run a script on this machine's kernel; stdout is in the script language's
 * output format. A script with a pin is refused: the oracle cannot hold a
 * page pinned past a system call (io_uring's fixed buffers would).
 */
export function run_on_linux(script_text: string): OracleResult {
  const pin = script_text
    .split('\n')
    .findIndex((l) => /^\s*(?:p\d+\s+)?(?:pin|unpin)\b/.test(l.replace(/#.*/, '')));
  if (pin >= 0)
    throw new OracleError(
      `line ${pin + 1}: the Linux oracle has no pin or unpin: run pins on the model (mmlab run)`,
    );
  return run_oracle([], script_text);
}

/** The error for an oracle run that failed (`r.status` not 0) on `what`: its status and what it said. */
export function oracle_failed(what: string, r: OracleResult): OracleError {
  const said = r.stderr.trim().split('\n').join('; ');
  return new OracleError(
    `the Linux oracle failed on ${what} (status ${r.status})${said ? `: ${said}` : ''}`,
  );
}

/* The oracle's probe `flag`, which prints `yes` or `no`: whether it printed `yes`. */
function probe(flag: string, yes: string, no: string): boolean {
  const r = run_oracle([flag], '');
  if (r.status !== 0) throw oracle_failed(`its ${flag} probe`, r);
  const out = r.stdout.trim();
  if (out !== yes && out !== no)
    throw new OracleError(`the Linux oracle's ${flag} probe printed '${out}'`);
  return out === yes;
}

let boot_params: BootParams | undefined;

/**
 * The boot parameters under which the model behaves as this machine's
 * kernel, for comparing the two: whether a read fault maps the zero page
 * here (the oracle's `--zero-page` probe). Asked once.
 */
export function linux_boot_params(): BootParams {
  boot_params ??= probe('--zero-page', 'own page', 'zero page') ? { forbid_zeropage: true } : {};
  return boot_params;
}

let secretmem: boolean | undefined;

/**
 * Whether scripts' `file NAME PAGES secret` run here as on the model:
 * memfd_secret(2) available, and its locked mappings not held to
 * RLIMIT_MEMLOCK (the oracle's `--secretmem` probe). Asked once.
 */
export function linux_has_secretmem(): boolean {
  secretmem ??= probe('--secretmem', 'secretmem', 'no secretmem');
  return secretmem;
}
