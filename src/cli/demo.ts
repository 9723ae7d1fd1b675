/*
 * `npm start` for now: a short tour. Explore the lock self-test clean, break
 * the spinlock and let the explorer find it, replay the failure from its
 * string, run the same code natively, check the address space against this
 * machine's kernel, and let DFS find seed 000 on its own, then prove the
 * fix within the same bound.
 */

import { BoundedDfs } from '../check/dfs.js';
import { Explorer } from '../check/explorer.js';
import { make_config, run_native } from '../check/kernel.js';
import { decode_replay, hex32 } from '../check/replay.js';
import { RandomWalk } from '../check/strategy.js';
import { VARIANT_BROKEN_SPINLOCK } from '../kernel/locking/spinlock.js';
import { VARIANT_UP_READ_WITHOUT_RCU } from '../kernel/mm/mmap_lock.js';
import { POLICY_VMA_RWSEM } from '../kernel/mm/policy.js';
import { diff } from '../oracle/diff.js';
import { OracleError } from '../oracle/linux.js';
import { scenario as fault_vs_munmap } from '../scenarios/races/fault_vs_munmap.js';
import { scenario as lock_selftest } from '../scenarios/races/lock_selftest.js';
import { DEFAULT_CHECK_SEED } from './common.js';
import { bold, dim, green, red } from './style.js';

export async function demo(): Promise<number> {
  const say = (s: string) => console.log(s);
  say(bold('1. The lock self-test under the explorer'));
  const fixed = new Explorer(lock_selftest, make_config(lock_selftest, {}));
  const clean = fixed.check(new RandomWalk(1, 5000));
  if (clean.bug) {
    say(`${red('unexpected bug')}: ${clean.bug.message}`);
    return 1;
  }
  say(
    `   ${green('clean')}: ${clean.schedules} interleavings of spinlock, rwsem, seqcount, RCU, completion and rcuwait, ${clean.steps} steps in ${clean.elapsed_ms.toFixed(0)} ms`,
  );

  say(
    bold(`2. The same with --variant ${VARIANT_BROKEN_SPINLOCK} (acquire is a load, then a store)`),
  );
  const broken = new Explorer(
    lock_selftest,
    make_config(lock_selftest, { variant: VARIANT_BROKEN_SPINLOCK }),
  );
  const found = broken.check(new RandomWalk(1, 5000));
  if (!found.bug) {
    say(`   ${red('not found')} in ${found.schedules} schedules`);
    return 1;
  }
  say(
    `   found after ${found.schedules} schedules (${found.elapsed_ms.toFixed(0)} ms): ${red(found.bug.class)}: ${found.bug.message}`,
  );
  say(
    found.bug.table
      .split('\n')
      .map((l) => `   ${l}`)
      .join('\n'),
  );

  say(bold('3. Replay from the string alone'));
  say(`   mmlab replay ${found.bug.replay}`);
  const rec = decode_replay(found.bug.replay);
  const again = broken.trace(rec.choices, rec.hash);
  say(
    `   reproduced: ${again.outcome.bug?.bug_class}, trace hash ${hex32(again.outcome.hash)} ${dim('(matches)')}`,
  );

  say(bold('4. The same kernel code natively, one worker thread per CPU'));
  const native = await run_native(
    lock_selftest,
    make_config(lock_selftest, { params: { iters: 5000 } }),
  );
  if (native.bug) {
    say(`   ${red(native.bug.class)}: ${native.bug.message}`);
    return 1;
  }
  const steps = native.steps.reduce((a, b) => a + b, 0);
  say(
    `   ${green('clean')}: 2 CPUs and rcu_gp_kthread, ${steps} accesses in ${native.elapsed_ms.toFixed(0)} ms; every counter exact`,
  );

  say(bold("5. The address space against this machine's kernel: 50 random scripts"));
  try {
    const d = diff({ count: 50, seed: 1 });
    say(
      `   ${d.mismatches.length === 0 ? green('0 mismatches') : red(`${d.mismatches.length} mismatches`)} in ${d.scripts} scripts (${(d.elapsed_ms / 1000).toFixed(1)} s); mmlab diff --count 2000 for more`,
    );
  } catch (e) {
    // The tour goes on without the oracle: it says why and what would bring it.
    if (!(e instanceof OracleError)) throw e;
    say(dim(`   (skipped: ${e.message})`));
  }

  say(bold('6. Seed 000 (Jann Horn, 2023): a fault against munmap, searched by DFS'));
  const dfs = (variant: string, bound: number) => {
    // mmlab check's default --seed: the same search, and counts, as the README's commands.
    const strategy = new BoundedDfs(bound, Number.MAX_SAFE_INTEGER, DEFAULT_CHECK_SEED);
    const ex = new Explorer(
      fault_vs_munmap,
      make_config(fault_vs_munmap, { policy: POLICY_VMA_RWSEM, variant }),
    );
    return { r: ex.check(strategy), strategy };
  };
  const seed000 = dfs(VARIANT_UP_READ_WITHOUT_RCU, 3).r;
  if (!seed000.bug) {
    say(`   ${red('not found')} in ${seed000.schedules} schedules`);
    return 1;
  }
  say(
    `   found after ${seed000.schedules} schedules (${seed000.elapsed_ms.toFixed(0)} ms), with the fewest preemptions it needs (${seed000.bug.preemptions}): ${red(seed000.bug.class)}: ${seed000.bug.message}`,
  );
  say(`   mmlab replay ${seed000.bug.replay}`);
  // The fix, searched as far as the bug needed.
  const fixed000 = dfs('', seed000.bug.preemptions);
  say(
    `   with up_read() inside rcu_read_lock(): ${fixed000.r.bug ? red('still fails') : green(`clean, every schedule with at most ${fixed000.strategy.proved} preemptions (${fixed000.r.schedules} schedules, ${(fixed000.r.elapsed_ms / 1000).toFixed(1)} s)`)}`,
  );
  say(dim('   mmlab check --catalogue: every seed, found from 10 seeds, and its fix'));
  return 0;
}
