/*
 * mmlab check --list [SCENARIO]: every scenario (or one) with what a run of
 * it can set: its CPUs, its variants and its parameters, each with its
 * meaning, as the scenario documents them.
 */

import { explorable_cpus, type Scenario } from '../runtime/scenario.js';
import { SCENARIOS } from '../scenarios/index.js';
import { scenario_arg } from './common.js';
import { bold, dim } from './style.js';
import { EXIT_OK, UsageError } from './usage.js';

interface ParamListing {
  readonly name: string;
  /** The explorer's default. */
  readonly default: number;
  readonly doc: string;
  readonly max?: number;
  /** The default natively (mmlab stress), where it differs. */
  readonly native?: number;
  readonly native_only?: { readonly value: number; readonly means: string };
}

interface ScenarioListing {
  readonly name: string;
  readonly description: string;
  readonly default_cpus: number;
  readonly max_cpus: number;
  readonly variants: readonly { readonly name: string; readonly doc: string }[];
  readonly params: readonly ParamListing[];
}

function listing(s: Scenario): ScenarioListing {
  return {
    name: s.name,
    description: s.description,
    default_cpus: s.default_cpus,
    // check explores it: the explorer's bound on tasks counts too.
    max_cpus: explorable_cpus(s),
    variants: s.variants.map((name) => ({ name, doc: s.variant_docs?.[name] ?? '' })),
    params: Object.entries(s.params).map(([name, value]) => {
      const d = s.param_docs?.[name];
      const max = s.param_max?.[name];
      return {
        name,
        default: value,
        doc: d?.doc ?? '',
        ...(max === undefined ? {} : { max }),
        ...(d?.native === undefined ? {} : { native: d.native }),
        ...(d?.native_only ? { native_only: d.native_only } : {}),
      };
    }),
  };
}

/* A parameter's line after its meaning: its bound, its native default, its native-only value. */
function param_notes(p: ParamListing): string {
  const notes = [
    p.max === undefined ? '' : `at most ${p.max}`,
    p.native === undefined ? '' : `natively ${p.native}`,
    p.native_only ? `${p.native_only.value} ${p.native_only.means}, natively only` : '',
  ].filter(Boolean);
  return notes.length > 0 ? dim(` (${notes.join('; ')})`) : '';
}

function print_listing(l: ScenarioListing): void {
  console.log(`${bold(l.name)}: ${l.description}`);
  console.log(`  cpus: ${l.default_cpus} by default, at most ${l.max_cpus}`);
  const width = Math.max(0, ...l.variants.map((v) => v.name.length));
  console.log(`  variants (--variant V):${l.variants.length === 0 ? ' none' : ''}`);
  for (const v of l.variants) console.log(`    ${v.name.padEnd(width)}  ${v.doc}`);
  const key = (p: ParamListing) => `${p.name}=${p.default}`;
  const kwidth = Math.max(0, ...l.params.map((p) => key(p).length));
  console.log(`  parameters (--param K=V, defaults shown):${l.params.length === 0 ? ' none' : ''}`);
  for (const p of l.params) console.log(`    ${key(p).padEnd(kwidth)}  ${p.doc}${param_notes(p)}`);
}

export function cmd_list(
  name: string | undefined,
  opts: { json?: boolean; catalogue?: boolean },
): number {
  if (opts.catalogue) throw new UsageError('--list and --catalogue: give one');
  const scenarios = name === undefined ? [...SCENARIOS.values()] : [scenario_arg(name)];
  const listings = scenarios.map(listing);
  if (opts.json) {
    console.log(JSON.stringify({ scenarios: listings }));
    return EXIT_OK;
  }
  listings.forEach((l, i) => {
    if (i > 0) console.log('');
    print_listing(l);
  });
  return EXIT_OK;
}
