/*
 * mmlab fuzz's duels (src/oracle/gen_duel.ts): over 200 programs, some are
 * short races on one VMA, each judged by running its setup and one CPU's
 * commands alone on the model: a CPU ends or reshapes the VMA whose word
 * another CPU accesses, a freed VMA is mapped again (into p0, or into a
 * child), two CPUs change the tree at once. And what they
 * are for: DFS on a duel meets a lifetime race that the other programs'
 * searches do not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DUEL_EVERY,
  DUEL_PHASES,
  EXIT_DUEL_PHASES,
  fuzz_program,
  PHASES,
  type Phase,
  phases_of,
} from '../../src/oracle/fuzz.js';
import { run_setup, vmas_of } from '../../src/oracle/gen_aims.js';
import { type ConcurrentScript, type Line, PAGE_SIZE } from '../../src/script/ast.js';
import { check_script } from '../../src/script/check_script.js';
import { print_concurrent, reads_maps } from '../../src/script/concurrent.js';
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

test('every tenth program is a duel, short, and each a race on one VMA the model confirms', () => {
  assert.equal(duels.length, programs.filter((_, k) => k % DUEL_EVERY === DUEL_EVERY - 1).length);
  const races = { end: 0, maps: 0, twice: 0, zap: 0, remap: 0, child: 0 };
  for (const s of duels) {
    const text = print_concurrent(s);
    assert.ok(
      s.cpus.every((c) => c.length <= 2),
      `a section of one command, an end and its remapping, or an access and a maps:\n${text}`,
    );
    assert.ok(s.setup.length <= 7, `a setup of ${s.setup.length} lines:\n${text}`);
    const zaps = s.cpus.some(([l]) => l!.cmd.op === 'madvise');
    const race = ends(s) ? 'end' : changers(s).length >= 2 ? 'twice' : zaps ? 'zap' : null;
    assert.ok(race !== null, `a duel that races nothing:\n${text}`);
    races[race]++;
    if (reads_maps(s)) {
      // The reader's section: its access, then the maps, racing a change of p0's VMAs.
      assert.equal(race, 'end', text);
      assert.ok(
        s.cpus.some((c) => c.length === 2 && c[1]!.cmd.op === 'maps'),
        text,
      );
      races.maps++;
    }
    const remaps = s.cpus.flatMap((c) => c.slice(1)).filter((l) => l.cmd.op === 'mmap');
    if (remaps.some((l) => l.pid === 0)) races.remap++;
    if (remaps.some((l) => l.pid > 0)) races.child++;
  }
  assert.ok(races.end >= duels.length / 3, `${races.end} ends of ${duels.length}`);
  assert.ok(races.twice >= 2 && races.zap >= 1 && races.maps >= 1, JSON.stringify(races));
  assert.ok(races.remap >= 2 && races.child >= 2, JSON.stringify(races));
});

test('a remapping allocates a VMA: it merges with no neighbour, in p0 or in the child', () => {
  for (const s of duels) {
    const [l, remap] = s.cpus.find((c) => c[1]?.cmd.op === 'mmap') ?? [];
    if (remap === undefined) continue;
    const after = run_setup([...s.setup, l!, remap]);
    assert.ok(after !== null);
    const addr = remap.cmd.op === 'mmap' ? remap.cmd.addr! : -1;
    const vma = after.maps
      .find((m) => m.pid === remap.pid)
      ?.vmas.find((v) => v.start <= addr && addr < v.end);
    assert.deepEqual(
      [vma?.start, vma?.end],
      [addr, addr + PAGE_SIZE],
      `the remapped page is a VMA of its own:\n${print_concurrent(s)}`,
    );
  }
});

test("a reshape may leave the VMA a lockless lookup found covering only the pages past the written word's", () => {
  // Seed 1's duels over 1,000 programs: those whose changer mprotects from past the accessed word's page.
  const past = Array.from({ length: 1000 }, (_, k) => fuzz_program(1, k, 2))
    .filter((p) => p.duel)
    .map((p) => p.script)
    .filter((s) => {
      const [access] = s.cpus[0]!;
      const [change] = s.cpus[1]!;
      return (
        change?.cmd.op === 'mprotect' &&
        (access!.cmd.op === 'read' || access!.cmd.op === 'write') &&
        change.cmd.addr > access!.cmd.addr
      );
    });
  assert.ok(past.length >= 2, `${past.length} such duels`);
  for (const s of past) {
    const access = s.cpus[0]![0]!;
    const change = s.cpus[1]![0]!;
    const addr = access.cmd.op === 'write' ? access.cmd.addr : -1;
    assert.ok(
      addr >= 0,
      `the access is a write, which the protection decides:\n${print_concurrent(s)}`,
    );
    const before = vma_after(s.setup, addr)!;
    const after = vma_after([...s.setup, change], addr)!;
    // w's part of the split ends where the mprotect begins; the rest, past it, differs in write permission.
    assert.equal(after.end, change.cmd.op === 'mprotect' ? change.cmd.addr : -1);
    const rest = vma_after([...s.setup, change], after.end)!;
    assert.notEqual(rest.perm[1], before.perm[1], print_concurrent(s));
  }
});

/* Whether `phases`, run on `s` as a campaign runs them, meet a bug of class `bug_class` (a use-after-free by default) of `variant`'s kernel. */
async function meets(
  s: ConcurrentScript,
  phases: readonly Phase[],
  cfg: { readonly policy: string; readonly variant: string },
  bug_class = 'use-after-free',
): Promise<boolean> {
  for (const { strategy, depth, schedules } of phases) {
    const r = await check_script(s, cfg, {
      ...{
        strategy,
        depth,
        schedules,
        seed: 1,
        bound: 3,
        shard: { index: 0, count: 1 },
        jobs: 1,
      },
      bug_class,
    });
    if (r.bug?.class === bug_class) return true;
  }
  return false;
}

