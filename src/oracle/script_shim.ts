/*
 * TEMPORARY: stands in for wt-script's concurrent-script half
 * (check_script) until that branch is merged; deleted then.
 */
import type { CheckOptions, CheckOutcome } from '../check/search.js';
import type { ConcurrentScript } from '../script/ast.js';

export function check_script(
  _s: ConcurrentScript,
  _cfg: { policy: string; variant: string },
  _o: CheckOptions,
): Promise<CheckOutcome> {
  return Promise.reject(new Error('check_script: wt-script not merged yet'));
}
