/*
 * `npm start` for now: a short tour of what the foundation does. Explore the
 * lock self-test clean, break the spinlock and let the explorer find it,
 * replay the failure from its string, then run the same code natively.
 */
import { Explorer } from '../check/explorer.js';
import { decode_replay } from '../check/replay.js';
import { scenario as lock_selftest } from '../check/scenarios/lock_selftest.js';
import { RandomWalk } from '../check/strategy.js';
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
    `   reproduced: ${again.outcome.bug?.bug_class}, trace hash ${again.outcome.hash.toString(16).padStart(8, '0')} ${dim('(matches)')}`,
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
  return 0;
}
