/*
 * The x axis of the timeline picture. The steps near the bug matter most:
 * the last FOCUS_STEPS get a fixed, readable width each; everything before
 * them is squeezed into CONTEXT_BUDGET_PX, so that a trace of 200,000
 * steps still makes a page a browser can draw. Where the squeeze leaves
 * less than MIN_MARK_PX a step, the steps of each task are drawn as one
 * mark per BUCKET_PX (src/report/timeline_svg.ts). The page scrolls
 * horizontally and opens at the right end, where the bug is.
 */

const FOCUS_STEPS = 200;
/** A short trace is spread to about this width. */
const FOCUS_TARGET_PX = 960;
const MIN_STEP_PX = 12;
const MAX_STEP_PX = 40;
const CONTEXT_BUDGET_PX = 1600;
/** The gap that shows where the squeezed part ends. */
const BREAK_PX = 28;
const MIN_MARK_PX = 3;
/** The margin left of the first step (and right of the picture). */
export const PAD_PX = 12;

export class XScale {
  /** Trace index of the first step drawn at full width. */
  readonly focus_from: number;
  readonly focus_step_px: number;
  readonly ctx_step_px: number;
  readonly gap_px: number;

  constructor(readonly n: number) {
    this.focus_from = Math.max(0, n - FOCUS_STEPS);
    const focus_n = Math.max(1, n - this.focus_from);
    this.focus_step_px = clamp(FOCUS_TARGET_PX / focus_n, MIN_STEP_PX, MAX_STEP_PX);
    this.ctx_step_px =
      this.focus_from === 0
        ? this.focus_step_px
        : Math.min(this.focus_step_px, CONTEXT_BUDGET_PX / this.focus_from);
    this.gap_px = this.squeezed ? BREAK_PX : 0;
  }

  /** Whether the steps before the focus are drawn narrower than the focus. */
  get squeezed(): boolean {
    return this.focus_from > 0 && this.ctx_step_px < this.focus_step_px;
  }

  /** Left edge of step `i` (0 <= i <= n). */
  x_px(i: number): number {
    if (i < this.focus_from) return PAD_PX + i * this.ctx_step_px;
    return (
      PAD_PX +
      this.focus_from * this.ctx_step_px +
      this.gap_px +
      (i - this.focus_from) * this.focus_step_px
    );
  }

  step_px(i: number): number {
    return i < this.focus_from ? this.ctx_step_px : this.focus_step_px;
  }

  mid_px(i: number): number {
    return this.x_px(i) + this.step_px(i) / 2;
  }

  /** Whether step `i` gets a mark of its own. */
  detailed(i: number): boolean {
    return this.step_px(i) >= MIN_MARK_PX;
  }

  get end_px(): number {
    return this.x_px(this.n);
  }
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
