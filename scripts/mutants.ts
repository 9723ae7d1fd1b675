/*
 * Mutation trial of mmlab's bug finding (docs/mutants.md): each mutant is
 * one locking mistake put into a copy of the built dist/ (one logical
 * change to compiled JS of dist/kernel/, which no scenario or variant was
 * written for); then `mmlab fuzz` (and, with --scenario, `mmlab check
 * SCENARIO --strategy pct`) runs on that copy and we record whether it
 * reports a bug, which, in which program and after how long.
 *
 *   npx tsc -p tsconfig.json
 *   node --import tsx scripts/mutants.ts [--time 120] [--seeds 1,2,3] [--cpus 2] [--only ID,...]
 *        [--baseline] [--scenario] [--full] [--list] [--dry] [--show] [--copy] [--dist DIR]
 *
 * --baseline runs the unmutated copy first with the same flags. --full runs
 * each fuzz campaign to its end and reads its --json document; by default
 * the campaign is stopped at the first bug it starts minimizing (its
 * progress line names the bug's signature), which saves the rest of the
 * time budget. One JSON line per run goes to stdout, a line per run to
 * stderr. Runs one mutant at a time, under `nice -n 10`. --list names the
 * mutants, --dry only checks that each edit applies, --show prints each
 * mutant's diff, --copy keeps a mutated copy and prints its directory (to
 * explore a script on it), --dist DIR mutates another build of the tree.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** One textual edit: `find` must occur exactly once in `fn`'s body (or the whole file if no fn). */
interface Edit {
  readonly fn?: string;
  readonly find: string;
  readonly replace: string;
}

interface Mutant {
  readonly id: string;
  /** Compiled file under dist/. */
  readonly file: string;
  readonly edits: readonly Edit[];
  /** Policies to fuzz it under (the first is the default run). */
  readonly policies: readonly string[];
  /** The scenario closest to it, for `mmlab check SCENARIO --strategy pct --time 60`. */
  readonly scenario: string;
  /** The scenario's --param K=V flags, if any. */
  readonly params?: readonly string[];
  readonly what: string;
}

const REFCNT = ['vma-refcnt'];
const BOTH = ['vma-refcnt', 'vma-rwsem'];

/* Remove the one `yield* call(vma_start_write(k, ARG));` of `fn` in `file`. */
function no_start_write(
  id: string,
  file: string,
  fn: string,
  arg: string,
  scenario: string,
  what: string,
  prefix = '',
): Mutant {
  const find = `${prefix}yield* call(vma_start_write(k, ${arg}));`;
  return {
    id,
    file,
    edits: [{ fn, find, replace: prefix === '' ? '/* mutant */;' : `${prefix}{ /* mutant */ }` }],
    policies: REFCNT,
    scenario,
    what,
  };
}

/*
 * `fn` in `file` takes mmap_lock for read where it must take it for write:
 * `lock` turns its locking call into the read lock's, its unlock becomes
 * mmap_read_unlock(), and the file's import (which starts with `first`,
 * then mmap_write_unlock) imports the read side instead.
 */
function read_lock_for_write(
  id: string,
  file: string,
  fn: string,
  first: string,
  lock: Omit<Edit, 'fn'>,
  scenario: string,
  what: string,
): Mutant {
  const read_first = first === 'mmap_write_lock' ? 'mmap_read_lock' : first;
  return {
    id,
    file,
    edits: [
      {
        find: `import { ${first}, mmap_write_unlock,`,
        replace: `import { ${read_first}, mmap_read_unlock,`,
      },
      { fn, ...lock },
      { fn, find: 'mmap_write_unlock(k, mm)', replace: 'mmap_read_unlock(k, mm)' },
    ],
    policies: REFCNT,
    scenario,
    what,
  };
}

const VMA = 'kernel/mm/vma.js';
const MMAP = 'kernel/mm/mmap.js';

