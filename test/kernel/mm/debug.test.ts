/*
 * validate_mm() trips on what mm/vma.c's validate_mm() asserts, under the
 * names it asserts them with: a VMA whose range is not the index's, a
 * map_count that is not the number of VMAs; and on the model's own page
 * checks: a present PTE outside every VMA, a page mapped by more PTEs
 * than its mapcount.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validate_mm } from '../../../src/kernel/mm/debug.js';
import { FAULT_FLAG_WRITE, handle_mm_fault } from '../../../src/kernel/mm/memory.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MM_STRUCT,
  PROT_READ,
  VM_AREA_STRUCT,
} from '../../../src/kernel/mm/mm_types.js';
import { do_mmap, mm_alloc } from '../../../src/kernel/mm/mmap.js';
import { mmap_read_lock, mmap_read_unlock } from '../../../src/kernel/mm/mmap_lock.js';
import { pte_slot, pte_table } from '../../../src/kernel/mm/pgtable.js';
import { vma_lookup } from '../../../src/kernel/mm/vma.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../../src/runtime/ops.js';
import { run_kernel } from '../../helpers.js';

const BASE = 1 << 29;

/* An mm with one VMA of 4 pages at `at` (BASE + 16), broken by `corrupt`, then validated. */
function validated(
  corrupt: (k: KernelContext, mm: number, vma: number) => KGen,
  at = BASE + 16,
): unknown {
  try {
    run_kernel(function* (k) {
      const mm = yield* call(mm_alloc(k, BASE + (1 << 18), 1 << 30, BASE));
      const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
      yield* call(do_mmap(k, mm, { addr: at, len: 4, prot: PROT_READ, flags, file: 0, pgoff: 0 }));
      yield* call(corrupt(k, mm, yield* call(vma_lookup(k, mm, at))));
      yield* call(validate_mm(k, mm));
    });
  } catch (e) {
    return e;
  }
  return null;
}

const tripped = (name: string) => (e: unknown) =>
  e instanceof KernelBug && e.bug_class === 'mm-invariant' && e.message.includes(name);

test('a sound mm passes', () => {
  assert.equal(
    validated(function* () {}),
    null,
  );
});

test("a VMA's end that is not the index's trips VM_WARN_ON_ONCE_MM(vma->vm_end != vmi_end)", () => {
  const e = validated(function* (k, _mm, vma) {
    yield k.store(vma + VM_AREA_STRUCT.vm_end, BASE + 19);
  });
  assert.ok(tripped('VM_WARN_ON_ONCE_MM(vma->vm_end != vmi_end)')(e), String(e));
});

test("a VMA's start that is not the index's trips VM_WARN_ON_ONCE_MM(vma->vm_start != vmi_start)", () => {
  const e = validated(function* (k, _mm, vma) {
    yield k.store(vma + VM_AREA_STRUCT.vm_start, BASE + 17);
  });
  assert.ok(tripped('VM_WARN_ON_ONCE_MM(vma->vm_start != vmi_start)')(e), String(e));
});

test('a map_count that is not the number of VMAs trips VM_BUG_ON_MM', () => {
  const e = validated(function* (k, mm) {
    yield k.store(mm + MM_STRUCT.map_count, 2);
  });
  assert.ok(tripped('VM_BUG_ON_MM: map_count 2 vma iterator 1')(e), String(e));
});

/* Page `from` of `vma` faulted in, and its PTE copied to page `to`'s slot of the same table. */
/* A write fault of `page` of `vma`, under the mmap read lock. */
function* fault_in(k: KernelContext, mm: number, vma: number, page: number): KGen {
  yield* call(mmap_read_lock(k, mm));
  assert.equal(yield* call(handle_mm_fault(k, vma, page, FAULT_FLAG_WRITE)), 0);
  yield* call(mmap_read_unlock(k, mm));
}

/* Page `from` of `vma` faulted in, and its PTE copied to page `to`'s slot of the same table. */
function* copy_pte(k: KernelContext, mm: number, vma: number, from: number, to: number): KGen {
  yield* fault_in(k, mm, vma, from);
  const table = yield* call(pte_table(k, mm, from));
  yield k.store(pte_slot(table, to), yield k.load(pte_slot(table, from)));
}

test('a faulted page passes', () => {
  const e = validated(function* (k, mm, vma) {
    yield* fault_in(k, mm, vma, BASE + 18);
  });
  assert.equal(e, null);
});

test('a present PTE past the last VMA trips validate_mm', () => {
  const e = validated(function* (k, mm, vma) {
    yield* copy_pte(k, mm, vma, BASE + 16, BASE + 300);
  });
  assert.ok(tripped(`a present PTE at page ${BASE + 300}, outside every VMA`)(e), String(e));
});

test('a page mapped by a second PTE of its VMA, its mapcount unchanged, trips validate_mm', () => {
  const e = validated(function* (k, mm, vma) {
    yield* copy_pte(k, mm, vma, BASE + 16, BASE + 19);
  });
  assert.ok(tripped('is mapped by 2 PTEs but its mapcount is 1')(e), String(e));
});

test('a present PTE outside every VMA trips validate_mm in a later PTE table, named by its page', () => {
  // Directory entry 2: the page number is pgd_base + 2 * 512 + the entry's index.
  const at = BASE + 2 * 512 + 40;
  const e = validated(function* (k, mm, vma) {
    yield* copy_pte(k, mm, vma, at, at + 100);
  }, at);
  assert.ok(tripped(`a present PTE at page ${at + 100}, outside every VMA`)(e), String(e));
});

test('mm_alloc() refuses a pgd_base that is not a PTE table boundary', () => {
  assert.throws(
    () =>
      run_kernel(function* (k) {
        yield* call(mm_alloc(k, BASE + (1 << 18), 1 << 30, BASE + 8));
      }),
    /pgd_base \d+ not table-aligned/,
  );
});
