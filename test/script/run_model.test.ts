/*
 * Scripts with the output this machine's kernel gave them (test/scripts:
 * NAME.txt and NAME.out, one behaviour of one system call each): the model
 * must print exactly that, and the kernel, where the oracle can run, what
 * the model prints booted as it is (a kernel that forbids the zero page
 * merges differently after a read).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { random_script } from '../../src/oracle/gen.js';
import { Rng } from '../../src/scenarios/random.js';
import { parse_script } from '../../src/script/parse.js';
import { format_run, run_model } from '../../src/script/run_model.js';
import { model_as_linux, on_linux } from '../helpers.js';

const dir = fileURLToPath(new URL('../scripts/', import.meta.url));

for (const name of readdirSync(dir).filter((f) => f.endsWith('.txt'))) {
  const text = readFileSync(dir + name, 'utf8');
  const expected = readFileSync(dir + name.replace(/\.txt$/, '.out'), 'utf8');
  const what = text.split('\n')[0]!.replace(/^#\s*/, '');
  test(`${name}: ${what}`, () => {
    assert.equal(format_run(run_model(parse_script(text))), expected, 'the model');
    const linux = on_linux(text);
    if (linux !== undefined) assert.equal(linux, model_as_linux(text), "this machine's kernel");
  });
}

test('a 10,000-command script runs, and every object is freed at the end', () => {
  const lines = ['mmap 0x100000 64 rw- private anon fixed'];
  for (let i = 0; i < 9999; i++) {
    const a = 0x100000 + ((i * 4099) % (64 * 4096 - 4));
    lines.push(
      i % 3 === 0
        ? `write 0x${a.toString(16)} ${i}`
        : i % 3 === 1
          ? `read 0x${a.toString(16)}`
          : `mprotect 0x${(0x100000 + (i % 60) * 4096).toString(16)} 2 ${i % 2 ? 'r--' : 'rw-'}`,
    );
  }
  const run = run_model(parse_script(lines.join('\n')));
  assert.equal(run.results.length, 10_000);
  assert.ok(run.results.every((r) => r !== 'SIGBUS'));
});

test('400 one-page mappings with gaps, more than one maple leaf holds (340), each written and read back', () => {
  const count = 400;
  const addr = (i: number) => `0x${(0x100000 + i * 0x2000).toString(16)}`;
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`mmap ${addr(i)} 1 rw- private anon fixed`);
  for (let i = 0; i < count; i++) lines.push(`write ${addr(i)} ${i + 1}`);
  for (let i = 0; i < count; i++) lines.push(`read ${addr(i)}`);
  // Unmap the first half in one call across the gaps, then read the page after it.
  lines.push(`munmap ${addr(0)} ${count}`, `read ${addr(count / 2)}`);
  const run = run_model(parse_script(lines.join('\n')));
  assert.deepEqual(run.results.slice(0, count), [...Array(count).keys()].map(addr));
  assert.ok(run.results.slice(count, 2 * count).every((r) => r === 'ok'));
  assert.deepEqual(
    run.results.slice(2 * count, 3 * count),
    [...Array(count).keys()].map((i) => `= 0x${(i + 1).toString(16).padStart(8, '0')}`),
  );
  assert.deepEqual(run.results.slice(3 * count), [
    'ok',
    `= 0x${(count / 2 + 1).toString(16).padStart(8, '0')}`,
  ]);
  assert.equal(run.maps[0]!.vmas.length, count / 2, 'VMAs left');
});

test("bench's 10,000-command random script (seed 42) runs whole", () => {
  const run = run_model(parse_script(random_script(new Rng(42), { commands: 10_000 })));
  assert.equal(run.results.length, 10_000);
});

test("a script that fills the model's kernel memory stops at its line; the next script runs whole", () => {
  const small = 'mmap - 1 rw- private anon\nwrite 0x3ffff000 5\nread 0x3ffff000\n';
  const before = format_run(run_model(parse_script(small)));
  // 20,000 populated pages: more than the 64 MiB holds, where Linux would map them all.
  const big = `mmap - 1 rw- private anon\nmmap - 20000 rw- private anon populate\n${small}`;
  assert.throws(
    () => run_model(parse_script(big)),
    /^ScriptError: line 2: the script needs more than the model's 64 MiB of kernel memory/,
  );
  assert.equal(format_run(run_model(parse_script(small))), before, 'the machine is reset');
});

test("where the kernel forbids the zero page, a read gets a page and an anon_vma of its own: the fork child's VMA no longer merges", () => {
  // What a kernel booted with pvm_no_zero_page=1 (6.18.44) printed for this script.
  const text = readFileSync(`${dir}regress-zero-page-fork-merge.txt`, 'utf8');
  const own_page = format_run(run_model(parse_script(text), undefined, { forbid_zeropage: true }));
  assert.equal(
    own_page,
    [
      '0x3fc00000',
      '= 0x00000000',
      'ok',
      '0x3fc56000',
      'p0 maps:',
      '3fc00000-3fc88000 rw-p 00000000',
      'p1 maps:',
      '3fc00000-3fc56000 rw-p 00000000',
      '3fc56000-3fc57000 rw-p 00000000',
      '3fc57000-3fc88000 rw-p 00000000',
      '',
    ].join('\n'),
  );
  assert.notEqual(own_page, format_run(run_model(parse_script(text))), 'the zero page merges it');
});

test("an unpin reads through the page its pin holds: a fork after the pin leaves that page the parent's", () => {
  const run = run_model(
    parse_script(
      [
        'mmap 0x100000 1 rw- private anon fixed',
        'write 0x100000 1',
        'pin 0x100000 fast', // gup_fast: the PTE is there
        'fork', // the pinned page may be DMA'd to: fork copies it for the child
        'write 0x100000 2',
        'p1 read 0x100000',
        'unpin 0x100000',
        'pin 0x100000', // the slow path, under the mmap read lock
        'p1 write 0x100000 3',
        'unpin 0x100004',
        'pin 0x200000', // nothing mapped: EFAULT, as Linux returns
        'unpin 0x200000', // its pin failed
        'pin 0x100000', // still held at the end: dropped before teardown
      ].join('\n'),
    ),
  );
  assert.deepEqual(run.results, [
    '0x100000',
    'ok',
    'ok',
    'ok',
    'ok',
    '= 0x00000001',
    '= 0x00000002',
    'ok',
    'ok',
    '= 0x00000000',
    'EFAULT',
    'EINVAL',
    'ok',
  ]);
});

test('a pin (the slow path) of a secret page is EFAULT, as GUP refuses secretmem; of an anonymous page, ok', () => {
  const out = format_run(
    run_model(
      parse_script(
        'file s 1 secret\nmmap 0x100000 1 rw- shared file=s fixed\nwrite 0x100000 1\npin 0x100000\nmmap 0x200000 1 rw- private anon fixed\npin 0x200000\n',
      ),
    ),
  );
  assert.deepEqual(out.split('\n').slice(0, 6), [
    'ok',
    '0x100000',
    'ok',
    'EFAULT',
    '0x200000',
    'ok',
  ]);
});
