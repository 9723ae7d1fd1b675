/*
 * The replay string: one shell-safe token that names a scenario, its
 * configuration and the whole schedule, so that `mmlab replay STRING`
 * reproduces a run bit for bit.
 *
 *	m1:lock-selftest:c=2,p=vma-refcnt,v=broken-spinlock,iters=2:0x12.1x3.0x40:9f3a01c2
 *
 * The schedule is run-length encoded: task x steps, joined by dots. The
 * last field is the trace hash of the recorded run: a replay that does not
 * reproduce it did not replay the same execution. A scenario made from
 * text (a concurrent script) carries the text as the item s=BASE64URL, so
 * that the string alone replays it; a run that went on past the races
 * triaged as Linux's own (src/check/triaged.ts) carries kcsan=past-triaged.
 */
export interface ReplayRecord {
  readonly scenario: string;
  readonly cpus: number;
  readonly policy: string;
  readonly variant: string;
  readonly params: Record<string, number>;
  readonly choices: Uint8Array;
  /** The scenario's text, for one made from text (Scenario.source). */
  readonly source?: string | undefined;
  /** Trace hash of the recorded run; a replay must reproduce it. */
  readonly hash?: number | undefined;
  /** Whether the run went on past the races triaged as Linux's own (kcsan=past-triaged). */
  readonly past_triaged?: boolean | undefined;
}

/** The configuration item of a run that went past the triaged races (Explorer.check()). */
const PAST_TRIAGED = 'kcsan=past-triaged';

const VERSION = 'm1';

export function encode_replay(r: ReplayRecord): string {
  const cfg = [`c=${r.cpus}`, `p=${r.policy}`];
  if (r.variant) cfg.push(`v=${r.variant}`);
  for (const [key, v] of Object.entries(r.params)) cfg.push(`${key}=${v}`);
  if (r.past_triaged) cfg.push(PAST_TRIAGED);
  if (r.source !== undefined) cfg.push(`s=${Buffer.from(r.source).toString('base64url')}`);
  const runs: string[] = [];
  const ch = r.choices;
  for (let i = 0; i < ch.length; ) {
    let j = i;
    while (j < ch.length && ch[j] === ch[i]) j++;
    runs.push(`${ch[i]}x${j - i}`);
    i = j;
  }
  const hash = r.hash === undefined ? '' : `:${hex32(r.hash)}`;
  return `${VERSION}:${r.scenario}:${cfg.join(',')}:${runs.join('.')}${hash}`;
}

/** Parse a replay string; throws an Error naming what is wrong. */
export function decode_replay(s: string): ReplayRecord {
  const parts = s.trim().split(':');
  if ((parts.length !== 4 && parts.length !== 5) || parts[0] !== VERSION) {
    throw new Error(
      `replay string: expected '${VERSION}:SCENARIO:CONFIG:SCHEDULE[:HASH]', got '${s.slice(0, 40)}${s.length > 40 ? '...' : ''}'`,
    );
  }
  const [, scenario, cfg, sched, hash_hex] = parts as [
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  if (hash_hex !== undefined && !/^[0-9a-f]{8}$/.test(hash_hex))
    throw new Error(`replay string: bad trace hash '${hash_hex}'`);
  const hash = hash_hex === undefined ? undefined : Number.parseInt(hash_hex, 16);
  if (!/^[a-z0-9-]+$/.test(scenario))
    throw new Error(`replay string: bad scenario name '${scenario}'`);
  let cpus = 0;
  let variant = '';
  let policy = '';
  let source: string | undefined;
  let past_triaged = false;
  const params: Record<string, number> = {};
  for (const kv of cfg.split(',')) {
    if (kv.startsWith('kcsan=')) {
      if (kv !== PAST_TRIAGED || past_triaged)
        throw new Error(
          `replay string: bad configuration item '${kv}' (only '${PAST_TRIAGED}', once)`,
        );
      past_triaged = true;
      continue;
    }
    const text = /^s=([A-Za-z0-9_-]+)$/.exec(kv);
    if (text) {
      source = Buffer.from(text[1]!, 'base64url').toString();
      continue;
    }
    const m = /^([a-z_][a-z0-9_]*)=([a-z0-9-]+)$/.exec(kv);
    if (!m) throw new Error(`replay string: bad configuration item '${kv}'`);
    const [, key, v] = m as unknown as [string, string, string];
    if (key === 'v') variant = v;
    else if (key === 'p') policy = v;
    else if (/^\d+$/.test(v)) {
      if (key === 'c') cpus = Number(v);
      else params[key] = Number(v);
    } else throw new Error(`replay string: '${key}' needs a number, not '${v}'`);
  }
  if (cpus < 1) throw new Error('replay string: the configuration has no CPU count (c=N)');
  if (policy === '') throw new Error('replay string: the configuration has no policy (p=NAME)');
  const runs = sched === '' ? [] : sched.split('.');
  let n = 0;
  const decoded: [number, number][] = [];
  for (const run of runs) {
    const m = /^(\d{1,3})x(\d{1,9})$/.exec(run);
    if (!m || Number(m[1]) > 255) throw new Error(`replay string: bad schedule run '${run}'`);
    decoded.push([Number(m[1]), Number(m[2])]);
    n += Number(m[2]);
  }
  if (n > 1 << 28) throw new Error('replay string: schedule too long');
  const choices = new Uint8Array(n);
  let i = 0;
  for (const [t, len] of decoded) {
    choices.fill(t, i, i + len);
    i += len;
  }
  return { scenario, cpus, policy, variant, params, choices, hash, source, past_triaged };
}

/** A trace hash as replay strings and reports print it: 8 hex digits. */
export function hex32(h: number): string {
  return (h >>> 0).toString(16).padStart(8, '0');
}
