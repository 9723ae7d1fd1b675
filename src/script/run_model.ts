/*
 * Run a script on mmlab's model: the explore executor with one CPU (and
 * the RCU grace-period kthread), so the sequential run is the very kernel
 * the concurrent designs run, not a second implementation. The CPU plays
 * user space: it calls the system calls of each script process (an mm of
 * its own) in script order, and user reads and writes go through the
 * MMU walk and the fault path.
 */
import { Explorer } from '../check/explorer.js';
import { hex32 } from '../check/replay.js';
import { Sequential } from '../check/strategy.js';
import { user_access } from '../kernel/arch/fault.js';
import type { BootParams } from '../kernel/boot.js';
import { dup_mmap } from '../kernel/fork.js';
import { check_mm_caches_empty } from '../kernel/mm/debug.js';
import { file_alloc, fput } from '../kernel/mm/filemap.js';
import { mt_entries } from '../kernel/mm/maple_tree.js';
import {
  FILE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MM_STRUCT,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_AREA_STRUCT as V,
  VM_EXEC,
  VM_MAYSHARE,
  VM_READ,
  VM_WRITE,
} from '../kernel/mm/mm_types.js';
import { do_munmap, mm_alloc, mmput } from '../kernel/mm/mmap.js';
import { mmap_read_lock, mmap_read_unlock } from '../kernel/mm/mmap_lock.js';
import { DEFAULT_POLICY } from '../kernel/mm/policy.js';
import {
  PAGE_BYTES,
  sys_brk,
  sys_madvise_dontneed,
  sys_mmap,
  sys_mprotect,
  sys_mremap,
  sys_munmap,
} from '../kernel/mm/syscalls.js';
import { RCU_GP_KTHREAD } from '../kernel/rcu/tree.js';
import { vm_events_sum } from '../kernel/sched.js';
import type { KernelMemory } from '../runtime/memory.js';
import { call, type KernelContext, type KGen } from '../runtime/ops.js';
import type { RunConfig, Scenario } from '../runtime/scenario.js';
import {
  HEAP_START,
  is_outside,
  type Prot,
  type Script,
  ScriptError,
  WINDOW_BYTES,
} from './ast.js';
import { errno_name } from './errno.js';
import { hex } from './print.js';

/*
 * Where the model puts the window: at 2 TiB, with 2 TiB free below it as
 * the oracle has, and page numbers that still fit a word. The window's top
 * is the top of the mmap area; the address space ends at 4 TiB.
 */
const WINDOW_BASE_PAGE = 1 << 29;
const WINDOW_BASE = WINDOW_BASE_PAGE * PAGE_BYTES;
const TOP_PAGE = WINDOW_BASE_PAGE + WINDOW_BYTES / PAGE_BYTES;
const TASK_SIZE_PAGES = 1 << 30;

/** One VMA as /proc/PID/maps shows it, window-relative. */
interface MapsLine {
  readonly start: number;
  readonly end: number;
  readonly perm: string;
  readonly offset: number;
  readonly name: string;
}

export interface ModelRun {
  /** One result line per command. */
  readonly results: readonly string[];
  /** Each live process's VMAs in the window, by increasing pid. */
  readonly maps: readonly { readonly pid: number; readonly vmas: readonly MapsLine[] }[];
  /** Steps the model took. */
  readonly steps: number;
  /** The per-VMA lock's vm event counters over the run. */
  readonly counters: Readonly<Record<string, number>>;
}

function prot_bits(p: Prot): number {
  return (p.read ? PROT_READ : 0) | (p.write ? PROT_WRITE : 0) | (p.exec ? PROT_EXEC : 0);
}

/*
 * One booted machine serves every script: the explore executor resets its
 * memory to the post-boot snapshot before each run, so `mmlab diff` does
 * not boot 2000 kernels.
 */