export const MUTANTS: readonly Mutant[] = [
  no_start_write('wl-vma_link', VMA, 'vma_link', 'vma', 'mm-stress', 'vma_link(): the new VMA'),
  no_start_write(
    'wl-split-vma',
    VMA,
    '__split_vma',
    'vma',
    'range-merge-split',
    '__split_vma(): the VMA split',
  ),
  no_start_write(
    'wl-split-new',
    VMA,
    '__split_vma',
    'fresh',
    'range-merge-split',
    '__split_vma(): the new part',
  ),
  no_start_write(
    'wl-merge-new-target',
    VMA,
    'vma_merge_new_range',
    'target.vma',
    'mm-stress',
    'vma_merge_new_range(): the VMA expanded',
  ),
  {
    ...no_start_write(
      'wl-merge-new-next',
      VMA,
      'vma_merge_new_range',
      'next.vma',
      'detach-vs-reader',
      'vma_merge_new_range(): next, removed by a merge of both sides',
    ),
    params: ['mode=1'],
  },
  no_start_write(
    'wl-merge-existing-middle',
    VMA,
    'vma_merge_existing_range',
    'middle.vma',
    'detach-vs-reader',
    'vma_merge_existing_range(): middle',
  ),
  no_start_write(
    'wl-merge-existing-next',
    VMA,
    'vma_merge_existing_range',
    'next.vma',
    'range-merge-split',
    'vma_merge_existing_range(): next',
    'if (merge_right)\n        ',
  ),
  no_start_write(
    'wl-merge-existing-prev',
    VMA,
    'vma_merge_existing_range',
    'prev.vma',
    'lookup-retry',
    'vma_merge_existing_range(): prev',
    'if (merge_left)\n        ',
  ),
  {
    id: 'wl-munmap',
    file: MMAP,
    edits: [
      {
        fn: 'vms_gather_munmap_vmas',
        find: 'yield* call(vma_start_write_range(k, victims));',
        replace: '/* mutant */;',
      },
    ],
    policies: REFCNT,
    scenario: 'fault-vs-munmap',
    what: 'vms_gather_munmap_vmas(): the VMAs munmap (or a MAP_FIXED mmap) replaces',
  },
  {
    id: 'wl-exit_mmap',
    file: MMAP,
    edits: [
      {
        fn: 'exit_mmap',
        find: 'yield* call(vma_start_write_range(k, all.map((e) => e.vma)));',
        replace: '/* mutant */;',
      },
    ],
    policies: REFCNT,
    scenario: 'recycle-exit',
    what: 'exit_mmap(): every VMA',
  },
  no_start_write(
    'wl-mprotect_fixup',
    'kernel/mm/mprotect.js',
    'mprotect_fixup',
    'target',
    'fault-vs-mprotect',
    'mprotect_fixup(): the VMA whose vm_flags change',
  ),
  no_start_write(
    'wl-mremap-flags',
    'kernel/mm/mremap.js',
    'vm_flags_mod',
    'vma',
    'fault-vs-mremap',
    'mremap vm_flags_set/clear(): VM_ACCOUNT of the source and its remains',
  ),
  no_start_write(
    'wl-move_vma',
    'kernel/mm/mremap.js',
    'move_vma',
    'vrm.vma',
    'fault-vs-mremap',
    'move_vma(): the source VMA',
  ),
  no_start_write(
    'wl-expand_stack',
    'kernel/arch/fault.js',
    'expand_downwards',
    'vma',
    'stack-expand',
    'expand_downwards(): the stack',
    'else\n        ',
  ),
  no_start_write(
    'wl-fork-parent',
    'kernel/fork.js',
    'dup_mmap',
    'e.vma',
    'fault-vs-fork',
    'dup_mmap(): each parent VMA',
  ),
  no_start_write(
    'wl-fork-child',
    'kernel/fork.js',
    'dup_mmap',
    'tmp',
    'fault-vs-fork',
    'dup_mmap(): each child VMA',
  ),
  {
    id: 'read-no-recheck-refcnt',
    file: 'kernel/mm/mmap_lock.js',
    edits: [
      {
        fn: 'vma_start_read',
        find: 'if ((yield k.READ_ONCE(vma + V.vm_lock_seq)) ===\n        (yield k.load_acquire(',
        replace: 'if (false &&\n        (yield k.load_acquire(',
      },
    ],
    policies: REFCNT,
    scenario: 'readers-vs-writer',
    what: "vma_start_read(): vm_lock_seq's re-check after taking the reference (vma-refcnt)",
  },
  {
    id: 'read-no-recheck-rwsem',
    file: 'kernel/mm/mmap_lock.js',
    edits: [
      {
        fn: 'vma_start_read',
        find: '// A writer may have locked it between the check and the trylock.\n        if (',
        replace:
          '// A writer may have locked it between the check and the trylock.\n        if (false && ',
      },
    ],
    policies: ['vma-rwsem'],
    scenario: 'readers-vs-writer',
    what: "vma_start_read(): vm_lock_seq's re-check after the trylock (vma-rwsem)",
  },
  {
    id: 'lookup-no-range-check',
    file: 'kernel/mm/mmap_lock.js',
    edits: [
      {
        fn: 'lock_vma_under_rcu',
        find: 'if (page < (yield k.READ_ONCE(vma + V.vm_start)) ||\n            page >= (yield k.READ_ONCE(vma + V.vm_end))) {',
        replace: 'if (false) {',
      },
    ],
    policies: BOTH,
    scenario: 'fault-vs-munmap',
    what: "lock_vma_under_rcu(): the VMA's range not checked again once it is locked",
  },
  {
    id: 'read-no-mm-check',
    file: 'kernel/mm/mmap_lock.js',
    edits: [{ fn: 'vma_start_read', find: 'if (owner !== mm) {', replace: 'if (false) {' }],
    policies: REFCNT,
    scenario: 'vma-recycle',
    what: 'vma_start_read(): a VMA recycled into another mm (SLAB_TYPESAFE_BY_RCU) taken as ours',
  },
  {
    id: 'lookup-no-detached-check',
    file: 'kernel/mm/mmap_lock.js',
    edits: [
      {
        fn: 'lock_vma_under_rcu',
        find: 'if (k.policy === POLICY_VMA_RWSEM && (yield k.READ_ONCE(vma + V.detached))) {',
        replace: 'if (false) {',
      },
    ],
    policies: ['vma-rwsem'],
    scenario: 'detach-vs-reader',
    what: 'lock_vma_under_rcu(): a VMA taken out of the tree while we looked not seen (vma-rwsem)',
  },
  {
    id: 'lnv-no-recheck',
    file: 'kernel/mm/mmap_lock.js',
    edits: [
      {
        fn: 'lock_next_vma',
        find: 'if (seq < 0 || (yield* mmap_lock_speculate_retry(k, mm, seq))) {',
        replace: 'if (false) {',
      },
    ],
    policies: REFCNT,
    scenario: 'maps-race',
    params: ['op=2'],
    what: 'lock_next_vma(): a VMA found past the position kept without the second lookup, after a writer shrank it and mapped ahead of it',
  },
  {
    id: 'put-no-wake',
    file: 'kernel/mm/mmap_lock.js',
    edits: [
      {
        fn: 'vma_refcount_put',
        find: 'yield* call(rcuwait_wake_up(k, mm + MM_STRUCT.vma_writer_wait));',
        replace: '/* mutant */',
      },
    ],
    policies: REFCNT,
    scenario: 'readers-vs-writer',
    what: 'vma_refcount_put(): the last reader does not wake the writer waiting for it',
  },
  {
    id: 'ptl-do_anonymous_page',
    file: 'kernel/mm/memory.js',
    edits: [
      { find: 'pte_offset_map_lock, ', replace: 'pte_offset_map_lock, pte_table, ' },
      {
        fn: 'do_anonymous_page',
        find: 'const table = yield* call(pte_offset_map_lock(k, mm, page));',
        replace: 'const table = yield* call(pte_table(k, mm, page));',
      },
      {
        fn: 'do_anonymous_page',
        find: 'yield* spin_unlock(k, ptl_of(table));\n    if (!installed)',
        replace: 'if (!installed)',
      },
    ],
    policies: BOTH,
    scenario: 'readers-vs-writer',
    what: 'do_anonymous_page(): the new page installed without the PTE lock',
  },
  {
    id: 'ptl-wp_page_copy',
    file: 'kernel/mm/memory.js',
    edits: [
      { fn: 'do_wp_page', find: 'yield* call(pte_offset_map_lock(k, mm, page));\n', replace: '' },
      {
        fn: 'do_wp_page',
        find: '// Someone changed the PTE meanwhile: let the access retry.\n        yield* spin_unlock(k, ptl_of(table));',
        replace: '// Someone changed the PTE meanwhile: let the access retry.',
      },
      {
        fn: 'do_wp_page',
        find: 'yield* folio_remove_rmap_pte(k, folio);\n    yield* spin_unlock(k, ptl_of(table));',
        replace: 'yield* folio_remove_rmap_pte(k, folio);',
      },
    ],
    policies: BOTH,
    scenario: 'fault-vs-fork',
    what: "do_wp_page(): wp_page_copy()'s PTE re-check and store without the PTE lock",
  },
  {
    id: 'tlb-mprotect',
    file: 'kernel/mm/mprotect.js',
    edits: [
      {
        fn: 'change_protection',
        find: 'if (changed)\n        yield* flush_tlb_mm(k, mm);',
        replace: '/* mutant */',
      },
    ],
    policies: BOTH,
    scenario: 'fault-vs-mprotect',
    what: "change_protection(): PTEs made read-only with no TLB flush (the class of CVE-2018-18281's flush after the lock was dropped)",
  },
  {
    id: 'tlb-zap-free-first',
    file: 'kernel/mm/memory.js',
    edits: [
      {
        fn: 'zap_page_range',
        find: 'if (cleared)\n        yield* flush_tlb_mm(k, mm);\n',
        replace: '',
      },
      {
        fn: 'zap_page_range',
        find: 'for (const folio of put)\n        yield* put_page(k, folio);',
        replace:
          'for (const folio of put)\n        yield* put_page(k, folio);\n    if (cleared)\n        yield* flush_tlb_mm(k, mm);',
      },
    ],
    policies: BOTH,
    scenario: 'fault-vs-munmap',
    what: 'zap_page_range(): the pages freed before the TLB flush, where tlb_finish_mmu() flushes first',
  },
  {
    id: 'anon-vma-no-ptl',
    file: 'kernel/mm/rmap.js',
    edits: [
      {
        fn: 'anon_vma_prepare',
        find: 'yield* spin_lock(k, mm + MM_STRUCT.page_table_lock);',
        replace: '/* mutant */',
      },
      {
        fn: 'anon_vma_prepare',
        find: 'yield* spin_unlock(k, mm + MM_STRUCT.page_table_lock);',
        replace: '/* mutant */',
      },
    ],
    policies: BOTH,
    scenario: 'readers-vs-writer',
    what: '__anon_vma_prepare(): two first faults of a VMA, each under the mmap read lock, set ->anon_vma without mm->page_table_lock',
  },
  {
    id: 'rcu-maple-free-now',
    file: 'kernel/mm/maple_tree.js',
    edits: [
      {
        fn: 'mt_store_locked',
        find: 'yield* call(call_rcu(k, node + MAPLE_NODE.rcu, mt_free_rcu));',
        replace: "yield kmem_cache_free(k, k.sys.mm.maple_node_cachep, node, 'mt_store_range');",
      },
    ],
    policies: BOTH,
    scenario: 'fault-vs-munmap',
    what: 'mt_store_locked(): the maple nodes a store replaces freed at once, not after a grace period (lockless lookups may still walk them)',
  },
  {
    id: 'rcu-vma-free-now',
    file: 'kernel/mm/vma.js',
    edits: [
      {
        fn: 'vm_area_free',
        find: 'yield* call(call_rcu(k, vma + V.vm_rcu, vm_area_free_rcu_cb));',
        replace: "yield kmem_cache_free(k, k.sys.mm.vm_area_cachep, vma, 'vm_area_free');",
      },
    ],
    policies: ['vma-rwsem'],
    scenario: 'fault-vs-munmap',
    what: 'vm_area_free() (vma-rwsem, whose cache is not SLAB_TYPESAFE_BY_RCU): the VMA freed at once, not after a grace period',
  },
  {
    id: 'gup-no-pte-recheck',
    file: 'kernel/mm/gup.js',
    edits: [
      {
        fn: 'gup_fast',
        find: 'if ((yield k.READ_ONCE(slot)) !== pte) {',
        replace: 'if (false) {',
      },
    ],
    policies: BOTH,
    scenario: 'gup-fast-vs-fork',
    what: 'gup_fast(): the PTE not read again once the page is referenced, so a page unmapped meanwhile is pinned',
  },
  read_lock_for_write(
    'mprotect-read-lock',
    'kernel/mm/mprotect.js',
    'do_mprotect',
    'mmap_lock_range',
    { find: 'start, end, true, () =>', replace: 'start, end, false, () =>' },
    'fault-vs-mprotect',
    'do_mprotect_pkey(): mmap_read_lock() for mmap_write_lock()',
  ),
  read_lock_for_write(
    'mremap-read-lock',
    'kernel/mm/mremap.js',
    'do_mremap',
    'mmap_write_lock',
    { find: 'mmap_write_lock(k, mm)', replace: 'mmap_read_lock(k, mm)' },
    'fault-vs-mremap',
    'mremap(): mmap_read_lock() for mmap_write_lock()',
  ),
];

