/*
 * `npm start` for now: a short tour. Explore the lock self-test clean, break
 * the spinlock and let the explorer find it, replay the failure from its
 * string, run the same code natively, check the address space against this
 * machine's kernel, and reproduce seed 000.
 */
import { Explorer } from '../check/explorer.js';
import { decode_replay, hex32 } from '../check/replay.js';
import { scenario as lock_selftest } from '../check/scenarios/lock_selftest.js';
import { scenario as vma_races } from '../check/scenarios/vma_races.js';
import { Directed, parse_phases, RandomWalk } from '../check/strategy.js';
import { VARIANT_UP_READ_WITHOUT_RCU } from '../kernel/mm/mmap_lock.js';
import { POLICY_VMA_RWSEM } from '../kernel/mm/policy.js';
import { diff } from '../oracle/diff.js';

/** The reader stops before up_read()'s release; the writer takes the lock in its slow path and frees the VMA. */
const SEED000_PHASES =
  '1:fetch_add:vm_lock.count,0:xchg:task_struct[0].__state,1:+1,1:cmpxchg:vm_lock.wait_lock,0:*,2:*,0:*,1:*';

import { VARIANT_BROKEN_SPINLOCK } from '../kernel/locking/spinlock.js';
import { run_native } from '../runtime/executors/native.js';
import { make_config } from '../runtime/scenario.js';
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
  if (process.platform === 'linux' && process.arch === 'x64') {
    const d = diff({ count: 50, seed: 1 });
    say(
      `   ${d.mismatches.length === 0 ? green('0 mismatches') : red(`${d.mismatches.length} mismatches`)} in ${d.scripts} scripts (${(d.elapsed_ms / 1000).toFixed(1)} s); mmlab diff --count 2000 for more`,
    );
  } else {
    say(dim('   (needs x86-64 Linux)'));
  }

  say(bold('6. Seed 000 (Jann Horn, 2023), written down as a directed schedule'));
  const cfg = make_config(vma_races, {
    policy: POLICY_VMA_RWSEM,
    variant: VARIANT_UP_READ_WITHOUT_RCU,
  });
  const seed000 = new Explorer(vma_races, cfg).check(new Directed(parse_phases(SEED000_PHASES)));
  say(`   ${seed000.bug ? `${red(seed000.bug.class)}: ${seed000.bug.message}` : 'not reproduced'}`);
  const fixed000 = new Explorer(
    vma_races,
    make_config(vma_races, { policy: POLICY_VMA_RWSEM }),
  ).check(new Directed(parse_phases(SEED000_PHASES)));
  say(
    `   with up_read() inside rcu_read_lock(): ${fixed000.bug ? red('still fails') : green('clean')}`,
  );
  return 0;
}