interface ScriptMachine {
  explorer: Explorer;
  input: { script: Script; results: string[]; maps: { pid: number; vmas: MapsLine[] }[] };
}
const machines = new Map<string, ScriptMachine>();

function script_machine(policy: string, params: BootParams): ScriptMachine {
  const key = `${policy} ${JSON.stringify(params)}`;
  const known = machines.get(key);
  if (known) return known;
  const input = {
    script: { lines: [], files: [] } as Script,
    results: [] as string[],
    maps: [] as { pid: number; vmas: MapsLine[] }[],
  };
  const scenario: Scenario<null> = {
    name: 'script',
    description: 'a script, one system call after another',
    module: import.meta.url,
    variants: [],
    default_cpus: 1,
    max_cpus: 1,
    params: {},
    memory_words: SCRIPT_MEMORY_WORDS,
    kthreads: [RCU_GP_KTHREAD],
    boot: params,
    setup: () => null,
    cpu: (k) => user_space(k, explorer.exec.m, input.script, input.results, input.maps),
    check: (m, sys) => check_mm_caches_empty(m, sys, 'after every process exited'),
  };
  const explorer = new Explorer(
    scenario,
    { cpus: 1, policy, variant: '', params: {} } satisfies RunConfig,
    // One CPU, and a kthread the sequential strategy runs whenever it is
    // woken: nothing is concurrent, so the data-race detector would only cost time.
    { max_steps: Number.MAX_SAFE_INTEGER, kcsan: false },
  );
  const machine = { explorer, input };
  machines.set(key, machine);
  return machine;
}

/**
 * Run `script` on the model, booted with `params` (a mainline kernel's by
 * default). Throws a KernelBug if the model breaks an invariant.
 */
export function run_model(
  script: Script,
  policy: string = DEFAULT_POLICY,
  params: BootParams = {},
): ModelRun {
  const { explorer, input } = script_machine(policy, params);
  input.script = script;
  input.results = [];
  input.maps = [];
  const strategy = new Sequential();
  strategy.begin(0);
  const out = explorer.exec.run(strategy);
  if (out.bug) throw out.bug;
  const counters = vm_events_sum(explorer.exec.m.words, explorer.exec.sys.tasks);
  return { results: input.results, maps: input.maps, steps: out.steps, counters };
}

/*
 * The script machine's kernel memory: 64 MiB, room for some 15,000
 * populated pages with their page tables and VMAs (the 10,000-command
 * benchmark script needs about half of it).
 */
const SCRIPT_MEMORY_WORDS = 1 << 24;

/*
 * The model's kernel memory is finite where the oracle's is not: a command
 * that found it full (an allocation failed) ran differently from Linux, and
 * so would every command after it. The run stops there, naming the line.
 */
function check_memory(m: KernelMemory, line: number): void {
  if (m.exhausted)
    throw new ScriptError(
      line,
      `the script needs more than the model's ${m.size >> 18} MiB of kernel memory; Linux would not have failed here`,
    );
}

/*
 * An object that the command on `line` could not do without (a file, a
 * fork child's mm): when its allocation failed because the model's memory
 * is full, check_memory() says so at that line; any other failure is a bug.
 */
function allocated(
  k: KernelContext,
  m: KernelMemory,
  line: number,
  obj: number,
  what: string,
): number {
  if (obj === 0) check_memory(m, line);
  k.BUG_ON(obj === 0, what);
  return obj;
}

