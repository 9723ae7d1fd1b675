/*
 * RCU's callback lists (src/kernel/rcu/tree.ts): call_rcu() queues on the
 * calling CPU's own rcu_data list, not on a list every CPU shares, and the
 * grace-period kthread runs every CPU's callbacks after a grace period and
 * empties every list.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { make_config, run_timing } from '../../../src/check/kernel.js';
import {
  call_rcu,
  RCU_DATA_CB,
  RCU_GP_KTHREAD,
  RCU_HEAD,
  RCU_STATE,
  rcu_callback,
} from '../../../src/kernel/rcu/tree.js';
import { PROFILES } from '../../../src/runtime/executors/timing_costs.js';
import { defineStruct } from '../../../src/runtime/layout.js';
import type { KernelContext, KGen } from '../../../src/runtime/ops.js';
import type { RunConfig, Scenario } from '../../../src/runtime/scenario.js';

const N = 8;

const T = defineStruct('rcu_test', {
  heads: [N * 2 * RCU_HEAD.$.size, 'each CPU its own rcu_heads'],
  ran: 'atomic: callbacks run',
});

let ran_addr = 0;
const count_cb = rcu_callback('rcu_test_count', function* (k) {
  yield k.fetch_add(ran_addr, 1);
});

/* Each CPU queues N callbacks; with the kthread or without it (params.kthread). */
function scenario(kthread: boolean): Scenario<{ g: number }> {
  return {
    name: 'rcu-cblist',
    description: 'CPUs queueing RCU callbacks',
    module: import.meta.url,
    variants: [],
    default_cpus: 2,
    max_cpus: 2,
    params: {},
    memory_words: 1 << 15,
    kthreads: kthread ? [RCU_GP_KTHREAD] : [],
    setup(m) {
      const g = m.boot_alloc(T.$, 'rcu_test');
      ran_addr = g + T.ran;
      return { g };
    },
    *cpu(k: KernelContext, { g }, _cfg: RunConfig): KGen {
      for (let i = 0; i < N; i++) {
        const head = g + T.heads + (k.cpu * N + i) * RCU_HEAD.$.size;
        yield* call_rcu(k, head, count_cb);
      }
    },
    report: (m, sys, { g }) => {
      const w = m.words;
      const cb0 = w[sys.rcu_state + RCU_STATE.rcu_data_cb]!;
      const queued = (cpu: number) => {
        let n = 0;
        for (
          let h = w[cb0 + cpu * RCU_DATA_CB.$.size + RCU_DATA_CB.cblist_head]!;
          h;
          h = w[h + RCU_HEAD.next]!
        )
          n++;
        return n;
      };
      return { ran: w[g + T.ran]!, cpu0: queued(0), cpu1: queued(1) };
    },
    check() {},
  };
}

function run(kthread: boolean) {
  const s = scenario(kthread);
  return run_timing(s, make_config(s as Scenario, { cpus: 2 }), { profile: PROFILES.hw });
}

test("call_rcu() queues on the calling CPU's own list", () => {
  const r = run(false);
  assert.equal(r.bug, null);
  assert.deepEqual(r.report, { ran: 0, cpu0: N, cpu1: N });
});

test("the grace-period kthread runs every CPU's callbacks and leaves the lists empty", () => {
  const r = run(true);
  assert.equal(r.bug, null);
  assert.deepEqual(r.report, { ran: 2 * N, cpu0: 0, cpu1: 0 });
});
