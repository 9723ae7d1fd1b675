/*
 * KStack and call(): kernel code calling kernel code on a flat stack must
 * behave exactly as the nested `yield*` it replaces: the same accesses in
 * the same order, return values, exceptions caught by a caller's try,
 * finally blocks, and backtraces that name every caller.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boot } from '../../src/kernel/boot.js';
import { DEFAULT_POLICY } from '../../src/kernel/mm/policy.js';
import { frame_name } from '../../src/runtime/frames.js';
import { KernelMemory } from '../../src/runtime/memory.js';
import { call, KernelBug, KernelContext, type KGen, KStack, Op } from '../../src/runtime/ops.js';

function context(): KernelContext {
  return new KernelContext(boot(KernelMemory.create(1 << 13), 1), 0, DEFAULT_POLICY, '', false);
}

/* Each access answered with its address plus one; returns the addresses loaded and the result. */
function drive<R>(k: KernelContext, gen: { next(v?: number): IteratorResult<number, R> }) {
  const loads: number[] = [];
  let r = gen.next();
  while (!r.done) {
    assert.equal(k.op, Op.LOAD);
    loads.push(k.addr);
    r = gen.next(k.addr + 1);
  }
  return { loads, value: r.value };
}

function* leaf(k: KernelContext, p: number): KGen<number> {
  return (yield k.load(p)) + (yield k.load(p + 1));
}
function* middle(k: KernelContext, p: number): KGen<number> {
  const a = yield* call(leaf(k, p));
  const b = yield* leaf(k, p + 10);
  return a * 1000 + b;
}
function* outer(k: KernelContext): KGen<number[]> {
  const x = yield* call(middle(k, 100));
  const y = (yield k.load(7)) as number;
  const z = yield* call(middle(k, 200));
  return [x, y, z];
}
/* outer() as it was written before KStack: every call a nested yield*. */
function* nested_middle(k: KernelContext, p: number): KGen<number> {
  return (yield* leaf(k, p)) * 1000 + (yield* leaf(k, p + 10));
}
function* nested_outer(k: KernelContext): KGen<number[]> {
  const x = yield* nested_middle(k, 100);
  const y = yield k.load(7);
  return [x, y, yield* nested_middle(k, 200)];
}

test('calls on a KStack make the accesses and return the values of nested yield*', () => {
  const k = context();
  const flat = drive(k, new KStack(outer(k), k));
  const nested = drive(k, nested_outer(k));
  assert.deepEqual(flat, nested);
  assert.deepEqual(flat.loads, [100, 101, 110, 111, 7, 200, 201, 210, 211]);
  assert.deepEqual(flat.value, [203223, 8, 403423]);
});

test("an exception crosses calls to the caller's try; finally blocks run on the way", () => {
  const k = context();
  const ran: string[] = [];
  function* failing(): KGen<number> {
    try {
      yield k.load(1);
      throw new KernelBug('BUG', 'failing');
    } finally {
      ran.push('failing');
    }
  }
  function* between(): KGen<number> {
    try {
      return yield* call(failing());
    } finally {
      ran.push('between');
    }
  }
  function* catcher(): KGen<string> {
    try {
      yield* call(between());
      return 'not thrown';
    } catch (e) {
      yield k.load(2);
      return (e as KernelBug).message;
    }
  }
  const r = drive(k, new KStack(catcher(), k));
  assert.deepEqual(r, { loads: [1, 2], value: 'failing' });
  assert.deepEqual(ran, ['failing', 'between']);
});

test('an exception no caller catches leaves the KStack', () => {
  const k = context();
  function* bug(): KGen {
    yield k.load(1);
    throw new KernelBug('BUG', 'uncaught');
  }
  function* top(): KGen {
    yield* call(bug());
  }
  assert.throws(() => drive(k, new KStack(top(), k)), /uncaught/);
});

test('return() ends a task where it stands: finally blocks run, innermost first', () => {
  const k = context();
  const ran: string[] = [];
  function* inner(): KGen {
    try {
      yield k.load(1);
      yield k.load(2);
    } finally {
      ran.push('inner');
    }
  }
  function* top(): KGen {
    try {
      yield* call(inner());
    } finally {
      ran.push('top');
    }
  }
  const s = new KStack(top(), k);
  assert.equal(s.next().done, false);
  s.return();
  assert.deepEqual(ran, ['inner', 'top']);
});

test('a traced access names the callers below the running frame', () => {
  const k = context();
  k.tracing = true;
  let seen: readonly string[] = [];
  function* innermost_fn(): KGen {
    yield k.load(1);
    seen = k.backtrace;
  }
  function* middle_fn(): KGen {
    yield* call(innermost_fn());
  }
  function* outer_fn(): KGen {
    yield* call(middle_fn());
  }
  drive(k, new KStack(outer_fn(), k));
  k.tracing = false;
  assert.deepEqual(seen.slice(0, 3), ['innermost_fn', 'middle_fn', 'outer_fn']);
});

test("with framing, each access names the frame that made it: a call()'s callee, the caller of a plain yield*", () => {
  const k = context();
  k.framing = true;
  const frames: string[] = [];
  const gen = new KStack(outer(k), k);
  let r = gen.next();
  while (!r.done) {
    frames.push(frame_name(k.frame));
    r = gen.next(k.addr + 1);
  }
  k.framing = false;
  // middle() runs leaf() in place for its second pair of loads, and calls it for its first.
  const call_of_middle = ['leaf', 'leaf', 'middle', 'middle'];
  assert.deepEqual(frames, [...call_of_middle, 'outer', ...call_of_middle]);
});