function* user_space(
  k: KernelContext,
  m: KernelMemory,
  script: Script,
  results: string[],
  maps: { pid: number; vmas: MapsLine[] }[],
): KGen {
  const mms = new Map<number, number>();
  const files = new Map<string, { file: number; k: number }>();
  let next_pid = 1;
  // Page tables for the GiB below the window too: a move placed there (OUTSIDE) moves its pages first.
  const p0 = yield* call(
    mm_alloc(k, TOP_PAGE, TASK_SIZE_PAGES, WINDOW_BASE_PAGE - WINDOW_BYTES / PAGE_BYTES),
  );
  k.BUG_ON(p0 === 0, 'mm_alloc for p0');
  // The heap as exec would have placed it; its pages are mapped by brk alone.
  yield k.store(p0 + MM_STRUCT.brk_start, WINDOW_BASE_PAGE + HEAP_START / PAGE_BYTES);
  yield k.store(p0 + MM_STRUCT.brk, WINDOW_BASE_PAGE + HEAP_START / PAGE_BYTES);
  mms.set(0, p0);
  // The line of the command run last: where memory ran out, if it did.
  let ran = 0;
  for (const { line, pid, cmd } of script.lines) {
    check_memory(m, ran);
    ran = line;
    const mm = mms.get(pid)!;
    if (is_outside(cmd)) {
      results.push('OUTSIDE');
      continue;
    }
    switch (cmd.op) {
      case 'file': {
        const id = files.size + 1;
        const f = yield* file_alloc(k, id, cmd.pages, false);
        files.set(cmd.name, { file: allocated(k, m, line, f, 'file_alloc'), k: id });
        results.push('ok');
        break;
      }
      case 'mmap': {
        const flags =
          (cmd.shared ? MAP_SHARED : MAP_PRIVATE) |
          (cmd.file === null ? MAP_ANONYMOUS : 0) |
          (cmd.fixed ? MAP_FIXED : 0) |
          (cmd.noreplace ? MAP_FIXED_NOREPLACE : 0) |
          (cmd.populate ? MAP_POPULATE : 0) |
          (cmd.growsdown ? MAP_GROWSDOWN : 0);
        const file = cmd.file === null ? 0 : files.get(cmd.file)!.file;
        const addr = cmd.addr === null ? 0 : WINDOW_BASE + cmd.addr;
        const len = cmd.pages * PAGE_BYTES;
        const ret = yield* call(
          sys_mmap(k, mm, addr, len, prot_bits(cmd.prot), flags, file, cmd.off * PAGE_BYTES),
        );
        results.push(yield* call(placed(k, mm, ret, len)));
        break;
      }
      case 'munmap':
        results.push(
          status(yield* call(sys_munmap(k, mm, WINDOW_BASE + cmd.addr, cmd.pages * PAGE_BYTES))),
        );
        break;
      case 'mprotect':
        results.push(
          status(
            yield* call(
              sys_mprotect(
                k,
                mm,
                WINDOW_BASE + cmd.addr,
                cmd.pages * PAGE_BYTES,
                prot_bits(cmd.prot),
              ),
            ),
          ),
        );
        break;
      case 'madvise':
        results.push(
          status(
            yield* call(
              sys_madvise_dontneed(k, mm, WINDOW_BASE + cmd.addr, cmd.pages * PAGE_BYTES),
            ),
          ),
        );
        break;
      case 'mremap': {
        const flags =
          (cmd.maymove ? MREMAP_MAYMOVE : 0) |
          (cmd.dontunmap ? MREMAP_DONTUNMAP : 0) |
          (cmd.fixed !== null ? MREMAP_FIXED : 0);
        const target = cmd.fixed === null ? 0 : WINDOW_BASE + cmd.fixed;
        const len = cmd.new_pages * PAGE_BYTES;
        const ret = yield* call(
          sys_mremap(k, mm, WINDOW_BASE + cmd.addr, cmd.old_pages * PAGE_BYTES, len, flags, target),
        );
        results.push(yield* call(placed(k, mm, ret, len)));
        break;
      }
      case 'brk':
        results.push(hex((yield* call(sys_brk(k, mm, WINDOW_BASE + cmd.addr))) - WINDOW_BASE));
        break;
      case 'write': {
        const r = yield* call(user_access(k, mm, WINDOW_BASE + cmd.addr, true, cmd.value));
        results.push(r < 0 ? signal_name(-r) : 'ok');
        break;
      }
      case 'read': {
        const r = yield* call(user_access(k, mm, WINDOW_BASE + cmd.addr, false, 0));
        results.push(r < 0 ? signal_name(-r) : `= 0x${r.toString(16).padStart(8, '0')}`);
        break;
      }
      case 'fork': {
        const child = yield* call(dup_mmap(k, mm));
        mms.set(next_pid++, allocated(k, m, line, child, 'fork: dup_mmap failed'));
        results.push('ok');
        break;
      }
      case 'exit':
        yield* call(mmput(k, mm));
        mms.delete(pid);
        results.push('ok');
        break;
    }
  }
  check_memory(m, ran);
  for (const pid of [...mms.keys()].sort((a, b) => a - b))
    maps.push({ pid, vmas: yield* call(proc_maps(k, mms.get(pid)!, files)) });
  for (const mm of mms.values()) yield* call(mmput(k, mm));
  for (const { file } of files.values()) yield* call(fput(k, file));
}

