/*
 * Every `$ mmlab ...` example of README.md and docs/*.md, run against the
 * built mmlab (how a page marks a budget or a skip: examples.ts). What must
 * match the page:
 *   - the exit status its output implies (1 for a bug or a mismatch);
 *   - its facts: the verdict (`clean` or `BUG: CLASS`), the object and
 *     field a bug names, the trace hash, the preemption bound a DFS proved,
 *     whether a merge had all its parts, the number of mismatches;
 *   - `mmlab run`, deterministic: every line shown, in order;
 *   - `stress`, `bench`, `check --catalogue`, whose figures are this
 *     machine's: every line printed starts as a line shown does (numbers
 *     aside), so a smaller budget may print fewer rows.
 * Each page's commands run in order in a directory of their own, where
 * `cat` and `>` leave the files later commands read.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type Example, examples, facts, implied_exit, run_line, type Shown } from './examples.js';

const ROOT = new URL('../../', import.meta.url);

const PAGES = [
  'README.md',
  ...readdirSync(new URL('docs/', ROOT))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

/* Where the Linux oracle runs: Linux on x86-64, with cc to build it (src/oracle/linux.ts). */
const ORACLE =
  process.platform === 'linux' &&
  process.arch === 'x64' &&
  spawnSync('cc', ['--version']).status === 0;

/* The first word of a line, numbers masked: the form of a table row or a counter line. */
function form(line: string): string {
  return (line.trim().split(/\s+/)[0] ?? '').replace(/\d[\d,.]*/g, '#');
}

/* Commands whose lines carry this machine's figures: only their form is compared. */
function shows_figures(command: string): boolean {
  return /^mmlab (stress|bench)\b|--catalogue\b/.test(command);
}

/** Assert that `got`, the run of example `ex`, still shows what the page shows. */
function assert_shows(ex: Example, got: Shown): void {
  const want = facts(ex.expected.join('\n'));
  const have = facts(got.out);
  for (const [name, value] of want)
    assert.equal(have.get(name), value, `${ex.where}: the ${name} drifted\n${got.out}`);
  assert.equal(got.code, implied_exit(want), `${ex.where}: exit status\n${got.out}`);
  const shown = ex.expected.filter((l) => l.trim() !== '...');
  const lines = got.out.split('\n').filter((l) => l.trim() !== '');
  if (ex.command.startsWith('mmlab run ')) {
    let at = 0;
    for (const l of shown) {
      const i = lines.indexOf(l, at);
      assert.ok(i >= 0, `${ex.where}: the line '${l}' is not printed (in order)\n${got.out}`);
      at = i + 1;
    }
  } else if (shows_figures(ex.command)) {
    const forms = new Set(shown.map(form));
    for (const l of lines)
      assert.ok(forms.has(form(l)), `${ex.where}: a line of no form shown: '${l}'`);
  }
}

for (const page of PAGES) {
  const all = examples(page, readFileSync(new URL(page, ROOT), 'utf8'));
  if (all.length === 0) continue;
  describe(page, () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-docs-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    for (const ex of all) {
      const m = ex.marker;
      const skip =
        m.kind === 'skip'
          ? m.reason
          : m.oracle && !ORACLE
            ? 'the Linux oracle needs Linux on x86-64 and cc'
            : false;
      test(`${ex.where}: $ ${ex.command.slice(0, 90)}`, { skip }, () => {
        const extra = m.kind === 'run' ? m.args : [];
        const got = run_line(dir, ex.command, ex.expected, extra);
        assert_shows(ex, got);
      });
    }
  });
}

test('every page has examples to run, and every skip says why', () => {
  const all = PAGES.flatMap((p) => examples(p, readFileSync(new URL(p, ROOT), 'utf8')));
  assert.ok(all.filter((e) => e.command.startsWith('mmlab ')).length >= 10);
  for (const e of all)
    if (e.marker.kind === 'skip') assert.ok(e.marker.reason.length > 10, `${e.where}: no reason`);
});

test('examples are read from fenced and indented blocks, with markers and continuations', () => {
  const page = [
    '<!-- test: --schedules 5 -->',
    '```console',
    '$ mmlab check x \\',
    '    --seed 2',
    'clean: x',
    '...',
    '$ cat s.txt',
    'read 0',
    '```',
    '',
    '    $ mmlab run s.txt',
    '    = 0x00000000',
    '',
    '<!-- test: skip for a reason -->',
    '    $ mmlab report',
  ].join('\n');
  const ex = examples('p.md', page);
  assert.deepEqual(
    ex.map((e) => [e.where, e.command, e.expected, e.marker]),
    [
      [
        'p.md:3',
        'mmlab check x --seed 2',
        ['clean: x', '...'],
        { kind: 'run', oracle: false, args: ['--schedules', '5'] },
      ],
      [
        'p.md:7',
        'cat s.txt',
        ['read 0'],
        { kind: 'run', oracle: false, args: ['--schedules', '5'] },
      ],
      ['p.md:11', 'mmlab run s.txt', ['= 0x00000000'], { kind: 'run', oracle: false, args: [] }],
      ['p.md:15', 'mmlab report', [], { kind: 'skip', reason: 'for a reason' }],
    ],
  );
  const f = facts(
    'BUG: use-after-free: KASAN: ... cmpxchg of vm_area_struct@0x5410.vm_lock.wait_lock.val (gen 2) by cpu1\nreplay: mmlab replay m1:a:b:0x1:d19c9bea',
  );
  assert.deepEqual(Object.fromEntries(f), {
    verdict: 'BUG: use-after-free',
    field: 'vm_area_struct.vm_lock.wait_lock.val',
    hash: 'd19c9bea',
  });
  assert.equal(implied_exit(f), 1);
});
