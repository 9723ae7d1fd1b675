/*
 * A reader for the small YAML subset of docs/examples/ (GitHub Actions
 * workflows, Kubernetes manifests), so that the examples test needs no
 * YAML package: `---` documents, block mappings and sequences, `|`
 * literal blocks, `[a, b]` flow sequences of scalars, plain and quoted
 * scalars, `#` comments. Anything else (tabs, anchors, flow mappings,
 * folded or multi-line plain scalars, a bad indentation) is an error
 * naming its line, never a guess.
 */

export type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

interface Line {
  readonly no: number;
  readonly indent: number;
  readonly text: string;
}

class Reader {
  at = 0;
  constructor(
    readonly lines: Line[],
    readonly raw: readonly string[],
  ) {}

  fail(no: number, what: string): never {
    throw new Error(`line ${no}: ${what}`);
  }

  /* The block (mapping or sequence) whose lines are indented `indent`. */
  block(indent: number): Yaml {
    const first = this.lines[this.at]!;
    if (first.indent !== indent) this.fail(first.no, `indented ${first.indent}, not ${indent}`);
    return first.text.startsWith('-') ? this.sequence(indent) : this.mapping(indent);
  }

  sequence(indent: number): Yaml[] {
    const out: Yaml[] = [];
    const item = (l: Line | undefined): l is Line =>
      l !== undefined && l.indent === indent && (l.text.startsWith('- ') || l.text === '-');
    for (let l = this.lines[this.at]; item(l); l = this.lines[this.at]) {
      const rest = l.text.slice(1).trimStart();
      if (rest === '') this.fail(l.no, "a bare '-' item");
      // `- key: value` opens a mapping whose keys sit where `key` does.
      const inner = indent + (l.text.length - rest.length);
      this.lines[this.at] = { no: l.no, indent: inner, text: rest };
      out.push(KEY.test(rest) ? this.mapping(inner) : this.scalar_line(inner));
    }
    return out;
  }

  mapping(indent: number): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    for (let l = this.lines[this.at]; l && l.indent === indent; l = this.lines[this.at]) {
      const m = KEY.exec(l.text);
      if (!m) this.fail(l.no, `not a 'key: value' line: ${l.text}`);
      const key = m[1]!;
      const value = m[2] ?? '';
      if (key in out) this.fail(l.no, `key '${key}' given twice`);
      this.at++;
      if (value === '') out[key] = this.nested(indent);
      else if (value === '|') out[key] = this.literal(indent, l.no);
      else out[key] = scalar(value, l.no);
    }
    const l = this.lines[this.at];
    if (l && l.indent > indent) this.fail(l.no, 'indented deeper than its mapping');
    return out;
  }

  /* The value under `key:` or a bare `-`: a deeper block (or a sequence at its level), else null. */
  nested(indent: number): Yaml {
    const next = this.lines[this.at];
    if (next && next.indent > indent) return this.block(next.indent);
    if (next && next.indent === indent && next.text.startsWith('- ')) return this.sequence(indent);
    return null;
  }

  /*
   * A `|` block: the raw lines after its key, up to the first non-blank
   * one not indented deeper than the key, less their common margin.
   */
  literal(indent: number, no: number): string {
    const body: string[] = [];
    for (let i = no; i < this.raw.length; i++) {
      const r = this.raw[i]!;
      if (r.trim() !== '' && r.length - r.trimStart().length <= indent) break;
      body.push(r);
    }
    while (body.length > 0 && body.at(-1)!.trim() === '') body.pop();
    if (body.length === 0) this.fail(no, 'an empty literal block');
    const end = no + body.length;
    while (this.at < this.lines.length && this.lines[this.at]!.no <= end) this.at++;
    const margin = Math.min(
      ...body.filter((b) => b.trim() !== '').map((b) => b.length - b.trimStart().length),
    );
    return `${body.map((b) => b.slice(margin)).join('\n')}\n`;
  }

  scalar_line(indent: number): Yaml {
    const l = this.lines[this.at++]!;
    if (l.indent !== indent) this.fail(l.no, 'misplaced scalar');
    return scalar(l.text, l.no);
  }
}

const KEY = /^([A-Za-z_][\w.-]*):(?: +(.*))?$/;

/* A scalar: quoted, a flow sequence of scalars, or plain (numbers and booleans typed). */
function scalar(text: string, no: number): Yaml {
  const t = text.trim();
  if (/^[&*!{>]/.test(t)) throw new Error(`line ${no}: unsupported YAML: ${t}`);
  if (t.startsWith('[')) {
    if (!t.endsWith(']')) throw new Error(`line ${no}: an unclosed flow sequence`);
    const inner = t.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((s) => scalar(s, no));
  }
  const q = /^"((?:[^"\\]|\\.)*)"$|^'((?:[^']|'')*)'$/.exec(t);
  if (q) return q[1] !== undefined ? JSON.parse(`"${q[1]}"`) : q[2]!.replaceAll("''", "'");
  if (/^["']/.test(t)) throw new Error(`line ${no}: an unclosed quoted scalar`);
  if (/^-?\d+$/.test(t)) return Number(t);
  if (t === 'true' || t === 'false') return t === 'true';
  if (t === 'null' || t === '~') return null;
  return t;
}

/* A line's content with a trailing ` # comment` cut (outside quotes). */
function uncomment(text: string): string {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) quote = c === quote ? '' : quote;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || text[i - 1] === ' ')) return text.slice(0, i).trimEnd();
  }
  return text.trimEnd();
}

/** The documents of a YAML text, each a mapping or a sequence. */
export function parse_yaml(text: string): Yaml[] {
  const raw = text.split('\n');
  const docs: Line[][] = [[]];
  raw.forEach((r, i) => {
    if (r.includes('\t')) throw new Error(`line ${i + 1}: a tab`);
    if (r === '---') docs.push([]);
    else if (uncomment(r).trim() !== '')
      docs
        .at(-1)!
        .push({ no: i + 1, indent: r.length - r.trimStart().length, text: uncomment(r).trim() });
  });
  return docs
    .filter((d) => d.length > 0)
    .map((d) => {
      const r = new Reader(d, raw);
      const doc = r.block(0);
      if (r.at < d.length) r.fail(d[r.at]!.no, 'text after the document');
      return doc;
    });
}
