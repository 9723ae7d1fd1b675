/* The report's cost profiles: step weights listed dearest first. */
import { test } from 'node:test';
import { report_html } from '../../src/report/html.js';
import { data, has, lacks } from './fixture.js';

test("a profile's step weights are listed dearest first; a profile without has none", async () => {
  const html = await report_html(
    data({
      profiles: [
        { name: 'hw', constants: [] },
        {
          name: 'js',
          constants: [{ name: 'step_ns', value_ns: 200, source: 'fitted' }],
          step_weights: { walk_present_ptes: 0.5, gup_fast: 2, '<x>': 1 },
        },
      ],
    }),
  );
  has(html, 'Dearest first: gup_fast ×2.00, &lt;x&gt; ×1.00, walk_present_ptes ×0.50.');
  has(html, '<p>js: a step costs step_ns times the weight');
  lacks(html, '<p>hw: a step costs');
});