/*
 * A mapping placed below the window (the model's address space is free
 * there, as the oracle's is) prints OUTSIDE and is not kept.
 */
function* placed(k: KernelContext, mm: number, ret: number, len: number): KGen<string> {
  if (ret < 0) return errno_name(-ret);
  if (ret < WINDOW_BASE || ret + len > WINDOW_BASE + WINDOW_BYTES) {
    yield* call(do_munmap(k, mm, ret / PAGE_BYTES, len / PAGE_BYTES));
    return 'OUTSIDE';
  }
  return hex(ret - WINDOW_BASE);
}

function status(ret: number): string {
  return ret < 0 ? errno_name(-ret) : 'ok';
}

function signal_name(sig: number): string {
  return sig === 7 ? 'SIGBUS' : 'SIGSEGV';
}

/* show_map_vma(): each VMA in the window, as /proc/PID/maps prints it. */
function* proc_maps(
  k: KernelContext,
  mm: number,
  files: ReadonlyMap<string, { file: number; k: number }>,
): KGen<MapsLine[]> {
  const names = new Map<number, string>([...files].map(([name, f]) => [f.file, name]));
  yield* call(mmap_read_lock(k, mm));
  const out: MapsLine[] = [];
  for (const e of yield* call(mt_entries(k, mm))) {
    const start = Math.max(e.start, WINDOW_BASE_PAGE);
    const end = Math.min(e.end, TOP_PAGE);
    if (start >= end) continue;
    const flags = yield k.load(e.vma + V.vm_flags);
    const file = yield k.load(e.vma + V.vm_file);
    const pgoff = yield k.load(e.vma + V.vm_pgoff);
    const perm = `${flags & VM_READ ? 'r' : '-'}${flags & VM_WRITE ? 'w' : '-'}${flags & VM_EXEC ? 'x' : '-'}${flags & VM_MAYSHARE ? 's' : 'p'}`;
    const shmem = file !== 0 && (yield k.load(file + FILE.shmem)) !== 0;
    out.push({
      start: (start - WINDOW_BASE_PAGE) * PAGE_BYTES,
      end: (end - WINDOW_BASE_PAGE) * PAGE_BYTES,
      perm,
      offset: file === 0 ? 0 : pgoff * PAGE_BYTES,
      name: file === 0 ? '' : shmem ? '[shmem]' : names.get(file)!,
    });
  }
  yield* call(mmap_read_unlock(k, mm));
  return out;
}

/** The script's output text, as every runner prints it. */
export function format_run(run: Pick<ModelRun, 'results' | 'maps'>): string {
  const lines = [...run.results];
  for (const { pid, vmas } of run.maps) {
    lines.push(`p${pid} maps:`);
    for (const v of vmas)
      lines.push(
        `${hex32(v.start)}-${hex32(v.end)} ${v.perm} ${hex32(v.offset)}${v.name ? ` ${v.name}` : ''}`,
      );
  }
  return `${lines.join('\n')}\n`;
}
