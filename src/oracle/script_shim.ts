/*
 * TEMPORARY: stands in for wt-script's concurrent-script half (parse,
 * print, check_script) until that branch is merged; deleted then.
 */
import type { CheckOptions, CheckOutcome } from '../check/search.js';
import { type ConcurrentScript, type Line, ScriptError } from '../script/ast.js';
import { parse_script } from '../script/parse.js';
import { format_script } from '../script/print.js';

export function print_concurrent(s: ConcurrentScript): string {
  const sections = s.cpus.map((lines, i) => `cpu ${i}:\n${format_script(lines)}`);
  return `${s.setup.length > 0 ? format_script(s.setup) : ''}${sections.join('')}`;
}

export function parse_concurrent(text: string): ConcurrentScript {
  const parts = text.split(/^cpu (\d+):\n/m);
  const setup_text = parts[0]!;
  const setup = parse_script(setup_text);
  const cpus: Line[][] = [];
  for (let i = 1; i < parts.length; i += 2) {
    if (Number(parts[i]) !== cpus.length) throw new ScriptError(1, 'cpu sections out of order');
    cpus.push(parse_script(setup_text + parts[i + 1]!).lines.slice(setup.lines.length));
  }
  if (cpus.length < 2 || cpus.length > 4) throw new ScriptError(1, '2 to 4 cpu sections');
  return { files: setup.files, setup: setup.lines, cpus };
}

export function check_script(
  _s: ConcurrentScript,
  _cfg: { policy: string; variant: string },
  _o: CheckOptions,
): Promise<CheckOutcome> {
  return Promise.reject(new Error('check_script: wt-script not merged yet'));
}
