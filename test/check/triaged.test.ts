/*
 * The races triaged as Linux's own (src/check/triaged.ts): reported once,
 * and gone past wherever a search looks further, so that what follows
 * them in a schedule is searched too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { decode_replay } from '../../src/check/replay.js';
import { ReplayMismatch, replay_schedule } from '../../src/check/replay_schedule.js';
import { Directed, parse_phases } from '../../src/check/strategy.js';
import { past_triaged, triage_of } from '../../src/check/triaged.js';
import { find_scenario } from '../../src/scenarios/index.js';

/* docs/explorer.md's schedule of the triage: the reader stops at its read of vm_lock_seq, the writer recycles the VMA under it. */
const MEMSET_RACE = '0:read_once:vm_lock_seq,1:memset:vm_area_struct,1:+1,0:+1,0:*,1:*,2:*';
const s = find_scenario('vma-recycle');
const cfg = make_config(s, { policy: 'vma-refcnt' });

const directed = () => new Directed(parse_phases(MEMSET_RACE));

function search(budget: { bug_class?: string; keep_going?: boolean }) {
  return new Explorer(s, cfg).check(directed(), budget);
}

test("a search for every bug stops at the memset race; one for another class goes on past it to the schedule's end", () => {
  const r = search({});
  assert.equal(r.bug?.class, 'data-race');
  assert.notEqual(triage_of(r.bug!.signature, 'vma-refcnt'), undefined);
  assert.equal(decode_replay(r.bug!.replay).past_triaged, false);
  const past = search({ bug_class: 'use-after-free' });
  assert.equal(past.bug, null);
  assert.equal(past.schedules, 1);
  // The same schedule, run on past the race: the reader finds the VMA recycled and retries, the writer ends.
  assert.ok(past.steps > r.steps + 100, `${past.steps} steps against ${r.steps}`);
  // Where the search looks for races alone, it stops at the triaged one as before.
  assert.equal(search({ bug_class: 'data-race' }).bug?.class, 'data-race');
});

test('kept going, a search runs the schedule past the race and reports the race once, from the schedule cut at it', () => {
  const r = search({ keep_going: true });
  assert.equal(r.steps, search({ bug_class: 'use-after-free' }).steps);
  assert.equal(r.bugs.length, 1);
  assert.equal(r.bug?.class, 'data-race');
  const rec = decode_replay(r.bug!.replay);
  assert.equal(rec.past_triaged, false);
  assert.equal(replay_schedule(s, cfg, rec).bug?.signature, r.bug!.signature);
});

test("a schedule that went past the race replays only past it (its replay string's kcsan=past-triaged)", () => {
  const ex = new Explorer(s, cfg);
  ex.check(directed(), { bug_class: 'use-after-free' });
  const d = directed();
  d.begin(0);
  const out = ex.exec.run(d);
  assert.equal(out.bug, null);
  const rec = { choices: out.choices, hash: out.hash };
  assert.equal(replay_schedule(s, cfg, { ...rec, past_triaged: true }).bug, null);
  assert.throws(() => replay_schedule(s, cfg, { ...rec, past_triaged: false }), ReplayMismatch);
});

test('the races passed over are the triaged fields of the policy alone', () => {
  assert.deepEqual([...past_triaged('vma-refcnt')].sort(), [
    'vm_area_struct.vm_lock_seq',
    'vm_area_struct.vm_refcnt.refs',
  ]);
  assert.equal(past_triaged('vma-rwsem').size, 0);
});
