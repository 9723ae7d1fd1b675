import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_COMMANDS, random_script } from '../../src/oracle/gen.js';
import { MAX_PREDICATE_CALLS, minimize_script } from '../../src/oracle/minimize.js';
import { Rng } from '../../src/scenarios/random.js';
import {
  type Command,
  HEAP_START,
  is_outside,
  type Line,
  PAGE_SIZE,
  type Prot,
  type Script,
  WINDOW_BYTES,
} from '../../src/script/ast.js';
import { parse_script } from '../../src/script/parse.js';

const WINDOW_PAGES = WINDOW_BYTES / PAGE_SIZE;
const THP_PAGES = 512;

function generate(seed: number, commands?: number): Script {
  return parse_script(random_script(new Rng(seed), commands === undefined ? {} : { commands }));
}

/** Seeds 1..300, generated once for the coverage tests. */
const corpus = Array.from({ length: 300 }, (_, i) => generate(i + 1));

/** The features of one command that the generator must reach. */
function features(c: Command, s: Script): string[] {
  const f: string[] = [c.op];
  switch (c.op) {
    case 'mmap': {
      const kind = `${c.shared ? 'shared' : 'private'} ${c.file === null ? 'anon' : 'file'}`;
      f.push(kind, c.addr === null ? 'mmap -' : 'mmap ADDR');
      if (c.addr !== null && !c.fixed && !c.noreplace) f.push('mmap hint');
      if (c.off !== 0) f.push(`${kind} off=`);
      for (const flag of ['fixed', 'noreplace', 'populate', 'growsdown'] as const) {
        if (c[flag]) f.push(`${kind} ${flag}`);
      }
      if (c.fixed && c.noreplace) f.push('mmap fixed noreplace');
      if (c.pages % THP_PAGES === 0 && c.pages > 0) f.push('mmap 2 MiB multiple');
      if (c.fixed && c.addr !== null && c.addr % (THP_PAGES * PAGE_SIZE) === 0) {
        f.push('mmap fixed 2 MiB-aligned');
      }
      const file = s.files.find((x) => x.name === c.file);
      if (file?.secret) f.push(`${kind} secret`);
      if (file !== undefined && c.off + c.pages > file.pages) f.push('mmap past EOF');
      if (file !== undefined && c.off >= file.pages) f.push('mmap off= at or past EOF');
      break;
    }
    case 'mremap':
      if (c.new_pages > 0 && c.new_pages < c.old_pages) f.push('mremap shrink');
      if (c.new_pages > c.old_pages) f.push('mremap grow');
      if (c.old_pages === 0) f.push('mremap old size 0');
      if (c.maymove) f.push('mremap maymove');
      if (c.dontunmap) f.push('mremap dontunmap');
      if (c.maymove && c.dontunmap && c.old_pages === c.new_pages) f.push('mremap valid dontunmap');
      if (c.fixed !== null) f.push('mremap fixed=');
      break;
    case 'read':
    case 'write':
      if (c.addr % PAGE_SIZE > PAGE_SIZE - 4) f.push('access straddles pages');
      if (c.addr % 4 !== 0) f.push('access unaligned');
      break;
    case 'file':
      if (c.pages > 512) f.push('large file');
      break;
    case 'brk':
      if (c.addr < HEAP_START) f.push('brk below the heap');
      break;
    default:
      break;
  }
  if ('pages' in c) {
    if (c.pages === 0) f.push(`${c.op} 0 pages`);
    if (c.pages > 16 && c.pages <= 512) f.push('pages 17-512');
    if (c.pages > WINDOW_PAGES) f.push('pages past the window');
  }
  if (c.op !== 'read' && c.op !== 'write' && 'addr' in c && c.addr !== null) {
    if (c.addr % PAGE_SIZE !== 0) f.push(`${c.op} unaligned`);
  }
  if (is_outside(c)) f.push(`${c.op} OUTSIDE`);
  return f;
}

/** A mapping made with `fixed`, where the script itself says where it is. */
interface Fixed {
  readonly pid: number;
  readonly start: number;
  readonly end: number;
  readonly prot: Prot;
  /** The address where the mapped file ends, or null for anonymous memory. */
  readonly eof: number | null;
}

/**
 * Features of a whole script that depend on more than one line. Whether a
 * fixed mapping still stands when a later line runs is not checked: these
 * show where the generator aims, not what the kernel does.
 */
