/*
 * The report's native vs timing section: the frozen js profile's
 * deviations told, never judged, beside how far native lands from itself;
 * the host speed and the interferer's operations.
 */
import { test } from 'node:test';
import type { BenchResult } from '../../src/bench/result.js';
import { report_html } from '../../src/report/html.js';
import { data, deviation_row, has, lacks, natives, timing_js } from './fixture.js';

test('the frozen js profile is information: deviations are told, no point passes or fails', async () => {
  const html = await report_html(data());
  const row = deviation_row(html, 'pft', 'mmap-lock', 2);
  has(row, '+40%');
  has(deviation_row(html, 'pft', 'vma-refcnt', 2), '+10%');
  const section = html.slice(html.indexOf('id="native-vs-timing"'), html.indexOf('id="counters"'));
  for (const verdict of ['beyond', '✗', '±', 'within', 'target', 'miss']) lacks(section, verdict);
  has(html, 'Native vs the timing model (js profile, frozen)');
  has(
    html,
    'Measured natively on this machine beside predicted by the timing model with the js profile. The js profile is frozen and not validated',
  );
  has(
    html,
    'The model lands a median 10% from native; the furthest is pft under mmap-lock at 2 CPUs (+40%).',
  );
  // mmap-lock's speed-up from 1 to 2 CPUs: 2.55x predicted, 2x measured (+27%); the others' 0%.
  has(html, 'is predicted a median 0% from native&#39;s over 4 steps.');
  has(
    html,
    'Timing model (js profile, frozen, not validated) beside native: a median 10% from native.',
  );
});

test("each prediction is the model's at the host speed its native point ran at", async () => {
  // pft's 2-CPU points natively at half the js profile's host speed: the model's 1.4x over
  // native under mmap-lock becomes 0.7x; its 1-CPU points at the profile's.
  const native = natives().map((r) => ({ ...r, host_speed: r.cpus === 2 ? 4 : 8 }));
  const js = { name: 'js', constants: [], host_speed: 8 };
  const html = await report_html(data({ native, timing_js: timing_js(native), profiles: [js] }));
  const row = deviation_row(html, 'pft', 'mmap-lock', 2);
  has(row, '×0.50');
  has(row, '−30%');
  has(html, 'a host-speed probe between the native runs put it at ×0.50 to ×1.00');
  has(html, 'js: calibrated with this machine running the host-speed probe at 8.00 steps/µs');
  // Without a profile speed the model's figures stand as they are.
  const plain = await report_html(data({ native, timing_js: timing_js(native) }));
  has(deviation_row(plain, 'pft', 'mmap-lock', 2), '×1.00');
  lacks(plain, 'host-speed probe between');
});

test("each native point's runs are shown beside the model: how far native lands from itself", async () => {
  const native = natives().map((r) =>
    r.workload === 'pft' && r.policy === 'vma-rwsem' && r.cpus === 1
      ? { ...r, runs_ops_per_s: [900_000, 1_000_000, 1_200_000] }
      : r,
  );
  const html = await report_html(data({ native, timing_js: timing_js(native) }));
  has(deviation_row(html, 'pft', 'vma-rwsem', 1), '900 k–1.20 M (20%)');
  // The model's 1.1 M falls between the runs' 900 k and 1.2 M.
  has(
    html,
    'Native lands this far from itself: the runs of one point land a median 20% from their median (furthest 20%), and the model&#39;s figure falls between a point&#39;s slowest and fastest run on 1 of 1 points.',
  );
  has(html, 'native&#39;s own runs a median 20% from theirs.');
});

test('where cpu0 interferes, what got through each of its operations is shown native / timing', async () => {
  const fvm = (r: BenchResult, run_ops: number): BenchResult => ({
    ...r,
    counters: { ...r.counters, run_ops, interferer_ops: 1000 },
  });
  const native = natives().map((r) => (r.workload === 'fault-vs-mprotect' ? fvm(r, 1000) : r));
  const timing = [
    ...timing_js(native),
    ...native
      .filter((r) => r.workload === 'fault-vs-mprotect')
      .map((r) => ({ ...fvm(r, 6400), executor: 'timing' as const, profile: 'js' as const })),
  ];
  const workloads = data().workloads.map((w) =>
    w.name === 'fault-vs-mprotect' ? { ...w, interferer_op: 'mprotect' } : w,
  );
  const html = await report_html(data({ native, timing_js: timing, workloads }));
  has(deviation_row(html, 'fault-vs-mprotect', 'vma-refcnt', 2), '1.0 / 6.4 faults/mprotect');
  lacks(deviation_row(html, 'pft', 'vma-refcnt', 2), '/mprotect');
});
