/*
 * mmlab fuzz's merges and moves (src/oracle/gen_aims.ts): over 200
 * programs, CPUs merge VMAs (a new range joining its neighbours, an
 * existing one joining them) and move populated memory, while another CPU
 * accesses what they change. Each is judged by running the setup and the
 * command alone on the model and reading the maps, not by the generator's
 * own test.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzz_program } from '../../src/oracle/fuzz.js';
import { run_setup } from '../../src/oracle/gen_aims.js';
import { type ConcurrentScript, type Line, PAGE_SIZE } from '../../src/script/ast.js';
import type { ModelRun } from '../../src/script/run_model.js';

/** Programs 0..199 of seed 1, on 2, 3 and 4 CPUs in turn (as test/oracle/fuzz.test.ts). */
const corpus = Array.from({ length: 200 }, (_, k) => fuzz_program(1, k, 2 + (k % 3)).script);

function vma_at(run: ModelRun, pid: number, addr: number) {
  return run.maps.find((m) => m.pid === pid)?.vmas.find((v) => v.start <= addr && addr < v.end);
}

/**
 * What `l`, run alone after the setup, does to p0's maps, and the range a
 * racing access should touch: 'merge both' (the VMA at its address
 * afterwards reaches past the range and the VMA there before on both
 * sides: the merged VMA), 'merge' (on one side), 'move' (an mremap fixed=
 * that returns its destination onto a word the setup wrote: the old
 * place), or null.
 */
function effect(s: ConcurrentScript, l: Line): { kind: string; start: number; end: number } | null {
  const { cmd } = l;
  if (l.pid !== 0) return null;
  if (cmd.op === 'mremap' && cmd.fixed !== null) {
    const dst = cmd.fixed;
    const len = cmd.old_pages * PAGE_SIZE;
    const run = run_setup([...s.setup, l]);
    const onto_written = s.setup.some(
      (w) => w.cmd.op === 'write' && dst <= w.cmd.addr && w.cmd.addr < dst + len,
    );
    const moved = run !== null && Number(run.results.at(-1)) === dst;
    return moved && onto_written ? { kind: 'move', start: cmd.addr, end: cmd.addr + len } : null;
  }
  if ((cmd.op !== 'mmap' && cmd.op !== 'mprotect') || cmd.addr === null) return null;
  const before = run_setup(s.setup);
  const after = run_setup([...s.setup, l]);
  if (before === null || after === null) return null;
  const was = vma_at(before, 0, cmd.addr);
  const now = vma_at(after, 0, cmd.addr);
  if (now === undefined) return null;
  const below = now.start < Math.min(cmd.addr, was?.start ?? cmd.addr);
  const above = now.end > Math.max(cmd.addr + cmd.pages * PAGE_SIZE, was?.end ?? 0);
  if (!below && !above) return null;
  return { kind: below && above ? 'merge both' : 'merge', start: now.start, end: now.end };
}

/** Whether a CPU other than `cpu` reads or writes [start, end) of p0. */
function accessed_by_another(s: ConcurrentScript, cpu: number, start: number, end: number) {
  return s.cpus.some(
    (c, i) =>
      i !== cpu &&
      c.some(
        (l) =>
          l.pid === 0 &&
          (l.cmd.op === 'read' || l.cmd.op === 'write') &&
          start <= l.cmd.addr &&
          l.cmd.addr < end,
      ),
  );
}

/* Each CPU's first command's effect and op, where another CPU accesses what it changes. */
function raced_effects(s: ConcurrentScript): string[] {
  return s.cpus.flatMap((c, cpu) => {
    const e = effect(s, c[0]!);
    return e !== null && accessed_by_another(s, cpu, e.start, e.end)
      ? [`${e.kind} ${c[0]!.cmd.op}`]
      : [];
  });
}

test('over 200 programs, CPUs merge VMAs new and existing, on one side and both, and move populated memory, raced by another CPU', () => {
  const seen = new Map<string, number>();
  for (const s of corpus)
    for (const e of new Set(raced_effects(s))) seen.set(e, (seen.get(e) ?? 0) + 1);
  const at_least: [string, number][] = [
    ['merge mmap', 3],
    ['merge both mmap', 3],
    ['merge mprotect', 4],
    ['merge both mprotect', 1],
    ['move mremap', 10],
  ];
  for (const [kind, n] of at_least)
    assert.ok(
      (seen.get(kind) ?? 0) >= n,
      `${kind}: ${seen.get(kind) ?? 0} programs, want ${n} (${[...seen]})`,
    );
});
