/*
 * The timeline page of `mmlab check --html`: drawn from real bugs the
 * explorer finds, and checked for what a reader of the page needs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BugReport, Explorer } from '../../src/check/explorer.js';
import { make_config } from '../../src/check/kernel.js';
import { decode_replay } from '../../src/check/replay.js';
import { scenario as selftest } from '../../src/check/scenarios/lock_selftest.js';
import { scenario as vma_races } from '../../src/check/scenarios/vma_races.js';
import { Directed, parse_phases, RandomWalk } from '../../src/check/strategy.js';
import { timeline_html } from '../../src/check/timeline.js';
import { VARIANT_BROKEN_SPINLOCK } from '../../src/kernel/locking/spinlock.js';
import type { StepRecord, Strategy } from '../../src/runtime/executors/explore.js';

/** Explore until a bug; its traced replay, as `mmlab check --html` draws it. */
function found(ex: Explorer, strategy: Strategy): { bug: BugReport; trace: readonly StepRecord[] } {
  const r = ex.check(strategy);
  assert.ok(r.bug, 'the explorer finds the bug');
  const rec = decode_replay(r.bug.replay);
  return { bug: r.bug, trace: ex.trace(rec.choices, rec.hash).trace };
}

function broken_spinlock() {
  const ex = new Explorer(
    selftest,
    make_config(selftest, { variant: VARIANT_BROKEN_SPINLOCK, params: { cases: 1, iters: 2 } }),
  );
  return { ex, ...found(ex, new RandomWalk(1, 1000)) };
}

// Seed 000: the reader's up_read() outside RCU touches the VMA that the
// RCU callback freed (test/check/scenarios/vma_races.test.ts).
const SEED000 =
  '1:fetch_add:vm_lock.count,0:xchg:task_struct[0].__state,1:+1,1:cmpxchg:vm_lock.wait_lock,0:*,2:*,0:*,1:*';

function use_after_free() {
  const ex = new Explorer(
    vma_races,
    make_config(vma_races, { policy: 'vma-rwsem', variant: 'seed000-up-read-without-rcu' }),
  );
  return { ex, ...found(ex, new Directed(parse_phases(SEED000))) };
}

function unescape_html(s: string): string {
  return s
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&');
}

/** The text of every element `<TAG class="CLS...">TEXT</TAG>`, unescaped. */
function texts(html: string, tag: string, cls: string): string[] {
  const re = new RegExp(`<${tag} class="${cls}[^"]*"[^>]*>([^<]*)</${tag}>`, 'g');
  return [...html.matchAll(re)].map((m) => unescape_html(m[1]!));
}

/** The tooltips of the elements of class `cls` (the element's first child <title>). */
function tooltips(html: string, cls: string): string[] {
  const re = new RegExp(`<\\w+ class="${cls}"[^>]*><title>([^<]*)</title>`, 'g');
  return [...html.matchAll(re)].map((m) => unescape_html(m[1]!));
}

/* Every tag closed in order (void <meta> aside), every '<' the start of a tag. */
function assert_well_formed(html: string): void {
  assert.ok(html.startsWith('<!DOCTYPE html>\n<html lang="en">'));
  assert.ok(html.trimEnd().endsWith('</html>'));
  assert.doesNotMatch(html, /<(?![a-zA-Z/!])/, "a '<' that starts no tag");
  const open: string[] = [];
  for (const m of html.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, self_closing] = m as unknown as [string, string, string, string];
    if (self_closing || name === 'meta') continue;
    if (!closing) open.push(name);
    else assert.equal(open.pop(), name, `</${name}> closes <${open.at(-1)}>`);
  }
  assert.deepEqual(open, []);
}

