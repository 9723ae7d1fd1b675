/* The report's latency section: the p99 with a writer over the p99 alone, against the target. */
import { test } from 'node:test';
import { report_html } from '../../src/report/html.js';
import { data, has, natives } from './fixture.js';

test('the p99 with a writer over p99 alone, against the target', async () => {
  const html = await report_html(data());
  has(
    html,
    'the p99 with the interfering CPU is mmap-lock 20×, vma-rwsem 1.2×, vma-refcnt 1.1×, range 3.0× the p99 alone',
  );
  has(html, 'mmap-lock ≥ 10×) is met.');
  const slow = natives().map((r) =>
    r.workload === 'fault-vs-mprotect' && r.policy === 'vma-rwsem' ? { ...r, p99_ns: 20_000 } : r,
  );
  const missed = await report_html(data({ native: slow }));
  has(missed, 'is missed by vma-rwsem at 4.0× (&gt; 1.5×).');
});
