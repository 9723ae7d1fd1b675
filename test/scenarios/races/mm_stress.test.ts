/*
 * The address space under change while other CPUs fault in it: explored and
 * native, under every policy; and where the faults of fault-vs-mprotect are
 * handled.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { make_config, run_native } from '../../../src/check/kernel.js';
import { POLICIES } from '../../../src/kernel/mm/policy.js';
import {
  faulter_value,
  scenario as mm_stress,
  mutator_read_wrong,
  own_read_wrong,
  pattern,
} from '../../../src/scenarios/races/mm_stress.js';
import { scenario as fault_vs_mprotect } from '../../../src/scenarios/workloads/fault_vs_mprotect.js';
import { explore } from '../../helpers.js';

for (const policy of POLICIES) {
  test(`mm-stress, ${policy}: explored, every value read checks out and nothing leaks`, () => {
    const r = explore(mm_stress, { policy, params: { iters: 4 } }, 150, 3);
    assert.equal(r.bug, null, r.bug ? `${r.bug.class}: ${r.bug.message}\n${r.bug.table}` : '');
  });

  test(`mm-stress, ${policy}: natively on 3 worker threads`, async () => {
    const r = await run_native(
      mm_stress,
      make_config(mm_stress, { policy, cpus: 3, params: { iters: 400 } }),
    );
    assert.equal(r.bug, null, r.bug ? `${r.bug.class}: ${r.bug.message}` : '');
    const faults =
      (r.report.vma_lock_success ?? 0) +
      (r.report.range_lock_fault ?? 0) +
      (r.report.mmap_lock_fault ?? 0);
    assert.ok(faults > 0, 'the CPUs faulted');
  });
}

test('fault-vs-mprotect: per-VMA and range locks keep faults off mmap_lock; mmap-lock takes it for all', async () => {
  const params = { big_pages: 2048, pages: 512, writer: 1, mprotects: 0 };
  for (const policy of POLICIES) {
    const r = await run_native(
      fault_vs_mprotect,
      make_config(fault_vs_mprotect, { policy, cpus: 2, params }),
    );
    assert.equal(r.bug, null, r.bug?.message);
    const ok = r.report.vma_lock_success! + r.report.range_lock_fault!;
    const total = ok + r.report.mmap_lock_fault!;
    assert.equal(total, 512, `${policy}: every fault counted once`);
    if (policy === 'mmap-lock') assert.equal(ok, 0);
    else assert.ok(ok / total >= 0.95, `${policy}: ${ok}/${total} off the whole mmap_lock`);
  }
});

test('mm-stress: the read-back rule refuses a lost write, another CPU’s value, a stale pattern', () => {
  const v = faulter_value(1, 7);
  assert.equal(own_read_wrong(v, v), undefined);
  assert.equal(own_read_wrong(v, 0), undefined);
  assert.match(own_read_wrong(v, faulter_value(1, 6)) ?? '', /wrote 1000007 and read 1000006/);
  assert.match(own_read_wrong(v, faulter_value(2, 7)) ?? '', /read 2000007/);
  assert.match(own_read_wrong(v, -11) ?? '', /cannot read its own region \(-11\)/);
  const b = (1 << 29) * 4096;
  assert.equal(mutator_read_wrong(b, pattern(b)), undefined);
  assert.equal(mutator_read_wrong(b, -11), undefined);
  assert.match(mutator_read_wrong(b, pattern(b + 4)) ?? '', /read 5a5a/);
  assert.match(mutator_read_wrong(b, 0xdead0001) ?? '', /read dead0001/);
});