/* The text of `fn` in `src`: from its `function* fn(` to the next top-level function. */
function fn_span(src: string, file: string, fn: string): [number, number] {
  const m = new RegExp(`^(export )?(async )?function\\*? ${fn}\\(`, 'm').exec(src);
  if (m === null) throw new Error(`${file}: no function ${fn}`);
  const rest = /^(export |function|const |let |class |\/\*)/gm;
  rest.lastIndex = m.index + m[0].length;
  const next = rest.exec(src);
  return [m.index, next === null ? src.length : next.index];
}

/* Apply `edits` to `src`; each must match exactly once where it applies. */
export function apply_edits(src: string, file: string, edits: readonly Edit[]): string {
  for (const e of edits) {
    const [lo, hi] = e.fn === undefined ? [0, src.length] : fn_span(src, file, e.fn);
    const body = src.slice(lo, hi);
    const n = body.split(e.find).length - 1;
    if (n !== 1)
      throw new Error(
        `${file}${e.fn ? ` ${e.fn}()` : ''}: ${n} matches of ${JSON.stringify(e.find)}`,
      );
    const changed = body.replace(e.find, () => e.replace);
    if (changed === body) throw new Error(`${file}: edit changed nothing`);
    src = src.slice(0, lo) + changed + src.slice(hi);
  }
  return src;
}

