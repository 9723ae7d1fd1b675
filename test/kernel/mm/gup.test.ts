/*
 * GUP and fork (seed 004): a page pinned for DMA stays the parent's page
 * after fork, however the parent writes; gup_fast backs off while fork
 * write-protects. The slow path looks VMAs up under the mmap lock only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { user_access } from '../../../src/kernel/arch/fault.js';
import { dup_mmap } from '../../../src/kernel/fork.js';
import {
  raw_write_seqcount_begin,
  raw_write_seqcount_end,
} from '../../../src/kernel/locking/seqlock.js';
import {
  __get_user_pages,
  FOLL_PIN,
  FOLL_WRITE,
  get_user_pages,
  gup_fast,
  pin_user_pages_fast,
  unpin_user_page,
} from '../../../src/kernel/mm/gup.js';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MM_STRUCT,
  PAGE,
  PROT_READ,
  PROT_WRITE,
} from '../../../src/kernel/mm/mm_types.js';
import { do_mmap, mm_alloc, mmput } from '../../../src/kernel/mm/mmap.js';
import { call, type KernelContext, type KGen } from '../../../src/runtime/ops.js';
import { run_kernel } from '../../helpers.js';
import { ANON, anon_vma_of, tripped } from './tripped.js';

const BASE = 1 << 29;

function* setup(k: KernelContext): KGen<{ mm: number; addr: number }> {
  const mm = yield* call(mm_alloc(k, BASE + (1 << 18), 1 << 30, BASE));
  const addr = yield* call(
    do_mmap(k, mm, {
      addr: 0,
      len: 4,
      prot: PROT_READ | PROT_WRITE,
      flags: MAP_PRIVATE | MAP_ANONYMOUS,
      file: 0,
      pgoff: 0,
    }),
  );
  assert.ok(addr > 0);
  assert.equal(yield* call(user_access(k, mm, addr * 4096, true, 0x1111)), 0);
  return { mm, addr };
}

test("a pinned page stays the parent's after fork: the child gets a copy", () => {
  const seen = run_kernel(function* (k) {
    const { mm, addr } = yield* call(setup(k));
    const [page] = yield* call(pin_user_pages_fast(k, mm, addr, 1, true));
    assert.ok(page);
    const pincount = yield k.load(page + PAGE._pincount);
    const child = yield* call(dup_mmap(k, mm));
    // The parent writes after fork: without the copy at fork, this would COW away from `page`.
    yield* call(user_access(k, mm, addr * 4096, true, 0x2222));
    const device_sees = yield k.load((yield k.load(page + PAGE.frame)) + 0);
    const child_sees = yield* call(user_access(k, child, addr * 4096, false, 0));
    yield* call(unpin_user_page(k, page));
    yield* call(mmput(k, child));
    yield* call(mmput(k, mm));
    return { pincount, device_sees, child_sees };
  });
  assert.equal(seen.pincount, 1);
  assert.equal(seen.device_sees, 0x2222, 'the device and the parent share the page');
  assert.equal(seen.child_sees, 0x1111, 'the child has its own copy from fork time');
});

test('gup_fast gives up while fork write-protects (write_protect_seq odd), the slow path does not', () => {
  const got = run_kernel(function* (k) {
    const { mm, addr } = yield* call(setup(k));
    const wp = mm + MM_STRUCT.write_protect_seq;
    yield* raw_write_seqcount_begin(k, wp);
    const fast = yield* call(gup_fast(k, mm, addr, 1, FOLL_PIN | FOLL_WRITE));
    yield* raw_write_seqcount_end(k, wp);
    const fast_after = yield* call(gup_fast(k, mm, addr, 1, FOLL_PIN | FOLL_WRITE));
    for (const p of fast_after) yield* call(unpin_user_page(k, p));
    const slow = yield* call(get_user_pages(k, mm, addr, 2, FOLL_PIN | FOLL_WRITE));
    for (const p of slow) yield* call(unpin_user_page(k, p));
    yield* call(mmput(k, mm));
    return { fast: fast.length, fast_after: fast_after.length, slow: slow.length };
  });
  assert.deepEqual(got, { fast: 0, fast_after: 1, slow: 2 });
});

test('unpinning restores the reference count: everything is freed at exit', () => {
  const refs = run_kernel(function* (k) {
    const { mm, addr } = yield* call(setup(k));
    const [page] = yield* call(pin_user_pages_fast(k, mm, addr, 1, false));
    const pinned = yield k.load(page! + PAGE._refcount);
    yield* call(unpin_user_page(k, page!));
    const after = yield k.load(page! + PAGE._refcount);
    yield* call(mmput(k, mm));
    return { pinned, after };
  });
  assert.equal(refs.pinned, 1 + 1024);
  assert.equal(refs.after, 1);
});

test('the slow path without the mmap lock trips mmap_assert_locked() in __get_user_pages()', () => {
  const bug = tripped(function* (k, mm) {
    yield* call(anon_vma_of(k, mm, true));
    yield* call(__get_user_pages(k, mm, ANON, 1, FOLL_PIN | FOLL_WRITE));
  });
  assert.equal(bug?.bug_class, 'lockdep', String(bug));
  assert.equal(
    bug!.message,
    'lockdep_assert_held failed: cpu0 must hold mm->mmap_lock and does not hold it',
  );
});
