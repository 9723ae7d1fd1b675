/* The report's charts as SVG. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { render_svg, scaling_spec } from '../../src/report/charts.js';
import { lacks, POLICIES, SCALING_CPUS, scaling_point } from './fixture.js';

test('the scaling chart has a base-2 CPU axis with a tick per power of two', async () => {
  const svg = await render_svg(
    scaling_spec(
      'pft',
      'fault',
      POLICIES.flatMap((p) => SCALING_CPUS.map((n) => scaling_point('pft', p, n))),
    ),
  );
  for (const n of SCALING_CPUS) assert.ok(svg.includes(`>${n}</text>`), `tick ${n}`);
  lacks(svg, 'xlink');
});
