/* The report's scaling sentences: the winner, its margin and the tie, as the data says. */
import { test } from 'node:test';
import { report_html } from '../../src/report/html.js';
import { data, has, lacks, POLICIES, SCALING_CPUS, scaling_point } from './fixture.js';

test('the scaling sentence names the winner, its margin and the tie at 1 CPU', async () => {
  const html = await report_html(data());
  has(html, 'At 256 CPUs vma-refcnt reaches 8.0× the fault/s of mmap-lock on pft');
  has(html, 'and 1.3× that of the next best, vma-rwsem');
  has(html, 'it leads from 2 CPUs on');
  has(html, 'At 1 CPU the four are within 4%.');
  has(html, 'pft at 256 CPUs (predicted): vma-refcnt leads with 8.0× the throughput of mmap-lock.');
});

test('the sentence follows the data: mmap-lock winning is told as such', async () => {
  const scaling = POLICIES.flatMap((p) =>
    SCALING_CPUS.map((n) => {
      const r = scaling_point('pft', p, n);
      return p === 'mmap-lock' && n === 256 ? { ...r, ops_per_s: 1e9 } : r;
    }),
  );
  const html = await report_html(data({ scaling }));
  has(html, 'At 256 CPUs mmap-lock reaches');
  lacks(html, 'At 256 CPUs vma-refcnt reaches');
});