function script_features(s: Script): string[] {
  const f: string[] = [];
  /** parent[N] is the process that forked pN. */
  const parent = [-1];
  const fixed: Fixed[] = [];
  const writes: { pid: number; addr: number }[] = [];
  for (const { pid, cmd } of s.lines) {
    if (pid > 0) f.push('command to a child');
    if (cmd.op === 'fork') parent.push(pid);
    if (cmd.op === 'exit' && parent.includes(pid)) f.push('a parent exits');
    if (cmd.op === 'read' || cmd.op === 'write') {
      const m = fixed.findLast((x) => x.pid === pid && x.start <= cmd.addr && cmd.addr < x.end);
      if (m !== undefined) {
        if (cmd.op === 'write' && !m.prot.write) f.push('write to read-only');
        if (!m.prot.read && !m.prot.write && !m.prot.exec) f.push('access to PROT_NONE');
        if (m.eof !== null && cmd.addr + 4 > m.eof) f.push('access past EOF');
      }
    }
    if (cmd.op === 'write') writes.push({ pid, addr: cmd.addr });
    // COW after fork, or a shared mapping seen from both sides.
    if (cmd.op === 'read' && writes.some((w) => parent[w.pid] === pid && w.addr === cmd.addr)) {
      f.push('a child writes, its parent reads there');
    }
    if ('pages' in cmd && 'addr' in cmd && cmd.addr !== null) {
      const start = cmd.addr;
      const end = start + cmd.pages * PAGE_SIZE;
      for (const m of fixed.filter((x) => x.pid === pid && start < x.end && end > x.start)) {
        f.push(
          start >= m.start && end <= m.end ? 'range inside a mapping' : 'range across a mapping',
        );
      }
      if (cmd.op === 'mmap' && cmd.fixed) {
        const file = s.files.find((x) => x.name === cmd.file);
        const eof = file === undefined ? null : start + (file.pages - cmd.off) * PAGE_SIZE;
        fixed.push({ pid, start, end, prot: cmd.prot, eof });
      }
    }
  }
  return f;
}

test('1000 random scripts parse, each with the asked number of commands', () => {
  for (let seed = 1; seed <= 1000; seed++) {
    const s = generate(seed);
    assert.equal(s.lines.length, DEFAULT_COMMANDS, `seed ${seed}`);
    assert.ok(
      s.lines.every((l) => l.pid < 6),
      `seed ${seed}: at most 6 processes`,
    );
  }
  for (const commands of [0, 1, 5, 400]) {
    for (let seed = 1; seed <= 20; seed++) {
      assert.equal(generate(seed, commands).lines.length, commands);
    }
  }
});

test('across 300 scripts every command, flag and edge case appears', () => {
  const seen = new Set<string>();
  for (const s of corpus) {
    for (const { cmd } of s.lines) for (const f of features(cmd, s)) seen.add(f);
    for (const f of script_features(s)) seen.add(f);
  }
  const kinds = ['private anon', 'private file', 'shared anon', 'shared file'];
  const expected = [
    ...['file', 'mmap', 'munmap', 'mprotect', 'mremap', 'madvise', 'brk', 'write', 'read'],
    ...['fork', 'exit'],
    ...kinds,
    ...kinds.flatMap((k) =>
      ['fixed', 'noreplace', 'populate', 'growsdown'].map((f) => `${k} ${f}`),
    ),
    'private file off=',
    'shared file off=',
    'private file secret',
    'shared file secret',
    ...['mmap -', 'mmap hint', 'mmap fixed noreplace', 'mmap fixed 2 MiB-aligned'],
    ...['mmap 2 MiB multiple', 'mmap past EOF', 'mmap off= at or past EOF', 'large file'],
    ...['mremap shrink', 'mremap grow', 'mremap old size 0', 'mremap maymove'],
    ...['mremap dontunmap', 'mremap valid dontunmap', 'mremap fixed='],
    ...['mmap unaligned', 'munmap unaligned', 'mprotect unaligned', 'madvise unaligned'],
    ...['mremap unaligned', 'access straddles pages', 'access unaligned'],
    ...['mmap 0 pages', 'munmap 0 pages', 'mprotect 0 pages', 'madvise 0 pages'],
    ...['pages 17-512', 'pages past the window'],
    ...['mmap OUTSIDE', 'munmap OUTSIDE', 'mprotect OUTSIDE', 'madvise OUTSIDE'],
    ...['mremap OUTSIDE', 'brk OUTSIDE', 'read OUTSIDE', 'write OUTSIDE'],
    ...['brk unaligned', 'brk below the heap'],
    ...['command to a child', 'a parent exits', 'a child writes, its parent reads there'],
    ...['range inside a mapping', 'range across a mapping'],
    ...['write to read-only', 'access to PROT_NONE', 'access past EOF'],
  ];
  assert.deepEqual(
    expected.filter((f) => !seen.has(f)),
    [],
  );
});

test('OUTSIDE stays rare, reads and writes common, most scripts fork', () => {
  const lines = corpus.flatMap((s) => s.lines);
  const share = (p: (l: Line) => boolean) => lines.filter(p).length / lines.length;
  const out = share((l) => is_outside(l.cmd));
  assert.ok(out > 0.01 && out < 0.08, `OUTSIDE ${out}`);
  const accesses = share((l) => l.cmd.op === 'read' || l.cmd.op === 'write');
  assert.ok(accesses > 0.25 && accesses < 0.5, `read/write ${accesses}`);
  const forks = corpus.filter((s) => s.lines.some((l) => l.cmd.op === 'fork')).length;
  assert.ok(forks > 150, `${forks} of 300 scripts fork`);
});

