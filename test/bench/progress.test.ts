/*
 * Progress bars of long steps (`mmlab report`, `npm run bench`): a line a
 * step off a terminal, a bar on one, on their stream (stderr unless told),
 * never on stdout.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Progress } from '../../src/bench/progress.js';

function has(text: string, part: string): void {
  assert.ok(text.includes(part), `${JSON.stringify(part)} is missing from:\n${text}`);
}

class Sink extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  readonly columns = 100;
  override _write(chunk: unknown, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.text += String(chunk);
    cb();
  }
}

/** Run `f` with stdout's writes caught; what was written. */
function stdout_of(f: () => void): string {
  const write = process.stdout.write;
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    f();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test('progress off a terminal: one line when a step starts and one when it ends', () => {
  const sink = new Sink(false);
  const stdout = stdout_of(() => {
    const p = new Progress({ stream: sink });
    const bar = p.step('native runs', 3);
    for (const l of ['a', 'b', 'c']) bar.tick(l);
    const ms = bar.done();
    assert.ok(ms >= 0, 'a step takes no negative time');
    assert.equal(bar.done(), ms, 'done twice is done once');
    p.step('scaling', 2).tick();
    p.step('charts', 1).done(); // ends 'scaling' first
    assert.deepEqual(Object.keys(p.durations_ms), ['native runs', 'scaling', 'charts']);
  });
  assert.equal(stdout, '');
  const lines = sink.text.trimEnd().split('\n');
  assert.equal(lines.length, 6);
  assert.equal(lines[0], 'native runs: started (3 to do)');
  assert.match(lines[1]!, /^native runs: done, 3\/3 in \d+\.\d s$/);
  assert.match(lines[3]!, /^scaling: done, 1\/2 in/);
  assert.ok(!sink.text.includes('\r') && !sink.text.includes('\x1b'), 'no redrawing in a log');
});

test('progress on a terminal draws a bar, still only on its stream', () => {
  const sink = new Sink(true);
  const stdout = stdout_of(() => {
    const bar = new Progress({ stream: sink }).step('catalogue', 4);
    bar.tick('seed 1');
    bar.tick('seed 2');
    bar.done();
  });
  assert.equal(stdout, '');
  has(sink.text, 'catalogue');
  has(sink.text, '/4');
});

test('progress goes to stderr by default, never stdout', () => {
  const write = process.stderr.write;
  let err = '';
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    err += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  let stdout: string;
  try {
    stdout = stdout_of(() => {
      const bar = new Progress().step('step', 1);
      bar.tick();
      bar.done();
    });
  } finally {
    process.stderr.write = write;
  }
  assert.equal(stdout, '');
  has(err, 'step');
});
