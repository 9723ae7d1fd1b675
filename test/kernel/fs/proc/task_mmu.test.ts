/*
 * /proc/PID/maps read alone: every VMA once, in address order, with its
 * rwxp columns, however many lines each read() takes; and a pass leaves
 * no VMA read-locked behind it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAPS_EXEC,
  MAPS_LINE_WORDS,
  MAPS_READ,
  MAPS_SHARED,
  MAPS_SHMEM,
  MAPS_WRITE,
  ProcMapsPrivate,
  proc_pid_maps_read,
} from '../../../../src/kernel/fs/proc/task_mmu.js';
import { mt_entries } from '../../../../src/kernel/mm/maple_tree.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_AREA_STRUCT,
} from '../../../../src/kernel/mm/mm_types.js';
import { do_mmap, mm_alloc, mmput } from '../../../../src/kernel/mm/mmap.js';
import { kfree, kmalloc } from '../../../../src/kernel/slab.js';
import { call, type KernelContext, type KGen } from '../../../../src/runtime/ops.js';
import { run_kernel } from '../../../helpers.js';

const BASE = 1 << 29;
const TOP = BASE + (1 << 18);

const map = (addr: number, len: number, prot: number, shared = false) => ({
  addr,
  len,
  prot,
  flags: (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED,
  file: 0,
  pgoff: 0,
});

/* The whole file, `per_read` lines a read(): the lines, the read() sizes, and each VMA's vm_refcnt after. */
function* read_all(
  k: KernelContext,
  mm: number,
  per_read: number,
): KGen<{ lines: number[][]; reads: number[]; refcnts: number[] }> {
  const priv = new ProcMapsPrivate(mm);
  const buf = yield kmalloc(k, 16 * MAPS_LINE_WORDS, 'test');
  const lines: number[][] = [];
  const reads: number[] = [];
  for (;;) {
    const n = yield* call(proc_pid_maps_read(k, priv, buf, per_read));
    reads.push(n);
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      const w = buf + i * MAPS_LINE_WORDS;
      lines.push([(yield k.load(w)) - BASE, (yield k.load(w + 1)) - BASE, yield k.load(w + 2)]);
    }
  }
  yield* kfree(k, buf, 'test');
  const refcnts: number[] = [];
  for (const e of yield* call(mt_entries(k, mm)))
    refcnts.push(yield k.load(e.vma + VM_AREA_STRUCT.vm_refcnt));
  return { lines, reads, refcnts };
}

test('maps: every VMA once, in order, with its columns, whatever a read() takes', () => {
  const seen = run_kernel(function* (k) {
    const mm = yield* call(mm_alloc(k, TOP, 1 << 30, BASE));
    yield* call(do_mmap(k, mm, map(BASE + 10, 2, PROT_READ | PROT_WRITE)));
    yield* call(do_mmap(k, mm, map(BASE + 12, 3, PROT_READ)));
    yield* call(do_mmap(k, mm, map(BASE + 12, 1, PROT_READ | PROT_EXEC)));
    yield* call(do_mmap(k, mm, map(BASE + 20, 1, PROT_READ | PROT_WRITE, true)));
    const by: Record<number, { lines: number[][]; reads: number[]; refcnts: number[] }> = {};
    for (const per_read of [1, 2, 16]) by[per_read] = yield* call(read_all(k, mm, per_read));
    yield* call(mmput(k, mm));
    return by;
  });
  const expected = [
    [10, 12, MAPS_READ | MAPS_WRITE],
    [12, 13, MAPS_READ | MAPS_EXEC],
    [13, 15, MAPS_READ],
    // Shared anonymous memory: a shmem file, named by the kernel under the VMA's lock.
    [20, 21, MAPS_READ | MAPS_WRITE | MAPS_SHARED | MAPS_SHMEM],
  ];
  for (const per_read of [1, 2, 16]) {
    assert.deepEqual(seen[per_read]!.lines, expected, `${per_read} lines a read()`);
    // No VMA is left read-locked: each holds only its attach reference.
    assert.deepEqual(seen[per_read]!.refcnts, [1, 1, 1, 1]);
  }
  assert.deepEqual(seen[1]!.reads, [1, 1, 1, 1, 0]);
  assert.deepEqual(seen[2]!.reads, [2, 2, 0]);
  assert.deepEqual(seen[16]!.reads, [4, 0]);
});
