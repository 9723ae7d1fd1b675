import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type ConcurrentScript, type Line, ScriptError } from '../../src/script/ast.js';
import {
  fork_children,
  MAX_SERIAL_ORDERS,
  parse_concurrent,
  print_concurrent,
  serial_orders,
  steps_of,
} from '../../src/script/concurrent.js';
import { allowed_outcomes } from '../../src/script/linearizable.js';
import { parse_script } from '../../src/script/parse.js';
import { format_line, format_result } from '../../src/script/print.js';

const TEXT = `# setup: runs first, on cpu0 alone
file data 2
mmap 0x10000 4 rw- private anon fixed
fork
cpu 0:
  munmap 0x10000 1
  fork          # p2: the setup's fork made p1
  p2 read 0x11000
cpu 1:
  p1 write 0x10000 7
  p2 exit       # p2 is cpu 0's child: it may not exist yet
  read 0x10000
`;

/* Everything but the line numbers. */
const shape = (s: ConcurrentScript) => {
  const strip = (ls: readonly Line[]) => ls.map(({ pid, cmd }) => ({ pid, cmd }));
  return { files: s.files, setup: strip(s.setup), cpus: s.cpus.map(strip) };
};

test('a concurrent script parses into its setup and sections, and prints back to itself', () => {
  const s = parse_concurrent(TEXT);
  assert.deepEqual(s.files, [{ name: 'data', pages: 2, secret: false }]);
  assert.deepEqual(
    s.setup.map((l) => l.cmd.op),
    ['file', 'mmap', 'fork'],
  );
  assert.deepEqual(
    s.cpus.map((c) => c.map((l) => `p${l.pid} ${l.cmd.op}`)),
    [
      ['p0 munmap', 'p0 fork', 'p2 read'],
      ['p1 write', 'p2 exit', 'p0 read'],
    ],
  );
  assert.equal(s.cpus[1]![0]!.line, 10);
  const printed = print_concurrent(s);
  assert.deepEqual(shape(parse_concurrent(printed)), shape(s));
  assert.equal(print_concurrent(parse_concurrent(printed)), printed);
  assert.match(
    printed,
    /^file data 2\nmmap 0x10000 4 rw- private anon fixed\nfork\ncpu 0:\n {2}munmap/,
  );
});

test("fork children are numbered by text order, the setup's first", () => {
  const s = parse_concurrent(TEXT);
  assert.deepEqual([...fork_children(s).values()], [1, 2]);
});

test('serial orders are the multinomial of the sections, and too many are refused', () => {
  // A section forks: each read or write is its fault, then its access (4 and 5 steps).
  assert.equal(serial_orders(parse_concurrent(TEXT)), 126);
  const section = (n: number) => Array.from({ length: n }, () => '  read 0x0').join('\n');
  const big = `cpu 0:\n${section(6)}\ncpu 1:\n${section(6)}\ncpu 2:\n${section(6)}\n`;
  assert.ok(MAX_SERIAL_ORDERS < 17_153_136);
  assert.throws(
    () => parse_concurrent(big),
    /line 16: the sections' commands have 17153136 serial orders, more than the 5000/,
  );
});

test('where a section reads the maps, an unmapping is its removals from the index, one by one, then the rest', () => {
  const sections = (maps: string) => `mmap 0x10000 4 rw- private anon fixed
brk 0x20000
cpu 0:
  ${maps}
cpu 1:
  munmap 0x10000 1
  mremap 0x11000 2 1
  mremap 0x11000 1 2
  brk 0x1000
  mremap 0x12000 2 1 maymove fixed=0x30000
  mremap 0x12000 1 1 maymove fixed=0x40000
`;
  const kinds = (text: string) =>
    steps_of(parse_concurrent(text))[1]!.map(({ index, step }) => `${index}:${step.kind}`);
  // A shrinking mremap unmaps its tail; a growing one moves or grows in place; one with
  // fixed= unmaps its destination first, then (shrinking) its tail (mremap_to()).
  assert.deepEqual(kinds(sections('maps')), [
    '0:unlink',
    '0:command',
    '1:unlink',
    '1:command',
    '2:command',
    '3:unlink',
    '3:command',
    '4:unlink',
    '4:unlink',
    '4:command',
    '5:unlink',
    '5:command',
  ]);
  assert.deepEqual(kinds(sections('read 0x10000')), [
    '0:command',
    '1:command',
    '2:command',
    '3:command',
    '4:command',
    '5:command',
  ]);
});

