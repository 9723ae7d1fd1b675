/*
 * Every seed variant implemented so far causes a visible failure, and the
 * fixed kernel does not fail under the very same schedule or budget.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../../src/check/explorer.js';
import { make_config } from '../../../src/check/kernel.js';
import { Directed, Pct, parse_phases } from '../../../src/check/strategy.js';
import { POLICIES } from '../../../src/kernel/mm/policy.js';
import {
  FILE_WORD,
  judge,
  RACE_DISJOINT_SPLITS,
  RACE_FAULT_VS_MUNMAP,
  RACE_PIN_VS_FORK,
  RACE_UNAUDITED_FAULT,
  scenario as races,
  SPLIT_VMAS,
} from '../../../src/scenarios/races/vma_races.js';
import { explore } from '../../helpers.js';

function directed(policy: string, variant: string, phases: string) {
  const ex = new Explorer(
    races,
    make_config(races, { policy, variant, params: { race: RACE_FAULT_VS_MUNMAP } }),
  );
  return ex.check(new Directed(parse_phases(phases)));
}

// Seed 000: the writer takes the rwsem in its slow path while the reader's
// up_read() is between its release and rwsem_wake(); the VMA is freed after a
// grace period the reader is not inside.
const SEED000 =
  '1:fetch_add:vm_lock.count,0:xchg:task_struct[0].__state,1:+1,1:cmpxchg:vm_lock.wait_lock,0:*,2:*,0:*,1:*';

test('seed 000: up_read() outside RCU touches a freed VMA; inside RCU it does not', () => {
  const bad = directed('vma-rwsem', 'seed000-up-read-without-rcu', SEED000);
  assert.equal(bad.bug?.class, 'use-after-free');
  assert.match(
    bad.bug!.message,
    /vm_lock\.wait_lock.*by cpu1.*freed by rcu_gp_kthread in vm_area_free_rcu_cb/,
  );
  assert.equal(directed('vma-rwsem', '', SEED000).bug, null);
});

// Seed 001: the reader decrements vm_refcnt; the writer, not yet asleep, sees
// it, frees the VMA, and a second mm recycles it before the reader reads vm_mm.
const SEED001 = '1:fetch_add:vm_refcnt,0:xchg:task_struct[0].__state,0:+1,1:+1,0:*,2:*,0:*,1:*';

test('seed 001: vm_mm read after the put sees a recycled VMA; read before, nothing', () => {
  const bad = directed('vma-refcnt', 'seed001-put-reads-mm-late', SEED001);
  assert.equal(bad.bug?.class, 'use-after-free');
  assert.match(bad.bug!.message, /vm_area_struct@0x[0-9a-f]+\.vm_mm \(gen [4-9]\) by cpu1/);
  assert.equal(directed('vma-refcnt', '', SEED001).bug, null);
});

test('seed 003: ->fault without the ->map_pages audit runs without mmap_lock', () => {
  for (const policy of ['vma-rwsem', 'vma-refcnt']) {
    const bad = explore(
      races,
      {
        policy,
        variant: 'seed003-fault-without-map-pages-audit',
        params: { race: RACE_UNAUDITED_FAULT },
      },
      200,
    );
    assert.equal(bad.bug?.class, 'lockdep', `${policy}: ${bad.bug?.message}`);
    assert.match(bad.bug!.message, /lockdep_assert_held failed: cpu1/);
    assert.equal(
      explore(races, { policy, params: { race: RACE_UNAUDITED_FAULT } }, 1000).bug,
      null,
    );
  }
});

test('seed 004: gup_fast without write_protect_seq pins a page fork shares; PCT finds it', () => {
  const run = (variant: string) =>
    new Explorer(
      races,
      make_config(races, { policy: 'vma-refcnt', variant, params: { race: RACE_PIN_VS_FORK } }),
    ).check(new Pct(1, 3000, 2));
  const bad = run('seed004-gup-fast-without-wp-seq');
  assert.equal(bad.bug?.class, 'BUG');
  assert.match(bad.bug!.message, /the pinned page stopped being the parent's/);
  assert.equal(run('').bug, null);
});

test('seed 002: range writers of disjoint VMAs without the tree lock corrupt the VMA index', () => {
  const bad = explore(
    races,
    {
      policy: 'range',
      variant: 'seed002-range-split-without-tree-lock',
      params: { race: RACE_DISJOINT_SPLITS },
    },
    500,
  );
  assert.ok(bad.bug, 'found');
  assert.ok(
    // KCSAN may see first the two CPUs that both free one maple node (call_rcu on its rcu_head).
    ['use-after-free', 'double-free', 'mm-invariant', 'data-race'].includes(bad.bug.class),
    `${bad.bug.class}: ${bad.bug.message}`,
  );
  assert.match(bad.bug.message, /maple_node|validate_mm/);
  assert.equal(
    explore(races, { policy: 'range', params: { race: RACE_DISJOINT_SPLITS } }, 1000).bug,
    null,
  );
});

test('the fixed kernel explores clean under every policy', () => {
  for (const policy of POLICIES) {
    for (const race of [
      RACE_FAULT_VS_MUNMAP,
      RACE_UNAUDITED_FAULT,
      RACE_PIN_VS_FORK,
      RACE_DISJOINT_SPLITS,
    ]) {
      const r = explore(races, { policy, params: { race } }, 300, 5);
      assert.equal(r.bug, null, `${policy}, race ${race}: ${r.bug?.message}`);
    }
  }
});

test('vma-races: the outcome rule of each race refuses a wrong read, no pin, a lost VMA', () => {
  const ok = { race: RACE_FAULT_VS_MUNMAP, seen: 0, pinned: 0, map_count: 0 };
  assert.equal(judge(ok), undefined);
  assert.equal(judge({ ...ok, seen: -11 }), undefined);
  assert.match(judge({ ...ok, seen: 1 }) ?? '', /returned 1, not 0 or SIGSEGV/);
  const file = { ...ok, race: RACE_UNAUDITED_FAULT, seen: FILE_WORD };
  assert.equal(judge(file), undefined);
  assert.match(judge({ ...file, seen: -11 }) ?? '', /returned -11, not the file's 0x10000002/);
  assert.match(judge({ ...file, seen: 0 }) ?? '', /returned 0x0, not the file's/);
  assert.match(judge({ ...ok, race: RACE_PIN_VS_FORK }) ?? '', /pinned nothing/);
  assert.equal(judge({ ...ok, race: RACE_PIN_VS_FORK, pinned: 4096 }), undefined);
  const splits = { ...ok, race: RACE_DISJOINT_SPLITS, map_count: SPLIT_VMAS };
  assert.equal(judge(splits), undefined);
  assert.match(judge({ ...splits, map_count: 6 }) ?? '', /ends the splits with 6 VMAs, not 7/);
});