const SEED_000 = { policy: 'vma-rwsem', variant: 'seed000-up-read-without-rcu' };

test("a duel's DFS meets seed 000's up_read() outside RCU, which the other programs' searches miss on it", async () => {
  // The first duel of two CPUs in which one unmaps the VMA the other faults on.
  const s = Array.from({ length: 200 }, (_, k) => fuzz_program(1, k, 2)).find(
    (p) => p.duel && ends(p.script) && p.script.cpus[1]![0]!.cmd.op === 'munmap',
  )?.script;
  assert.ok(s !== undefined);
  assert.equal(await meets(s, DUEL_PHASES, SEED_000), true);
  assert.equal(await meets(s, PHASES, SEED_000), false);
});

test("with three CPUs, the child a freed VMA is mapped again into exits on the third, and word meets 9bbffee67ffd's put there, which DFS does not", async () => {
  const exiting = Array.from({ length: 200 }, (_, k) => fuzz_program(1, k, 3)).filter(
    (p) => p.duel && p.script.cpus.some((c) => c.some((l) => l.cmd.op === 'exit')),
  );
  assert.ok(exiting.length >= 3, `${exiting.length} duels end the child`);
  for (const p of exiting) {
    const [access, [ender, remap], [exit]] = p.script.cpus as Line[][];
    assert.equal(phases_of(p), EXIT_DUEL_PHASES, print_concurrent(p.script));
    // The reader's word is at the remapped page, in the child (whose copy there the setup unmapped).
    const w =
      access![0]!.cmd.op === 'read' || access![0]!.cmd.op === 'write' ? access![0]!.cmd.addr : -1;
    assert.equal(remap?.pid, 1);
    assert.equal(remap?.cmd.op === 'mmap' ? remap.cmd.addr : -1, w - (w % PAGE_SIZE));
    assert.equal(ender?.pid, 0);
    assert.deepEqual([exit!.pid, exit!.cmd.op], [1, 'exit']);
  }
  const cfg = { policy: 'vma-refcnt', variant: '9bbffee67ffd-put-without-mmgrab' };
  const first = exiting[0]!.script;
  assert.equal(await meets(first, DUEL_PHASES, cfg), false);
  assert.equal(await meets(first, EXIT_DUEL_PHASES, cfg), true);
});

/* Whether the one command of duel `s`'s changer is a MAP_FIXED over a whole VMA of p0. */
function maps_over_a_vma(s: ConcurrentScript): boolean {
  const [l, more] = s.cpus[1]!;
  if (more !== undefined || l?.cmd.op !== 'mmap') return false;
  const { addr, pages } = l.cmd;
  return vmas_of(run_setup(s.setup)!, 0).some(
    (v) => v.start === addr && v.end === v.start + pages * PAGE_SIZE,
  );
}

test("a duel may read /proc/PID/maps while the other CPU maps over a VMA, and DFS meets f8d112a4e657's gap there, which the fixed kernel does not show", async () => {
  // The first duel of two CPUs whose reader races a MAP_FIXED replacing a VMA whole (a split's upper part is write-locked, and a reader falls back to mmap_lock).
  const s = Array.from({ length: 1000 }, (_, k) => fuzz_program(1, k, 2)).find(
    (p) => p.duel && reads_maps(p.script) && maps_over_a_vma(p.script),
  )?.script;
  assert.ok(s !== undefined);
  const cfg = { policy: 'vma-refcnt', variant: 'f8d112a4e657-map-fixed-gap' };
  assert.equal(await meets(s, DUEL_PHASES, cfg, 'non-linearizable'), true);
  assert.equal(await meets(s, DUEL_PHASES, { ...cfg, variant: '' }, 'non-linearizable'), false);
});

test("a reshape at the written word's page has its changer read the word after the mprotect, which the fixed kernel's TLB flush keeps linearizable", async () => {
  // Seed 1's duels of two CPUs over 300 programs: those whose changer reads the word after its mprotect.
  const flush = Array.from({ length: 300 }, (_, k) => fuzz_program(1, k, 2))
    .filter((p) => p.duel)
    .map((p) => p.script)
    .filter((s) => s.cpus[1]!.length === 2 && s.cpus[1]![1]!.cmd.op === 'read');
  assert.ok(flush.length >= 2, `${flush.length} such duels`);
  for (const s of flush) {
    const [write] = s.cpus[0]!;
    const [change, read] = s.cpus[1]!;
    const text = print_concurrent(s);
    const addr = write!.cmd.op === 'write' ? write!.cmd.addr : -1;
    assert.equal(read!.cmd.op === 'read' ? read!.cmd.addr : -2, addr, text);
    // The mprotect is of the written word's page: its write permission flips.
    assert.ok(change!.cmd.op === 'mprotect', text);
    const before = vma_after(s.setup, addr)!;
    const after = vma_after([...s.setup, change!], addr)!;
    assert.notEqual(after.perm[1], before.perm[1], text);
  }
  const cfg = { policy: 'vma-refcnt', variant: '' };
  assert.equal(await meets(flush[0]!, DUEL_PHASES, cfg, 'non-linearizable'), false);
});
