/*
 * The report's bug catalogue: each seed bug, how often and how fast the
 * explorer found it, its replay string, and the fixed kernel's verdict.
 */
import type { Catalogue, CatalogueEntry } from '../check/catalogue.js';
import { fmt_ms, fmt_si, plural } from './format.js';
import { cell, esc, table_html, tr } from './html_util.js';
import type { Section } from './section.js';

export function catalogue_section(c: Catalogue | null): Section {
  const head = '<h2 id="catalogue">The bug catalogue</h2>';
  if (c === null || c.entries.length === 0)
    return { html: `${head}\n<p>The bug catalogue was not run.</p>`, headline: null };
  const rows = c.entries.map((e) =>
    tr([
      cell(e.variant, 'mono'),
      cell(e.seed_doc),
      cell(e.scenario),
      cell(e.policy),
      cell(`${e.found_seeds}/${e.seeds}`, e.found ? 'num good' : 'num bad'),
      cell(e.class ?? '—'),
      cell(e.preemptions === null ? '—' : String(e.preemptions), 'num'),
      cell(fmt_ms(e.median_ms), 'num'),
      cell(fmt_ms(e.worst_ms), 'num'),
      cell(fixed_text(e), e.fixed_clean ? 'good' : 'bad'),
      e.replay === null ? cell('—') : `<td class="replay"><code>${esc(e.replay)}</code></td>`,
    ]),
  );
  const table = table_html(
    [
      'variant',
      'seed',
      'scenario',
      'policy',
      'found (seeds)',
      'class',
      'preemptions',
      'median time',
      'worst time',
      'fixed kernel',
      'replay',
    ],
    rows,
  );
  const f = catalogue_finding(c);
  return {
    html: [head, table, `<p class="finding">${esc(f.sentence)}</p>`].join('\n'),
    headline: f.headline,
  };
}

/** The fixed kernel's verdict: clean, and up to which preemption bound that is a proof. */
function fixed_text(e: CatalogueEntry): string {
  if (!e.fixed_clean) return 'bug found';
  const n = `${e.fixed_schedules.toLocaleString('en-US')} schedules`;
  if (e.fixed_proved_bound !== null && e.fixed_proved_bound >= 0)
    return `clean, proved to ${plural(e.fixed_proved_bound, 'preemption')} (${n})`;
  return `clean within the budget (${n})`;
}

function catalogue_finding(c: Catalogue): { sentence: string; headline: string } {
  const n = c.entries.length;
  const all_seeds = c.entries.filter((e) => e.found).length;
  const any_seed = c.entries.filter((e) => e.found_seeds > 0).length;
  const clean = c.entries.filter((e) => e.fixed_clean).length;
  const proved = c.entries.filter(
    (e) => e.fixed_clean && e.fixed_proved_bound !== null && e.fixed_proved_bound >= 0,
  ).length;
  const slowest = c.entries.reduce((a, b) => (b.worst_ms > a.worst_ms ? b : a));
  const named = (how: string, entries: readonly CatalogueEntry[]) =>
    entries.length > 0 ? [`${how}: ${entries.map((e) => e.variant).join(', ')}`] : [];
  const misses = [
    ...named(
      'missed by every seed',
      c.entries.filter((e) => e.found_seeds === 0),
    ),
    ...named(
      'missed by some seed',
      c.entries.filter((e) => !e.found && e.found_seeds > 0),
    ),
  ].join('; ');
  const dirty = c.entries.filter((e) => !e.fixed_clean).map((e) => e.variant);
  const found =
    all_seeds === n
      ? `Every seed found each of the ${n} bugs`
      : `${all_seeds} of the ${n} bugs were found by every seed and ${any_seed} by at least one (${misses})`;
  const fixed =
    clean === n
      ? `every fixed kernel ran clean${proved > 0 ? `, ${proved} of them proved clean up to their preemption bound` : ''}`
      : `the fixed kernel still failed for ${dirty.join(', ')}`;
  return {
    sentence:
      `${found}; the slowest to find was ${slowest.variant} (worst ${fmt_ms(slowest.worst_ms)}), and ${fixed}. ` +
      `The explorer ran ${fmt_si(c.schedules_per_s)} schedules per second.`,
    headline: `Bug catalogue: ${any_seed}/${n} bugs found, the seeds' and historical (${all_seeds} by every seed), ${clean}/${n} fixed kernels clean.`,
  };
}
