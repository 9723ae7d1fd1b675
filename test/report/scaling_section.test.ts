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

/* pft at the published thread counts, each policy's aggregate `ops(policy, cpus)`. */
function with_pft(ops: (policy: string, cpus: number) => number) {
  const scaling = data().scaling.filter((r) => ![21, 48, 56].includes(r.cpus));
  for (const policy of ['vma-rwsem', 'vma-refcnt'])
    for (const cpus of [21, 48, 56])
      scaling.push({ ...scaling_point('pft', policy, cpus), ops_per_s: ops(policy, cpus) });
  return data({
    scaling: scaling.map((r) =>
      r.cpus === 1 && r.policy.startsWith('vma-') ? { ...r, ops_per_s: ops(r.policy, 1) } : r,
    ),
  });
}

test('pft: the published points are drawn over the curves, and a model that agrees meets every target', async () => {
  // The letter's shape: 8.3x at 21 and 9.6x at 56, refcnt ahead by the letter's gains.
  const rwsem: Record<number, number> = { 1: 1e6, 21: 8.27e6, 48: 9.3e6, 56: 9.62e6 };
  const gain: Record<number, number> = { 1: 0, 21: 0.14, 48: 0.13, 56: 0.12 };
  const html = await report_html(
    with_pft((p, n) => rwsem[n]! * (p === 'vma-refcnt' ? 1 + gain[n]! : 1)),
  );
  has(html, 'mmtests pft, 2025');
  has(html, 'vma-rwsem 21 over 1 CPU 8.3× (published 8.3×, met)');
  has(html, 'vma-refcnt&#39;s gain at 48 CPUs +13% (published +13%, met)');
  has(html, 'The model meets every target');
  has(html, '<li>pft against the published measurement: 6 of 6 targets met.</li>');
  lacks(html, 'The gain turns on');
});

test('pft: a model that scales as the published but ties the designs is told its gain, not its scaling, is unvalidated', async () => {
  const rwsem: Record<number, number> = { 1: 1e6, 21: 8.3e6, 48: 9.3e6, 56: 9.6e6 };
  const html = await report_html(with_pft((_p, n) => rwsem[n]!));
  has(
    html,
    '<li>pft against the published measurement: 3 of 6 targets met; the gain between the two designs is unvalidated.</li>',
  );
});

test('pft: a model whose aggregate falls is told it misses, target by target', async () => {
  const html = await report_html(with_pft((_p, n) => 1e6 / n));
  has(html, 'vma-rwsem 56 over 1 CPU 0.0× (published 9.6×, missed)');
  has(html, 'vma-refcnt&#39;s gain at 1 CPU +0% (published −0.3%, met)');
  has(
    html,
    'The model misses 5 of its 6 targets: its pft curves and their ranking are unvalidated predictions',
  );
  lacks(html, 'The model meets every target');
});

test('pft without the published CPU counts: the targets are not run, and so missed', async () => {
  const html = await report_html(data());
  has(html, 'vma-rwsem 21 over 1 CPU not run (published 8.3×, missed)');
  lacks(html, 'The model meets every target');
});

test('pft: a design the published measurement ranks second is not called the leader, and each reversed ranking is said', async () => {
  // rwsem ahead of refcnt at 21, 48 and 56, and ahead of everyone at 256.
  const d = with_pft((p, n) => (p === 'vma-rwsem' ? 2e6 : 1e6) * (n === 1 ? 0.5 : 1));
  const scaling = d.scaling.map((r) =>
    r.workload === 'pft' && r.policy === 'vma-rwsem' && r.cpus === 256
      ? { ...r, ops_per_s: 1e9 }
      : r,
  );
  const html = await report_html(data({ ...d, scaling }));
  has(html, 'At 256 CPUs the model puts vma-rwsem ahead, at');
  has(
    html,
    'a ranking the published data contradict: the published measurement puts vma-refcnt ahead of vma-rwsem at 21, 48 and 56 CPUs.',
  );
  has(html, 'pft at 256 CPUs (predicted, contradicted): the model puts vma-rwsem ahead');
  lacks(html, 'vma-rwsem leads');
  lacks(html, 'At 256 CPUs vma-rwsem reaches');
  has(
    html,
    'Its ranking is contradicted: at 21 CPUs the model puts vma-rwsem ahead, the published vma-refcnt; at 48 CPUs',
  );
});

test('pft: a model that ties the designs where the published ranks them says it ties them, and puts neither ahead', async () => {
  // The two designs within 1% of each other at 21, 48 and 56 CPUs, refcnt barely ahead.
  const html = await report_html(with_pft((p, n) => (p === 'vma-refcnt' ? 1.01e6 : 1e6) * n));
  has(
    html,
    'Its ranking is contradicted: at 21 CPUs the model ties them, the published puts vma-refcnt ahead; at 48 CPUs the model ties them',
  );
  lacks(html, 'the model puts vma-refcnt ahead');
  has(html, 'The gain turns on how long a core keeps a contended line it has just written');
});

test('pft: a model ranking the designs as the published does names its leader and no contradiction', async () => {
  const html = await report_html(data());
  lacks(html, 'the model puts');
  lacks(html, 'Its ranking is contradicted');
  lacks(html, '(predicted, contradicted)');
});