test('bad concurrent scripts are refused with the line and the problem', () => {
  const bad: [string, RegExp][] = [
    ['read 0x0', /line 1: a concurrent script has 2 to 4 sections .*not 0/],
    ['cpu 0:\nread 0x0', /line 1: a concurrent script has 2 to 4 sections .*not 1/],
    ['cpu 1:\nread 0x0', /line 1: cpu 1: sections are numbered from 0 .*must be cpu 0:/],
    ['cpu 0:\ncpu 1:\nread 0', /line 1: cpu 0: has no commands/],
    ['cpu 0:\nread 0\ncpu 1:', /line 3: cpu 1: has no commands/],
    ['cpu 0:\nread 0\ncpu 0:\nread 0', /line 3: .*must be cpu 1:/],
    [
      'cpu 0:\nread 0\ncpu 1:\nread 0\ncpu 2:\nread 0\ncpu 3:\nread 0\ncpu 4:\nread 0',
      /line 9: at most 4 cpu sections/,
    ],
    ['cpu 0:\nfile a 1\ncpu 1:\nread 0', /line 2: file declarations belong to the setup/],
    ['cpu 0:\np1 read 0\ncpu 1:\nread 0', /line 2: p1 does not exist \(no fork creates it/],
    ['cpu 0:\np1 read 0\nfork\ncpu 1:\nread 0', /line 2: p1 does not exist yet on cpu 0/],
    ['cpu 0:\nexit\nread 0\ncpu 1:\nread 0', /line 3: p0 has exited on cpu 0/],
    ['fork\np1 exit\ncpu 0:\np1 read 0\ncpu 1:\nread 0', /line 4: p1 has exited$/],
    ['cpu 0:\nread 0\ncpu 1:\nmmap - 1 rw- private file=x', /line 4: file x is not declared/],
    // A pin is its thread's: another CPU's (or the setup's) pin is not there to unpin.
    [
      'cpu 0:\npin 0\ncpu 1:\nunpin 0',
      /line 4: unpin 0x0: no earlier pin of that page by p0 on cpu 1 holds it/,
    ],
    ['pin 0\ncpu 0:\nunpin 0\ncpu 1:\nread 0', /line 3: unpin 0x0: .* on cpu 0 holds it/],
    ['unpin 0\ncpu 0:\nread 0\ncpu 1:\nread 0', /line 1: unpin 0x0: .* in the setup holds it/],
  ];
  for (const [text, re] of bad)
    assert.throws(
      () => parse_concurrent(text),
      (e: Error) => e instanceof ScriptError && re.test(e.message),
      text,
    );
});

test("a CPU may name another CPU's child, and its own exit ends only its own thread", () => {
  const s = parse_concurrent('cpu 0:\nfork\np1 read 0\ncpu 1:\np1 read 0\nexit\ncpu 2:\nread 0\n');
  assert.equal(s.cpus.length, 3);
});

test('a sequential script with a cpu section is pointed at check --script', () => {
  assert.throws(
    () => parse_script('read 0\ncpu 0:\nread 0'),
    /line 2: cpu N: sections make a concurrent script: explore it with mmlab check --script/,
  );
  assert.equal(parse_script('read 0\nfork\np1 read 0').lines.length, 3);
});

test("seed 004's script: every serial order reads the parent's 2 through the pin", () => {
  const text = readFileSync('docs/examples/scripts/pin-vs-fork.txt', 'utf8');
  const s = parse_concurrent(text);
  assert.deepEqual(
    s.cpus.map((c) => c.map(format_line)),
    [['pin 0x100000 fast', 'write 0x100000 0x2', 'unpin 0x100000'], ['fork']],
  );
  const allowed = allowed_outcomes(s, print_concurrent(s), { policy: 'vma-refcnt', variant: '' });
  assert.equal(allowed.bug, false);
  // The fork before the pin, after it, after the write or after the unpin: the child differs, never the unpin.
  assert.deepEqual(
    new Set(
      allowed.outcomes.map((o) => JSON.stringify(o.outcome.cpus.map((c) => c.map(format_result)))),
    ),
    new Set([JSON.stringify([['ok', 'ok', '= 0x00000002'], ['ok']])]),
  );
  assert.ok(allowed.outcomes.length >= 2, 'the child sees the write or not');
});
