/*
 * mmlab fuzz as a user drives it: bad input refused before any work; a
 * campaign is its seed (the same JSON twice); its shards merge into the
 * whole; a bug put back is found and printed minimized, as a script and a
 * replay string.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mmlab } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mmlab-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('bad input is one line naming it, exit 2, before any work', () => {
  for (const [args, problem] of [
    [['--cpus', '1'], /--cpus must be between 2 and 4, not 1/],
    [['--cpus', '5'], /--cpus must be between 2 and 4, not 5/],
    [['--policy', 'vma-rwsem,nope'], /unknown policy 'nope'/],
    [['--shard', '2/2'], /--shard needs I\/N with 0 <= I < N, not '2\/2'/],
    [['--shard', 'x'], /--shard needs I\/N/],
    [['--variant', 'nope'], /--variant: unknown variant 'nope' \(known: .*cve-2023-3269-stackrot/],
    [['--time', '0'], /--time must be a positive number of seconds, not '0'/],
    [['--programs', '0'], /--programs must be at least 1, not 0/],
    [['--seed', '-1'], /--seed must be a whole number/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
  ] as const) {
    for (const json of [[], ['--json']]) {
      const r = mmlab('fuzz', ...args, ...json);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.out, '');
      assert.equal(r.err.split('\n').length, 2, r.err);
      assert.match(r.err, problem);
    }
  }
});

/* `mmlab fuzz ARGS --json`, its exit status checked, its document without its times. */
function campaign(code: number, ...args: string[]): Record<string, unknown> {
  const r = mmlab('fuzz', ...args, '--json');
  assert.equal(r.code, code, r.err);
  const { elapsed_ms, minimize_ms, ...doc } = JSON.parse(r.out);
  assert.equal(typeof elapsed_ms, 'number');
  assert.equal(typeof minimize_ms, 'number');
  return doc;
}

test('a campaign is its seed, and its shards or jobs merge into it', () => {
  const args = ['--programs', '3', '--seed', '5'];
  const whole = campaign(0, ...args);
  assert.deepEqual(Object.keys(whole).slice(0, 3), ['programs', 'schedules', 'bugs']);
  assert.equal(whole.programs, 3);
  assert.ok((whole.schedules as number) > 0);
  assert.deepEqual(campaign(0, ...args), whole);
  // Run as two processes side by side, the same campaign.
  assert.deepEqual(campaign(0, ...args, '--jobs', '2'), whole);
  const parts = ['0/2', '1/2'].map((shard) => {
    const path = join(dir, `part${shard.replace('/', 'of')}.json`);
    writeFileSync(path, JSON.stringify(campaign(0, ...args, '--shard', shard)));
    return path;
  });
  const m = mmlab('merge', ...parts, '--json');
  assert.equal(m.code, 0, m.err);
  const merged = JSON.parse(m.out);
  assert.deepEqual(
    { programs: merged.programs, schedules: merged.schedules, bugs: merged.bugs },
    { programs: whole.programs, schedules: whole.schedules, bugs: whole.bugs },
  );
  assert.equal(merged.complete, true);
  const text = mmlab('merge', ...parts);
  assert.equal(text.code, 0, text.err);
  assert.match(
    text.out,
    /^2 parts \(all of them\) of a fuzz campaign:\nno bugs: 3 programs, \d+ schedules in .* \[seed 5, 2 CPUs, vma-refcnt\]\n$/,
  );
  // A part of another campaign, or a check part, does not merge with these.
  const other = join(dir, 'other.json');
  writeFileSync(
    other,
    JSON.stringify(campaign(0, '--programs', '1', '--seed', '6', '--shard', '1/2')),
  );
  const r = mmlab('merge', parts[0]!, other);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /^mmlab: .*other\.json: seed 6 differs from .*'s 5: parts of different runs\n$/,
  );
});

test('StackRot put back is found and printed minimized, as a script and a replay string', () => {
  const doc = campaign(1, '--variant', 'cve-2023-3269-stackrot', '--programs', '1');
  const bugs = doc.bugs as Record<string, unknown>[];
  const uaf = bugs.find((b) => b.class === 'use-after-free');
  assert.ok(uaf, JSON.stringify(bugs));
  assert.deepEqual(Object.keys(uaf).slice(0, 4), ['signature', 'class', 'script', 'replay']);
  assert.ok((uaf.commands as number) <= 6, uaf.script as string);
  assert.ok((uaf.commands as number) < (uaf.found_commands as number));
  assert.match(uaf.script as string, /growsdown\n(.*\n)*cpu 0:\n(.*\n)+cpu 1:\n/);
  const signatures = bugs.map((b) => b.signature);
  assert.equal(new Set(signatures).size, signatures.length);
  // The part of one shard is the whole: merge prints it as fuzz does.
  const path = join(dir, 'stackrot.json');
  writeFileSync(path, JSON.stringify(doc));
  const text = mmlab('merge', path);
  assert.equal(text.code, 1, text.err);
  assert.ok(
    text.out.includes(
      `the script (save it as FILE and explore it again: mmlab check --script FILE ${uaf.check}):\n${(uaf.script as string).replace(/^/gm, '    ').trimEnd()}\nreplay: mmlab replay ${uaf.replay}\n`,
    ),
    text.out,
  );
  // Saved to a file, the script is explored again as the line says, and the bug found again.
  const file = join(dir, 'stackrot.txt');
  writeFileSync(file, uaf.script as string);
  assert.match(
    uaf.check as string,
    /^--policy vma-refcnt --variant cve-2023-3269-stackrot --strategy /,
  );
  const again = mmlab('check', '--script', file, ...(uaf.check as string).split(' '), '--json');
  assert.equal(again.code, 1, again.err);
  const met = (JSON.parse(again.out) as { bugs: { signature: string }[] }).bugs;
  assert.ok(
    met.some((b) => b.signature === uaf.signature),
    `${uaf.check}: ${JSON.stringify(met)}`,
  );
  const replay = mmlab('replay', uaf.replay as string);
  assert.equal(replay.code, 1, replay.err);
  assert.match(replay.out, /^BUG: use-after-free: /);
});