test('secret files come from a stream of their own: without them a seed gives the same script but for those words', () => {
  let secret = 0;
  let shared = 0;
  for (let seed = 0; seed < 200; seed++) {
    const text = random_script(new Rng(seed)).split('\n');
    const plain = random_script(new Rng(seed), { secret: false }).split('\n');
    assert.equal(text.length, plain.length);
    const secrets = text.flatMap((l) => /^(?:p\d+ )?file (\w+) \d+ secret$/.exec(l)?.[1] ?? []);
    text.forEach((line, i) => {
      const was = plain[i]!;
      assert.ok(!was.includes(' secret'), was);
      if (line.replace(/ secret$/, '') === was) return;
      // Else a private mapping of a secret file drawn shared instead.
      const m = / private file=(\w+)/.exec(was);
      assert.ok(m && secrets.includes(m[1]!), `seed ${seed}: ${was} became ${line}`);
      assert.equal(line, was.replace(' private ', ' shared '));
      shared++;
    });
    if (secrets.length > 0) secret++;
  }
  assert.ok(shared > 10, `${shared} mappings of secret files drawn shared`);
  // About a fifth of declared files, in scripts that declare one or two.
  assert.ok(secret > 20 && secret < 120, `${secret} of 200 scripts have a secret file`);
});

test('the same seed gives the same script, different seeds different ones', () => {
  assert.equal(random_script(new Rng(42)), random_script(new Rng(42)));
  const texts = new Set(Array.from({ length: 100 }, (_, i) => random_script(new Rng(i))));
  assert.equal(texts.size, 100);
});

/** Whether the script reads `addr` somewhere after its first fork. */
function fork_then_read(text: string, addr: number): boolean {
  const lines = parse_script(text).lines;
  const fork = lines.findIndex((l) => l.cmd.op === 'fork');
  return fork >= 0 && lines.slice(fork).some((l) => l.cmd.op === 'read' && l.cmd.addr === addr);
}

/** A predicate that checks the minimizer's promises about how it is called. */
function watched(fails: (text: string) => boolean) {
  const asked = new Set<string>();
  return {
    asked,
    fails: (text: string) => {
      parse_script(text); // throws if the minimizer asks about a script that does not parse
      assert.ok(!asked.has(text), 'asked twice about the same text');
      asked.add(text);
      return fails(text);
    },
  };
}

test('minimize keeps a fork and the read after it, and nothing else', () => {
  let tried = 0;
  for (let seed = 1; tried < 5; seed++) {
    const text = random_script(new Rng(seed), { commands: 60 });
    const lines = parse_script(text).lines;
    const fork = lines.findIndex((l) => l.cmd.op === 'fork');
    if (fork < 0) continue;
    const read = lines.slice(fork + 1).find((l) => l.cmd.op === 'read');
    if (read === undefined || read.cmd.op !== 'read') continue;
    tried++;
    const addr = read.cmd.addr;
    const w = watched((t) => fork_then_read(t, addr));
    const small = minimize_script(text, w.fails);
    assert.ok(fork_then_read(small, addr), `seed ${seed}: the result still fails`);
    const kept = parse_script(small).lines;
    // Only forks that the reading process needs to exist may remain.
    assert.equal(kept.filter((l) => l.cmd.op !== 'fork').length, 1, small);
    assert.ok(kept.length <= Math.max(read.pid, 1) + 1, small);
    assert.ok(w.asked.size <= MAX_PREDICATE_CALLS);
  }
});

test('minimize drops flags, the file and pages that do not matter', () => {
  const text = [
    'file f1 8',
    'mmap - 4 rw- private anon',
    'mmap 0x1000 300 r-- shared file=f1 off=3 fixed populate',
    'munmap 0x1000 4',
    'p0 read 0x1000 # comment',
    '',
  ].join('\n');
  const fails = (t: string) =>
    parse_script(t).lines.some((l) => l.cmd.op === 'mmap' && l.cmd.fixed && l.cmd.addr === 0x1000);
  assert.equal(
    minimize_script(text, watched(fails).fails),
    'mmap 0x1000 1 r-- shared anon fixed\n',
  );
});

test('minimize honours its call budget and still returns a failing script', () => {
  const text = random_script(new Rng(7), { commands: 80 });
  const has_write = (t: string) => parse_script(t).lines.some((l) => l.cmd.op === 'write');
  assert.ok(has_write(text));
  for (const budget of [1, 10, 50]) {
    const w = watched(has_write);
    const small = minimize_script(text, w.fails, budget);
    assert.ok(w.asked.size <= budget, `${w.asked.size} calls, budget ${budget}`);
    assert.ok(has_write(small));
  }
  // Unbounded enough, the answer is one write.
  const small = parse_script(minimize_script(text, has_write)).lines;
  assert.deepEqual(
    small.map((l) => l.cmd.op),
    ['write'],
  );
});

test('minimize returns the input when nothing smaller fails', () => {
  const text = 'file f1 2\nmmap - 2 rw- shared file=f1\nfork\np1 write 0x3fffe000 1\n';
  assert.equal(
    minimize_script(text, (t) => t === text),
    text,
  );
});
