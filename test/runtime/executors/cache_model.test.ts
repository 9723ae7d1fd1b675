/*
 * The cache model's line serialisation as the timing executor uses it
 * (src/runtime/executors/cache_model.ts, timing.ts): an access to a line
 * busy with another CPU's transfer or RMW is performed when the line is
 * free (its holder's hits go on until then), so a cmpxchg compares the
 * value in memory then, and N CPUs looping on one word's cmpxchg, served
 * in turn, fail at most (N-1)/2 times a success; request_ns() says when an access may be performed,
 * reserves a busy line in the order asked and counts the wait, and a hit
 * never waits.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { make_config, run_timing } from '../../../src/check/kernel.js';
import {
  ACCESS_READ,
  ACCESS_RMW,
  ACCESS_WRITE,
  CacheModel,
} from '../../../src/runtime/executors/cache_model.js';
import { PROFILES } from '../../../src/runtime/executors/timing_costs.js';
import { defineStruct } from '../../../src/runtime/layout.js';
import type { KernelContext, KGen } from '../../../src/runtime/ops.js';
import type { RunConfig, Scenario } from '../../../src/runtime/scenario.js';

const HW = PROFILES.hw;

const C = defineStruct('cmpxchg_test', {
  count: 'none: updated only by cmpxchg',
  failures: 'none: updated only atomically',
  seen: 'none: written by cpu0 alone',
});

/* Every CPU adds 1 to `count` n times, each by a load and a cmpxchg loop, as __down_read_trylock() does. */
const LOOP = 1;
/*
 * cpu0 fetch_adds `count` and then reads it back into `seen`; cpu1 reads
 * `count` and cpu2 stores 7 to it, both from time 0, so both wait for
 * cpu0's miss.
 */
const HOLDER = 2;

const scenario: Scenario<{ g: number }> = {
  name: 'line-wait',
  description: 'CPUs waiting for one busy line',
  module: import.meta.url,
  variants: [],
  default_cpus: 2,
  max_cpus: 16,
  params: { mode: LOOP, n: 50 },
  memory_words: 1 << 14,
  kthreads: [],
  setup(m) {
    return { g: m.boot_alloc(C.$, 'cmpxchg_test') };
  },
  *cpu(k: KernelContext, { g }, cfg: RunConfig): KGen {
    if (cfg.params.mode === HOLDER) {
      if (k.cpu === 0) {
        yield k.fetch_add(g + C.count, 1);
        yield k.store(g + C.seen, yield k.load(g + C.count));
      } else if (k.cpu === 1) {
        yield k.load(g + C.count);
      } else {
        yield k.store(g + C.count, 7);
      }
      return;
    }
    for (let i = 0; i < cfg.params.n!; i++) {
      let old = yield k.load(g + C.count);
      for (;;) {
        const seen = yield k.cmpxchg(g + C.count, old, old + 1);
        if (seen === old) break;
        old = seen;
        yield k.fetch_add(g + C.failures, 1);
      }
    }
  },
  report: (m, _sys, { g }) => ({
    count: m.words[g + C.count]!,
    failures: m.words[g + C.failures]!,
    seen: m.words[g + C.seen]!,
  }),
  check() {},
};

function run(cpus: number, params: Record<string, number>) {
  const cfg = make_config(scenario as Scenario, { cpus, params });
  return run_timing(scenario, cfg, { profile: HW });
}

test('a store waiting for a busy line lands when the line is free for it: the holder meanwhile reads its own value', () => {
  const r = run(3, { mode: HOLDER });
  assert.equal(r.bug, null);
  // cpu1's read is served first (it began waiting first), sharing the line
  // with cpu0; cpu2's store waits for that transfer, and cpu0, a sharer,
  // reads the line in its own cache before the store reaches cpu2's.
  assert.equal(r.report.seen, 1);
  assert.equal(r.report.count, 7);
  const first_ns = HW.memory_ns + HW.rmw_ns;
  assert.equal(r.clocks_ns[1], first_ns + HW.line_transfer_ns + HW.step_ns);
  assert.ok(r.clocks_ns[2]! > r.clocks_ns[1]!, 'the store waited for the read');
});

test('CPUs cmpxchg-looping on one word, served first come first served, fail at most (N-1)/2 times a success', () => {
  const n = 50;
  for (const cpus of [2, 16]) {
    const r = run(cpus, { mode: LOOP, n });
    assert.equal(r.bug, null);
    assert.equal(r.report.count, cpus * n);
    const per_success = r.report.failures! / (cpus * n);
    assert.ok(
      per_success <= (cpus - 1) / 2,
      `${cpus} CPUs: ${per_success} failed cmpxchgs a success`,
    );
  }
});

test('request_ns: a hit or a free line goes at once; a busy line is reserved, first come first served', () => {
  const { memory_ns, rmw_ns, line_transfer_ns } = HW;
  const cache = new CacheModel(1024, 3, HW);
  assert.equal(cache.request_ns(0, 0, 0, ACCESS_RMW), 0, 'a free line');
  const first_ns = cache.access(0, 0, 0, ACCESS_RMW);
  assert.equal(first_ns, memory_ns + rmw_ns);
  // cpu0 holds the line: its own accesses go at once, and nothing is counted as a stall.
  assert.equal(cache.request_ns(0, 0, 1, ACCESS_WRITE), 1);
  assert.equal(cache.rmw_stall_ns, 0);
  // cpu1 and then cpu2 ask while cpu0's RMW holds it: served in turn, each wait a stall.
  assert.equal(cache.request_ns(1, 0, 10, ACCESS_READ), first_ns);
  const second_ns = first_ns + line_transfer_ns;
  assert.equal(cache.request_ns(2, 0, 20, ACCESS_RMW), second_ns);
  assert.equal(cache.rmw_stall_ns, first_ns - 10 + (second_ns - 20));
  // Reserving moved no line: cpu0 still hits until cpu1's access is performed.
  assert.equal(cache.transfers, 0);
  assert.equal(cache.request_ns(0, 0, 30, ACCESS_READ), 30);
  // Performed at their turns, each ends where its reservation does.
  assert.equal(cache.request_ns(1, 0, first_ns, ACCESS_READ), first_ns, 'its turn');
  assert.equal(cache.access(1, 0, first_ns, ACCESS_READ), second_ns);
  assert.equal(cache.access(2, 0, second_ns, ACCESS_RMW), second_ns + line_transfer_ns + rmw_ns);
  assert.equal(cache.transfers, 2);
});

test('contended(): the lines waited for longest, longest first, with their waits and transfers', () => {
  const cache = new CacheModel(1024, 3, HW);
  const end_ns = cache.access(0, 0, 0, ACCESS_RMW);
  // cpu1 waits for line 0 (busy with cpu0's miss); line 16 is touched by one CPU only.
  cache.access(1, 0, 1, ACCESS_RMW);
  cache.access(2, 16, 0, ACCESS_WRITE);
  assert.deepEqual(cache.contended(8), [{ addr: 0, stall_ns: end_ns - 1, transfers: 1 }]);
});

test('hold(): a lock kept on its line makes the next taker wait until it is released', () => {
  const { line_transfer_ns, rmw_ns } = HW;
  const cache = new CacheModel(1024, 2, HW);
  const taken_ns = cache.access(0, 0, 0, ACCESS_RMW);
  cache.hold(0, taken_ns + 500);
  assert.equal(cache.access(1, 0, 10, ACCESS_RMW), taken_ns + 500 + line_transfer_ns + rmw_ns);
  assert.equal(cache.contended(1)[0]!.stall_ns, taken_ns + 500 - 10);
});
