/* The report's lock counters: the vmstat events told as shares of faults. */
import { test } from 'node:test';
import { report_html } from '../../src/report/html.js';
import { data, has, natives, timing_js } from './fixture.js';

test('the lock counters sentence reads the vmstat events', async () => {
  const html = await report_html(data());
  has(
    html,
    'Measured natively on this machine at 2 CPUs: each policy&#39;s vmstat events on pft, per fault handled; a fault ends under a VMA lock, a range lock or the whole mmap_lock, and aborts, retries and misses stack beyond 100%. The share of faults handled without the whole mmap_lock is mmap-lock 0%, vma-rwsem 99.0%, vma-refcnt 99.0%, range 100%',
  );
  has(html, 'vma-rwsem wastes the most attempts: 1 aborts, retries and misses per 100 faults.');
});

test('a few faults under the whole mmap_lock are not rounded away', async () => {
  const native = natives().map((r) =>
    r.workload === 'pft' && r.policy === 'vma-refcnt'
      ? { ...r, counters: { vma_lock_success: 996, mmap_lock_fault: 4 } }
      : r.workload === 'pft' && r.policy === 'mmap-lock'
        ? { ...r, counters: { vma_lock_success: 1, mmap_lock_fault: 999 } }
        : r,
  );
  const html = await report_html(data({ native, timing_js: timing_js(native) }));
  has(html, 'is mmap-lock 0.1%, vma-rwsem 99.0%, vma-refcnt 99.6%, range 100%;');
});