test('an exclusion bug: a lane per task, lock bars, the faulty step in red, the replay', () => {
  const { ex, bug, trace } = broken_spinlock();
  const html = timeline_html(ex, trace, bug, 'lock-selftest --variant broken-spinlock');
  assert_well_formed(html);
  assert.equal(html.match(/<html/g)?.length, 1, 'one document');
  assert.equal(html.match(/<svg class="timeline"/g)?.length, 1);
  assert.doesNotMatch(html, /<script|\b(src|href)=|url\(|@import/, 'nothing external');

  const ran = [...new Set(trace.map((s) => s.task))]
    .sort((a, b) => a - b)
    .map((t) => ex.exec.task_name(t));
  assert.deepEqual(texts(html, 'text', 'lane-label'), ran);
  assert.deepEqual(texts(html, 'text', 'lane-label bug-task'), [bug.task]);

  assert.ok(html.includes(`<span class="cls">${bug.class}</span>`));
  assert.equal(bug.class, 'exclusion');
  assert.ok(html.includes(`mmlab replay ${bug.replay}`));

  // The faulty access: the last step, by the task that found the bug, in red.
  const last = trace.at(-1)!;
  assert.equal(ex.exec.task_name(last.task), bug.task);
  const [fault] = tooltips(html, 'fault');
  assert.ok(fault?.startsWith(`exclusion: ${bug.message}`), fault);
  assert.ok(fault.includes(`${bug.task} step ${last.step}: spin_lock: lock_acquire`), fault);

  // Both CPUs hold the spinlock for write at once: a bar on each lane.
  const held = tooltips(html, 'lock lock-w').filter((t) =>
    t.includes('lock_selftest.lock (write)'),
  );
  assert.deepEqual(
    [...new Set(held.map((t) => t.split(' ')[0]))].sort(),
    ['cpu0', 'cpu1'],
    held.join('\n'),
  );
  // Every step has a mark whose tooltip names its task, step and kernel function.
  for (const s of trace) {
    const tip = `${ex.exec.task_name(s.task)} step ${s.step}: ${s.where[0]}: `;
    assert.ok(html.includes(tip), tip);
  }
  assert.ok(html.includes('<pre class="table">'), 'the per-CPU table of the last steps');
});

test('messages, titles and names are escaped', () => {
  const { ex, bug, trace } = broken_spinlock();
  const evil: BugReport = { ...bug, class: 'x<y', message: 'a<b & "c" \'d\'' };
  const html = timeline_html(ex, trace, evil, '<mmlab> & co');
  assert_well_formed(html);
  assert.ok(html.includes('a&lt;b &amp; &quot;c&quot; &#39;d&#39;'));
  assert.ok(html.includes('<title>&lt;mmlab&gt; &amp; co</title>'));
  assert.ok(html.includes('x&lt;y'));
  assert.ok(!html.includes('a<b') && !html.includes('<mmlab>') && !html.includes('x<y'));
});

test('a use-after-free: the freed object lifetime with its allocation, free and generations', () => {
  const { ex, bug, trace } = use_after_free();
  assert.equal(bug.class, 'use-after-free');
  const m = /(vm_area_struct@0x[0-9a-f]+)\.[\w.]+ \(gen (\d+)\) by cpu1/.exec(bug.message);
  assert.ok(m, bug.message);
  const [, vma, gen_text] = m as unknown as [string, string, string];
  const freed_gen = Number(gen_text);

  const html = timeline_html(ex, trace, bug, 'vma-races seed 000');
  assert_well_formed(html);
  assert.ok(texts(html, 'text', 'obj-label').includes(vma), 'a row for the freed VMA');

  const allocs = tooltips(html, 'alloc-mark').filter((t) => t.startsWith(`${vma} `));
  assert.equal(allocs.length, 1, allocs.join('\n'));
  assert.match(allocs[0]!, new RegExp(`allocated \\(now gen ${freed_gen - 1}\\) by cpu0 at step`));
  assert.match(allocs[0]!, /vm_area_alloc/);

  const frees = tooltips(html, 'free-mark').filter((t) => t.startsWith(`${vma} `));
  assert.equal(frees.length, 1, frees.join('\n'));
  assert.match(frees[0]!, new RegExp(`freed \\(now gen ${freed_gen}\\) by rcu_gp_kthread`));
  const notes = texts(html, 'text', 'obj-note');
  assert.ok(
    notes.some((n) => n.startsWith(`alloc gen ${freed_gen - 1} · cpu0`)),
    notes.join('\n'),
  );
  assert.ok(notes.some((n) => n.startsWith(`free → gen ${freed_gen} · rcu_gp_kthread`)));

  // The stale access is red on cpu1's lane and on the object's row, after the free.
  assert.ok(html.includes('class="obj-access fault"'));
  const [fault] = tooltips(html, 'fault');
  assert.ok(fault?.includes(`cpu1 step ${trace.at(-1)!.step}: spin_lock: cmpxchg ${vma}.`), fault);
});

test('a long trace without a bug stays drawable: the steps before the last ones are squeezed', () => {
  const ex = new Explorer(selftest, make_config(selftest, { params: { iters: 40 } }));
  const walk = new RandomWalk(3, 1);
  walk.begin(0);
  const out = ex.exec.run(walk);
  assert.equal(out.bug, null);
  const { trace } = ex.trace(out.choices, out.hash);
  assert.ok(trace.length > 5000, `${trace.length} steps`);

  const html = timeline_html(ex, trace, null, 'lock-selftest');
  assert_well_formed(html);
  assert.ok(html.includes(`No bug: a trace of ${trace.length} steps.`));
  const width_px = Number(/<svg class="timeline"[^>]* width="(\d+)"/.exec(html)?.[1]);
  assert.ok(width_px > 0 && width_px < 6000, `${width_px} px wide`);
  assert.ok(html.length < 2_000_000, `${html.length} bytes`);
  const last = trace.at(-1)!;
  assert.ok(html.includes(`${ex.exec.task_name(last.task)} step ${last.step}: `));
  assert.match(html, /steps 0–\d+ squeezed/);
});
