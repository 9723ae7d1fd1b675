/*
 * mmlab fuzz's duels (src/oracle/gen_duel.ts): over 200 programs, some are
 * short races on one VMA, each judged by running its setup and one CPU's
 * commands alone on the model: a CPU ends or reshapes the VMA whose word
 * another CPU accesses, a freed VMA is mapped again (into p0, or into a
 * child that then exits), two CPUs change the tree at once. And what they
 * are for: DFS on a duel meets a lifetime race that the other programs'
 * searches do not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DUEL_PHASES, fuzz_program, PHASES, type Phase } from '../../src/oracle/fuzz.js';
import { run_setup, vmas_of } from '../../src/oracle/gen_aims.js';
import type { ConcurrentScript, Line } from '../../src/script/ast.js';
import { check_script } from '../../src/script/check_script.js';
import type { MapsLine } from '../../src/script/user_space.js';

/** Programs 0..199 of seed 1, on 2, 3 and 4 CPUs in turn (as test/oracle/fuzz.test.ts). */
const programs = Array.from({ length: 200 }, (_, k) => fuzz_program(1, k, 2 + (k % 3)));
const duels = programs.filter((p) => p.duel).map((p) => p.script);

/* p0's VMA holding `addr` after `lines` run alone on the model (undefined: none). */
function vma_after(lines: readonly Line[], addr: number): MapsLine | undefined {
  const run = run_setup(lines);
  assert.ok(run !== null, 'the setup and the command run on the model');
  return vmas_of(run, 0).find((v) => v.start <= addr && addr < v.end);
}

const same = (a: MapsLine | undefined, b: MapsLine | undefined) =>
  a?.start === b?.start && a?.end === b?.end && a?.perm === b?.perm;

/* The CPUs of duel `s` whose first command, run alone after the setup, changes p0's maps. */
function changers(s: ConcurrentScript): Line[] {
  const before = JSON.stringify(vmas_of(run_setup(s.setup)!, 0));
  return s.cpus.flatMap(([l]) => {
    const after = run_setup([...s.setup, l!]);
    return after !== null && JSON.stringify(vmas_of(after, 0)) !== before ? [l!] : [];
  });
}

/*
 * Whether a CPU of duel `s` ends or reshapes the VMA whose word another
 * accesses: its first command leaves the word unmapped or in a VMA of
 * other bounds or protection.
 */
function ends(s: ConcurrentScript): boolean {
  const before = vmas_of(run_setup(s.setup)!, 0);
  return s.cpus.some(([l]) => {
    if (l!.cmd.op !== 'read' && l!.cmd.op !== 'write') return false;
    const addr = l!.cmd.addr;
    const was = before.find((v) => v.start <= addr && addr < v.end);
    return changers(s).some((c) => !same(was, vma_after([...s.setup, c], addr)));
  });
}

test('over 200 programs, 12 to 30 duels: short, and each a race on one VMA the model confirms', () => {
  assert.ok(duels.length >= 12 && duels.length <= 30, `${duels.length} duels`);
  const races = { end: 0, twice: 0, recycled: 0, child: 0 };
  for (const s of duels) {
    assert.ok(
      s.cpus.every((c) => c.length <= 3),
      'a section of one command, or an end and its recycling',
    );
    assert.ok(s.setup.length <= 6, `a setup of ${s.setup.length} lines`);
    if (ends(s)) races.end++;
    if (changers(s).length >= 2) races.twice++;
    const maps_again = s.cpus.some((c) => c.length > 1 && c[1]!.cmd.op === 'mmap');
    if (maps_again) races.recycled++;
    if (s.cpus.flat().some((l) => l.pid > 0 && l.cmd.op === 'exit')) races.child++;
  }
  // Madvise's zap changes no maps: the duels judged as neither are those.
  assert.ok(races.end >= duels.length / 3, `${races.end} ends of ${duels.length}`);
  assert.ok(races.twice >= 2, `${races.twice} changes at once`);
  assert.ok(races.recycled >= 3, `${races.recycled} recyclings`);
  assert.ok(races.child >= 2, `${races.child} recyclings into a child that exits`);
});

/* Whether `phases`, run on `s` as a campaign runs them, meet a use-after-free of seed 000's kernel. */
async function meets_seed_000(s: ConcurrentScript, phases: readonly Phase[]): Promise<boolean> {
  for (const { strategy, depth, schedules } of phases) {
    const r = await check_script(
      s,
      { policy: 'vma-rwsem', variant: 'seed000-up-read-without-rcu' },
      { strategy, depth, schedules, seed: 1, bound: 3, shard: { index: 0, count: 1 }, jobs: 1 },
    );
    if (r.bug?.class === 'use-after-free') return true;
  }
  return false;
}

test("a duel's DFS meets seed 000's up_read() outside RCU, which the other programs' searches miss on it", async () => {
  // The first duel of two CPUs in which one unmaps the VMA the other faults on.
  const s = Array.from({ length: 200 }, (_, k) => fuzz_program(1, k, 2)).find(
    (p) => p.duel && ends(p.script) && p.script.cpus[1]![0]!.cmd.op === 'munmap',
  )?.script;
  assert.ok(s !== undefined);
  assert.equal(await meets_seed_000(s, DUEL_PHASES), true);
  assert.equal(await meets_seed_000(s, PHASES), false);
});
