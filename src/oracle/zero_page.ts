/*
 * How `mmlab run` boots the model for a script (--zero-page), and the run:
 * the model as mainline x86-64, as a kernel under mm_forbids_zeropage(),
 * or as this machine's kernel, which the Linux oracle's probe tells.
 */
import type { BootParams } from '../kernel/boot.js';
import { KernelBug } from '../runtime/ops.js';
import type { Script } from '../script/ast.js';
import { type ModelRun, run_model } from '../script/run_model.js';
import { linux_boot_params } from './linux.js';

/** --zero-page: whether a read fault of private anonymous memory may map the shared zero page. */
export const ZERO_PAGE_MODES = ['on', 'off', 'auto'] as const;
export type ZeroPageMode = (typeof ZERO_PAGE_MODES)[number];

interface ZeroPageBoot {
  readonly params: BootParams;
  /** Which the model does: what `auto` found, or what was asked. */
  readonly used: 'on' | 'off';
  /** One line saying which, and why. */
  readonly note: string;
}

/**
 * The boot parameters `mode` asks for, and the line that says which were
 * used: on is mainline x86-64, off is mm_forbids_zeropage(), auto is
 * whichever this machine's kernel does (the Linux oracle's probe, which
 * throws an OracleError where the oracle cannot run).
 */
export function zero_page_boot(mode: ZeroPageMode): ZeroPageBoot {
  const params: BootParams =
    mode === 'auto' ? linux_boot_params() : mode === 'off' ? { forbid_zeropage: true } : {};
  const used = params.forbid_zeropage ? 'off' : 'on';
  const why =
    mode === 'auto'
      ? `auto: this machine's kernel ${used === 'on' ? 'maps the shared zero page' : 'gives a page of its own'} on a read fault`
      : used === 'on'
        ? 'a read fault maps the shared zero page, as mainline x86-64'
        : 'a read fault gets a page of its own, as under mm_forbids_zeropage()';
  return { params, used, note: `zero page: ${used} (${why})` };
}

/**
 * `script` on the model booted as `boot` says, under `policy`: its run, or
 * the kernel bug it hit. A ScriptError (a script the model refuses) is
 * thrown on.
 */
export function run_script(
  script: Script,
  policy: string,
  boot: ZeroPageBoot,
): ModelRun | KernelBug {
  try {
    return run_model(script, policy, boot.params);
  } catch (e) {
    if (!(e instanceof KernelBug)) throw e;
    return e;
  }
}
