/*
 * The fixture of the tests of the kernel's assertions: a deliberately
 * wrong call, run as the one CPU of a fresh machine, and the KernelBug it
 * trips. BASE is where the fixtures map.
 */
import { user_access } from '../../../src/kernel/arch/fault.js';
import { do_mmap } from '../../../src/kernel/mm/mmap.js';
import { PAGE_BYTES } from '../../../src/kernel/mm/syscalls.js';
import { vm_area_alloc, vma_lookup } from '../../../src/kernel/mm/vma.js';
import { call, KernelBug, type KernelContext, type KGen } from '../../../src/runtime/ops.js';
import { anon_fixed, BASE, new_mm } from '../../../src/scenarios/common.js';
import { run_kernel } from '../../helpers.js';

export { BASE };

/** The first page of anon_vma_of()'s mapping. */
export const ANON = BASE + 16;

/* The bug `body` trips, given a fresh mm and a fresh (detached) VMA of it, or null. */
export function tripped(
  body: (k: KernelContext, mm: number, vma: number) => KGen,
): KernelBug | null {
  try {
    run_kernel(function* (k) {
      const mm = yield* call(new_mm(k));
      yield* call(body(k, mm, yield* call(vm_area_alloc(k, mm))));
    });
  } catch (e) {
    if (e instanceof KernelBug) return e;
    throw e;
  }
  return null;
}

/**
 * A private anonymous VMA of four pages at ANON, its first page written
 * (so that it has an anon_vma and a page table) when `written`; no lock held.
 */
export function* anon_vma_of(k: KernelContext, mm: number, written: boolean): KGen<number> {
  yield* call(do_mmap(k, mm, anon_fixed(ANON, 4)));
  if (written) yield* call(user_access(k, mm, ANON * PAGE_BYTES, true, 1));
  return yield* call(vma_lookup(k, mm, ANON));
}
