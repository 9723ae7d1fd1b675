/*
 * The Linux oracle's driver: compiles linux.c (the runner that executes a
 * script on this machine's kernel, shared/DESIGN.md §4) on first use and
 * runs scripts with it. The binary is cached per source text in the system's
 * temporary directory, never in the repository.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BootParams } from '../kernel/boot.js';

/** How long one script may run (the oracle takes milliseconds). */
const TIMEOUT_MS = 20_000;

export interface OracleResult {
  readonly stdout: string;
  readonly stderr: string;
  /** The exit status; 128 + the signal number if it was killed. */
  readonly status: number;
}

/*
 * tsc does not copy .c files to dist/: from src/oracle/linux.ts the source
 * is beside this module, from dist/oracle/linux.js it is back in src/.
 */
function source_path(): string {
  for (const rel of ['./linux.c', '../../src/oracle/linux.c']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`linux.c not found beside ${fileURLToPath(import.meta.url)} nor in src/oracle`);
}

let binary: string | undefined;

/** The compiled oracle, built with the system's `cc` if this source has not been built yet. */
export function oracle_binary(): string {
  if (binary !== undefined) return binary;
  const source = source_path();
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex');
  const dir = path.join(os.tmpdir(), `mmlab-oracle-${hash.slice(0, 12)}`);
  const target = path.join(dir, 'linux-oracle');
  if (!existsSync(target)) {
    mkdirSync(dir, { recursive: true });
    // Compile under a name of our own and rename: a concurrent build never sees half a binary.
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      execFileSync('cc', ['-std=c11', '-O2', '-Wall', '-Werror', '-o', tmp, source], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      renameSync(tmp, target);
    } catch (e) {
      rmSync(tmp, { force: true });
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(
        `cannot compile the Linux oracle (${source})${stderr ? `:\n${stderr}` : `: ${String(e)}`}`,
      );
    }
  }
  binary = target;
  return target;
}

/** Run a script on this machine's kernel; stdout is in the script language's output format. */
export function run_on_linux(script_text: string): OracleResult {
  const r = spawnSync(oracle_binary(), [], {
    input: script_text,
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  if (r.status !== null) return { stdout: r.stdout, stderr: r.stderr, status: r.status };
  const signal = r.signal ?? 'SIGKILL';
  const why = r.error ? `timed out after ${TIMEOUT_MS / 1000} s` : `killed by ${signal}`;
  return {
    stdout: r.stdout,
    stderr: `${r.stderr}linux oracle: ${why}\n`,
    status: 128 + os.constants.signals[signal],
  };
}

let boot_params: BootParams | undefined;

/**
 * The boot parameters under which the model behaves as this machine's
 * kernel, for comparing the two: whether a read fault maps the zero page
 * here (the oracle's `--zero-page` probe). Asked once.
 */
export function linux_boot_params(): BootParams {
  if (boot_params !== undefined) return boot_params;
  const out = execFileSync(oracle_binary(), ['--zero-page'], {
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
  }).trim();
  if (out !== 'zero page' && out !== 'own page')
    throw new Error(`the Linux oracle's --zero-page probe printed '${out}'`);
  boot_params = out === 'own page' ? { forbid_zeropage: true } : {};
  return boot_params;
}
