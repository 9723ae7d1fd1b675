/*
 * brk at the kernel's level (scripts reach it through the brk command),
 * and what scripts cannot reach: vm_ops with ->close.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mt_entries } from '../../../src/kernel/mm/maple_tree.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MM_STRUCT,
  PROT_READ,
  PROT_WRITE,
  VM_AREA_STRUCT,
  VM_OPS_CLOSE,
} from '../../../src/kernel/mm/mm_types.js';
import { do_mmap, mm_alloc, mmput } from '../../../src/kernel/mm/mmap.js';
import { do_mprotect } from '../../../src/kernel/mm/mprotect.js';
import { sys_brk } from '../../../src/kernel/mm/syscalls.js';
import { call, type KernelContext, type KGen } from '../../../src/runtime/ops.js';
import { run_kernel } from '../../helpers.js';

const BASE = 1 << 29;
const TOP = BASE + (1 << 18);

function* ranges(k: KernelContext, mm: number): KGen<[number, number][]> {
  return (yield* call(mt_entries(k, mm))).map(
    (e) => [e.start - BASE, e.end - BASE] as [number, number],
  );
}

test('brk grows into one VMA, shrinks, and stops short of a mapping above it', () => {
  const seen = run_kernel(function* (k) {
    const mm = yield* call(mm_alloc(k, TOP, 1 << 30, BASE));
    yield k.store(mm + MM_STRUCT.brk_start, BASE + 16);
    yield k.store(mm + MM_STRUCT.brk, BASE + 16);
    const B = (BASE + 16) * 4096;
    const grown = yield* call(sys_brk(k, mm, B + 3 * 4096));
    const grown2 = yield* call(sys_brk(k, mm, B + 5 * 4096 + 100));
    const one_vma = yield* call(ranges(k, mm));
    const shrunk = yield* call(sys_brk(k, mm, B + 4096));
    // A mapping at brk_start + 8 pages: the heap may not reach it.
    yield* call(
      do_mmap(k, mm, {
        addr: BASE + 24,
        len: 2,
        prot: PROT_READ,
        flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
        file: 0,
        pgoff: 0,
      }),
    );
    const blocked = yield* call(sys_brk(k, mm, B + 12 * 4096));
    yield* call(mmput(k, mm));
    return { grown, grown2, one_vma, shrunk, blocked };
  });
  const B = (BASE + 16) * 4096;
  assert.equal(seen.grown, B + 3 * 4096);
  assert.equal(
    seen.grown2,
    B + 5 * 4096 + 100,
    'the break is any byte; the heap ends at its page end',
  );
  assert.deepEqual(seen.one_vma, [[16, 22]], 'growing twice expands one VMA');
  assert.equal(seen.shrunk, B + 4096);
  assert.equal(seen.blocked, B + 4096, 'refused: the break stays where it was');
});

test('a VMA whose vm_ops has ->close is never removed by a merge', () => {
  const seen = run_kernel(function* (k) {
    const mm = yield* call(mm_alloc(k, TOP, 1 << 30, BASE));
    const rw = PROT_READ | PROT_WRITE;
    const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    yield* call(do_mmap(k, mm, { addr: BASE + 100, len: 4, prot: rw, flags, file: 0, pgoff: 0 }));
    yield* call(
      do_mmap(k, mm, { addr: BASE + 104, len: 4, prot: PROT_READ, flags, file: 0, pgoff: 0 }),
    );
    const [, second] = yield* call(mt_entries(k, mm));
    yield k.store(second!.vma + VM_AREA_STRUCT.vm_ops, VM_OPS_CLOSE);
    // The whole second VMA becomes like the first: a merge would remove it.
    yield* call(do_mprotect(k, mm, BASE + 104, 4, rw));
    const after = yield* call(ranges(k, mm));
    yield* call(mmput(k, mm));
    return after;
  });
  assert.deepEqual(seen, [
    [100, 104],
    [104, 108],
  ]);
});