const ROOT = resolve(import.meta.dirname, '..');
/* The build the mutants are put into: dist/, or --dist DIR (another build of the tree). */
const DIST = process.argv.includes('--dist')
  ? resolve(process.argv[process.argv.indexOf('--dist') + 1]!)
  : join(ROOT, 'dist');

/* A copy of dist/ with `m` applied (none: the baseline), runnable with node DIR/dist/cli/main.js. */
function build_copy(m: Mutant | null): string {
  const dir = mkdtempSync(join(tmpdir(), `mutant-${m?.id ?? 'baseline'}-`));
  cpSync(DIST, join(dir, 'dist'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  symlinkSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  // The fuzz progress line (signature of the bug being minimized) is written only to a terminal.
  writeFileSync(
    join(dir, 'tty.mjs'),
    'process.stderr.isTTY = true; process.stderr.columns = 100000;\n',
  );
  if (m !== null) {
    const path = join(dir, 'dist', m.file);
    const before = readFileSync(path, 'utf8');
    const after = apply_edits(before, m.file, m.edits);
    if (after === before) throw new Error(`${m.id}: nothing changed`);
    writeFileSync(path, after);
  }
  return dir;
}

interface RunResult {
  mutant: string;
  tool: string;
  policy: string;
  seed: number;
  found: boolean;
  signature: string | null;
  program: number | null;
  found_s: number | null;
  elapsed_s: number;
  programs: number | null;
  error?: string;
}

const PROGRESS =
  /fuzz: (\d+) programs?, (\d+) schedules, (\d+) distinct bugs?, [^;]*(?:; minimizing (.*))?/;

/* A run's result before anything is known of it. */
function not_found(mutant: string, tool: string, policy: string, seed: number): RunResult {
  return {
    mutant,
    tool,
    policy,
    seed,
    found: false,
    signature: null,
    program: null,
    found_s: null,
    elapsed_s: 0,
    programs: null,
  };
}

interface Exited {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/*
 * `nice ARGS` to its exit, its output collected; `on_stderr` sees each
 * chunk of stderr as it comes. Detached, so that `process.kill(-pid)`
 * stops its whole group.
 */
function run_nice(
  args: readonly string[],
  on_stderr: (chunk: string) => void,
): {
  readonly pid: number;
  readonly exited: Promise<Exited>;
} {
  const child = spawn('nice', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    on_stderr(d.toString());
  });
  const exited = new Promise<Exited>((done) => {
    child.on('close', (code) => done({ code, out, err }));
  });
  return { pid: child.pid!, exited };
}

/** What a fuzz campaign of the trial runs with. */
interface Campaign {
  readonly policy: string;
  readonly seed: number;
  readonly time_s: number;
  readonly full: boolean;
  /** The CPUs of each program (fuzz --cpus). */
  readonly cpus: number;
}

/* One fuzz campaign on the copy in `dir`. */
async function run_fuzz(dir: string, id: string, c: Campaign): Promise<RunResult> {
  const { policy, seed, time_s, full } = c;
  const args = [
    '-n',
    '10',
    'node',
    '--import',
    join(dir, 'tty.mjs'),
    join(dir, 'dist/cli/main.js'),
  ];
  args.push('fuzz', '--time', `${time_s}`, '--seed', `${seed}`, '--policy', policy, '--json');
  args.push('--cpus', `${c.cpus}`);
  const r = not_found(id, 'fuzz', policy, seed);
  const t0 = performance.now();
  const run = run_nice(args, (chunk) => {
    for (const line of chunk.split(/[\r\n]/)) {
      const p = PROGRESS.exec(line.replaceAll('\x1b[K', ''));
      if (p === null || p[4] === undefined || r.found) continue;
      r.found = true;
      r.signature = p[4];
      r.program = Number(p[1]) - 1;
      r.programs = Number(p[1]);
      r.found_s = (performance.now() - t0) / 1000;
      if (!full) process.kill(-run.pid, 'SIGTERM');
    }
  });
  const { code, out, err } = await run.exited;
  r.elapsed_s = (performance.now() - t0) / 1000;
  if (out.trim() !== '') {
    const doc = JSON.parse(out) as {
      programs: number;
      bugs: { signature: string; program: number; triaged?: string }[];
    };
    r.programs = doc.programs;
    // A report triaged as Linux's own is the fixed kernel's, not the mutant's.
    const first = doc.bugs.find((b) => b.triaged === undefined);
    if (first !== undefined) {
      r.found = true;
      r.signature = first.signature;
      r.program = first.program;
    }
  } else if (!r.found) {
    const lines = err.replaceAll('\x1b[K', '').split(/[\r\n]/);
    const errors = lines.filter((l) => l.trim() !== '' && !PROGRESS.test(l));
    const line = errors.find((l) => l.includes('Error')) ?? errors[0] ?? '';
    r.error = `exit ${code}: ${line}`;
  }
  return r;
}

/* `mmlab check SCENARIO --strategy pct --time 60` on the copy in `dir`. */
async function run_check(dir: string, m: Mutant, policy: string, seed: number): Promise<RunResult> {
  const args = ['-n', '10', 'node', join(dir, 'dist/cli/main.js'), 'check', m.scenario];
  args.push('--strategy', 'pct', '--time', '60', '--schedules', '100000000', '--seed', `${seed}`);
  args.push('--policy', policy, '--json');
  for (const p of m.params ?? []) args.push('--param', p);
  const t0 = performance.now();
  const { code, out, err } = await run_nice(args, () => {}).exited;
  const r = not_found(m.id, `check ${m.scenario} pct`, policy, seed);
  r.elapsed_s = (performance.now() - t0) / 1000;
  if (out.trim() === '') {
    r.error = `exit ${code}: ${err.trim().split('\n')[0]}`;
    return r;
  }
  const doc = JSON.parse(out) as {
    bug: { signature?: string; message: string; schedule?: number } | null;
    schedules: number;
    elapsed_ms: number;
  };
  r.programs = doc.schedules;
  if (doc.bug !== null) {
    r.found = true;
    r.signature = doc.bug.signature ?? doc.bug.message;
    r.found_s = doc.elapsed_ms / 1000;
  }
  return r;
}

function option(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : process.argv[i + 1]!;
}

function report(r: RunResult): void {
  console.log(JSON.stringify(r));
  const what =
    r.error ??
    (r.found
      ? `FOUND ${r.signature} (program ${r.program}, ${r.found_s?.toFixed(1)} s)`
      : 'not found');
  process.stderr.write(`${r.mutant} ${r.tool} ${r.policy} seed ${r.seed}: ${what}\n`);
}

async function main(): Promise<void> {
  if (process.argv.includes('--list')) {
    for (const m of MUTANTS) console.log(`${m.id}\t${m.file}\t${m.what}`);
    return;
  }
  const time_s = Number(option('--time', '120'));
  const seeds = option('--seeds', '1').split(',').map(Number);
  const only = option('--only', '');
  const full = process.argv.includes('--full');
  const cpus = Number(option('--cpus', '2'));
  const chosen =
    only === ''
      ? MUTANTS
      : only.split(',').map((id) => {
          const m = MUTANTS.find((x) => x.id === id);
          if (m === undefined) throw new Error(`--only: unknown mutant ${id}`);
          return m;
        });
  // Every mutant's edits are checked before any long run.
  for (const m of chosen) rmSync(build_copy(m), { recursive: true });
  if (process.argv.includes('--dry')) return;
  if (process.argv.includes('--copy')) {
    // The mutated copies, kept, to explore a script on: node DIR/dist/cli/main.js check --script F
    for (const m of chosen) console.log(`${m.id}\t${build_copy(m)}`);
    return;
  }
  if (process.argv.includes('--show')) {
    for (const m of chosen) {
      const dir = build_copy(m);
      const d = spawnSync('diff', ['-u', join(DIST, m.file), join(dir, 'dist', m.file)]);
      process.stdout.write(`== ${m.id}\n${d.stdout.toString()}`);
      rmSync(dir, { recursive: true });
    }
    return;
  }
  const runs: (Mutant | null)[] = process.argv.includes('--baseline')
    ? [null, ...chosen]
    : [...chosen];
  for (const m of runs) {
    const dir = build_copy(m);
    try {
      for (const policy of m?.policies ?? REFCNT)
        for (const seed of seeds)
          report(await run_fuzz(dir, m?.id ?? 'baseline', { policy, seed, time_s, full, cpus }));
      if (m !== null && process.argv.includes('--scenario'))
        report(await run_check(dir, m, m.policies[0]!, 1));
    } finally {
      rmSync(dir, { recursive: true });
    }
  }
}

await main();
