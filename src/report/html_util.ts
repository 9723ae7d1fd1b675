/*
 * The markup both pages are written in (the report, src/report/html.ts,
 * and the timeline, src/report/timeline_html.ts): escaped text, table
 * cells and rows, and the SVG elements the timeline draws with.
 */

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text and attribute values alike: kernel names hold `<`, `>` and `&` (backtraces, messages). */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/* ---- tables ---- */

/** A page's opening lines, through `<body>`: its title (escaped here) and its style sheet. */
export function page_open(title: string, css: string): string[] {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${css}</style>`,
    '</head>',
    '<body>',
  ];
}

export function cell(text: string, cls?: string): string {
  return cls === undefined ? `<td>${esc(text)}</td>` : `<td class="${cls}">${esc(text)}</td>`;
}

export function tr(cells: readonly string[], cls?: string): string {
  return `<tr${cls === undefined ? '' : ` class="${cls}"`}>${cells.join('')}</tr>`;
}

export function table_html(headers: readonly string[], rows: readonly string[]): string {
  return [
    '<div class="table"><table>',
    `<thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>\n${rows.join('\n')}\n</tbody>`,
    '</table></div>',
  ].join('\n');
}

/* ---- SVG ---- */

/** Coordinates with one decimal: enough for a screen, and a smaller page. */
export function px(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function tooltip(tip: string | undefined): string {
  return tip === undefined ? '' : `<title>${esc(tip)}</title>`;
}

export function rect_el(
  x_px: number,
  y_px: number,
  w_px: number,
  h_px: number,
  cls: string,
  tip?: string,
): string {
  const attrs = `class="${cls}" x="${px(x_px)}" y="${px(y_px)}" width="${px(w_px)}" height="${px(h_px)}"`;
  return tip === undefined ? `<rect ${attrs}/>` : `<rect ${attrs}>${tooltip(tip)}</rect>`;
}

export function line_el(
  x0_px: number,
  y0_px: number,
  x1_px: number,
  y1_px: number,
  cls: string,
  tip?: string,
): string {
  const attrs = `${cls ? `class="${cls}" ` : ''}x1="${px(x0_px)}" y1="${px(y0_px)}" x2="${px(x1_px)}" y2="${px(y1_px)}"`;
  return tip === undefined ? `<line ${attrs}/>` : `<line ${attrs}>${tooltip(tip)}</line>`;
}

export function text_el(
  x_px: number,
  y_px: number,
  s: string,
  cls: string,
  anchor: 'start' | 'middle' | 'end' = 'start',
): string {
  const a = anchor === 'start' ? '' : ` text-anchor="${anchor}"`;
  return `<text class="${cls}" x="${px(x_px)}" y="${px(y_px)}"${a}>${esc(s)}</text>`;
}
