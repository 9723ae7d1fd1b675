/*
 * Progress of the report's long steps (the catalogue, the benchmarks, the
 * charts), on stderr only: stdout stays free for what a command prints
 * (and for --json, which must be one JSON document there). On a terminal
 * each step is a cli-progress bar redrawn in place; elsewhere (CI logs, a
 * file, a pipe) redrawing would leave a carriage-return mess, so a step
 * prints one line when it starts and one when it ends.
 */
import { Presets, SingleBar } from 'cli-progress';

/** One step in progress. */
interface Bar {
  /** One unit of the step's total done; `label` says what runs next (or what just ran). */
  tick(label?: string): void;
  /** The step is over (whatever the ticks); its time in ms. Calling it again does nothing. */
  done(): number;
}

/** Where progress goes: any writable stream; `isTTY` decides between bars and lines. */
type ProgressStream = NodeJS.WritableStream & { readonly isTTY?: boolean };

interface ProgressOptions {
  /** Default: process.stderr. */
  readonly stream?: ProgressStream;
}

/** Seconds as a log line shows them. */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/**
 * The steps of a long job, one at a time. Each step's time is kept in
 * `durations_ms` under its title, for the report's "how long" table.
 */
export class Progress {
  readonly durations_ms: Record<string, number> = {};
  private readonly stream: ProgressStream;
  private current: Bar | null = null;

  constructor(opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
  }

  /**
   * Start a step of `total` units. Steps do not nest: two bars redrawn on
   * one line would overwrite each other, so a step still open ends here.
   */
  step(title: string, total: number): Bar {
    this.current?.done();
    const t0 = performance.now();
    const finish =
      this.stream.isTTY === true ? this.tty_bar(title, total) : this.log_bar(title, total);
    let ended = false;
    let ticks = 0;
    const bar: Bar = {
      tick: (label) => {
        if (ended) return;
        ticks = Math.min(total, ticks + 1);
        finish.update(ticks, label ?? '');
      },
      done: () => {
        if (ended) return this.durations_ms[title] ?? 0;
        ended = true;
        const ms = performance.now() - t0;
        this.durations_ms[title] = ms;
        finish.end(ms);
        if (this.current === bar) this.current = null;
        return ms;
      },
    };
    this.current = bar;
    return bar;
  }

  private tty_bar(title: string, total: number): StepOutput {
    const bar = new SingleBar(
      {
        stream: this.stream,
        format: `${title} {bar} {value}/{total} {duration_formatted} {label}`,
        barsize: 24,
        // A cursor left hidden by a crash stays hidden in the user's shell.
        hideCursor: false,
        clearOnComplete: false,
        // Never fall back to cli-progress's own non-TTY output: log_bar does that.
        noTTYOutput: false,
      },
      Presets.shades_classic,
    );
    bar.start(Math.max(total, 0), 0, { label: '' });
    return {
      update: (value, label) => bar.update(value, { label }),
      end: () => bar.stop(),
    };
  }

  private log_bar(title: string, total: number): StepOutput {
    this.stream.write(`${title}: started (${total} to do)\n`);
    let value = 0;
    return {
      update: (v) => {
        value = v;
      },
      end: (ms) => this.stream.write(`${title}: done, ${value}/${total} in ${seconds(ms)}\n`),
    };
  }
}

/** What a step draws, on a terminal or in a log. */
interface StepOutput {
  update(value: number, label: string): void;
  end(ms: number): void;
}
