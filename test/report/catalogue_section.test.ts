/* The report's bug catalogue: escaped replay strings, the computed finding. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { report_html } from '../../src/report/html.js';
import { catalogue_entry, data, has, lacks, NASTY_REPLAY } from './fixture.js';

test('the catalogue table shows replay strings escaped', async () => {
  const html = await report_html(data());
  lacks(html, NASTY_REPLAY);
  has(html, '<code>1:fetch_add:vm_lock.count,0:*&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;</code>');
  has(html, '<code>2:xchg:task_struct[0].__state</code>');
  has(html, 'clean, proved to 3 preemptions');
  has(html, 'Every seed found each of the 2 bugs');
  // The summary counts every entry, not only the seeds' (historical bugs are entries too).
  has(html, 'Bug catalogue: 2/2 bugs found, the seeds&#39; and historical');
  has(html, 'the slowest to find was put-reads-mm-late (worst 900 ms)');
  assert.ok(html.includes('a &lt;measured&gt; value'), 'profile sources are escaped too');
});

test('a bug no seed found is said to be missed by every seed, apart from one some seed missed; one preemption is singular', async () => {
  const never = catalogue_entry({
    variant: 'never-found',
    found: false,
    found_seeds: 0,
    class: null,
    preemptions: null,
    replay: null,
    fixed_proved_bound: 1,
  });
  const entries = [
    never,
    catalogue_entry({ variant: 'once-missed', found: false, found_seeds: 2 }),
  ];
  const html = await report_html(data({ catalogue: { entries, schedules_per_s: 1000 } }));
  has(
    html,
    '0 of the 2 bugs were found by every seed and 1 by at least one (missed by every seed: never-found; missed by some seed: once-missed)',
  );
  has(html, 'clean, proved to 1 preemption (10,000 schedules)');
});
