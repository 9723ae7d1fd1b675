/*
 * What the scenario tests share: a scenario explored clean under every
 * policy (random schedules, then every schedule with one preemption up to
 * reordering), and a seed variant found by bounded DFS.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedDfs } from '../../src/check/dfs.js';
import { type CheckResult, Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { RandomWalk } from '../../src/check/strategy.js';
import { POLICIES } from '../../src/kernel/mm/policy.js';
import type { Scenario } from '../../src/runtime/scenario.js';

export interface CleanOpts {
  readonly params?: Record<string, number>;
  readonly cpus?: number;
  /** Random schedules per policy. */
  readonly schedules?: number;
  /** Schedules the DFS at bound 1 may take per policy (it stops earlier when it is done). */
  readonly dfs_schedules?: number;
}

/** What make_config() takes. */
export interface Cfg {
  readonly policy: string;
  readonly cpus?: number;
  readonly variant?: string;
  readonly params?: Record<string, number>;
}

/** `schedules` random schedules of `s` (test/helpers' explore(), with a policy). */
export function explore_random(s: Scenario, cfg: Cfg, schedules: number, seed = 7): CheckResult {
  return new Explorer(s, make_config(s, cfg)).check(new RandomWalk(seed, schedules));
}

/**
 * One test per policy: `s` on the fixed kernel explores clean, random
 * schedules and then DFS at bound 1. `label` names the tests.
 */
export function test_clean(label: string, s: Scenario, opts: CleanOpts = {}): void {
  const { params = {}, schedules = 300, dfs_schedules = 2000 } = opts;
  for (const policy of POLICIES) {
    test(`${label}: clean under ${policy}`, () => {
      const cfg: Cfg = { policy, params, ...(opts.cpus === undefined ? {} : { cpus: opts.cpus }) };
      const r = explore_random(s, cfg, schedules);
      assert.equal(r.bug, null, `random: ${r.bug?.class}: ${r.bug?.message} ${r.bug?.replay}`);
      const d = new Explorer(s, make_config(s, cfg)).check(new BoundedDfs(1, dfs_schedules));
      assert.equal(d.bug, null, `dfs: ${d.bug?.class}: ${d.bug?.message} ${d.bug?.replay}`);
    });
  }
}

/** Bounded DFS (up to three preemptions) on `variant`: what it found. */
export function dfs_find(
  s: Scenario,
  policy: string,
  variant: string,
  params: Record<string, number> = {},
): CheckResult {
  return new Explorer(s, make_config(s, { policy, variant, params })).check(
    new BoundedDfs(3, 20000),
    { time_ms: 20000 },
  );
}
