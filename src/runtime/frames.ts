/*
 * Naming the kernel code that made an access, from V8's own stack: the
 * backtraces of a traced replay (KernelContext.tracing) and the frame
 * registry of the timing executor's step weights and calibration's frame
 * samples (KernelContext.framing). Both are off on every hot path.
 */

/*
 * The functions on V8's stack above `from`, innermost first, up to the
 * KStack (or the executor) that resumed the running frame: each as V8
 * names it, `named` false where it prints no name (an unnamed function,
 * shown by its location alone).
 */
function stack_functions(
  from: (...args: never[]) => unknown,
  limit: number,
): { fn: string | undefined; named: boolean }[] {
  const holder: { stack?: string } = {};
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = limit;
  Error.captureStackTrace(holder, from);
  Error.stackTraceLimit = saved;
  const out: { fn: string | undefined; named: boolean }[] = [];
  for (const line of (holder.stack ?? '').split('\n').slice(1)) {
    const m = /^\s+at (?:Object\.|KernelContext\.)?([\w$.<>]+)( \()?/.exec(line);
    const fn = m?.[1];
    if (fn?.includes('KStack') || fn?.includes('Executor') || fn?.includes('Explorer')) break;
    out.push({ fn, named: m?.[2] !== undefined });
  }
  return out;
}

/*
 * The kernel functions on the stack of an access, innermost first: the
 * running frame's from V8's stack, up to the KStack that resumed it, then
 * the callers the KStack recorded (`callers`, outermost first).
 */
export function kernel_backtrace(
  from: (...args: never[]) => unknown,
  callers: readonly (readonly string[])[],
): string[] {
  const out: string[] = [];
  for (const { fn } of stack_functions(from, 24)) {
    // A generator's next() shows as `fn.next` when a KStack resumes it.
    if (
      !fn ||
      fn === 'set' ||
      fn === 'hook' ||
      fn === 'next' ||
      fn.endsWith('.next') ||
      fn === '<anonymous>'
    )
      continue;
    if (out[out.length - 1] !== fn) out.push(fn);
  }
  for (let i = callers.length - 1; i >= 0; i--)
    for (const fn of callers[i]!) if (out[out.length - 1] !== fn) out.push(fn);
  return out;
}

/* An access's backtrace: kernel_backtrace() less the KernelContext method that made the access. */
export function access_backtrace(callers: readonly (readonly string[])[]): string[] {
  return kernel_backtrace(access_backtrace, callers).filter(
    (fn, i) =>
      i > 0 ||
      !/^(load|store|READ_ONCE|WRITE_ONCE|load_acquire|store_release|cmpxchg|xchg|fetch_\w+|cond_load_ne|futex_\w+|rcu_read_\w+|lock_\w+|alloc|free)$/.test(
        fn,
      ),
  );
}

/*
 * Frames, by kernel function: a generator's prototype is its function's
 * own, so it names the frame's function without a stack trace at every
 * access. The name is read from V8's stack the first time a function's
 * frame makes an access (in this isolate), and interned: ids are this
 * isolate's; names are what crosses between workers.
 */
const frame_ids = new WeakMap<object, number>();
const frame_names: string[] = [];
const frame_by_name = new Map<string, number>();

/* The id of the kernel function named `name`, interned. */
function frame_id(name: string): number {
  let id = frame_by_name.get(name);
  if (id === undefined) {
    id = frame_names.length;
    frame_names.push(name);
    frame_by_name.set(name, id);
  }
  return id;
}

/** The name of frame id `id`. */
export function frame_name(id: number): string {
  return frame_names[id]!;
}

let nr_frames_named = 0;

/** How many frames' functions were named from V8's stack so far: each took a stack trace. */
export function frames_named(): number {
  return nr_frames_named;
}

/* The frame id of a generator of prototype `proto`, the running frame of the access being made. */
export function frame_of(proto: object): number {
  let id = frame_ids.get(proto);
  if (id === undefined) {
    id = frame_id(running_frame_name());
    frame_ids.set(proto, id);
    nr_frames_named++;
  }
  return id;
}

/*
 * The function of the frame a KStack resumed, from V8's stack: the
 * outermost kernel function below the KStack (a frame runs its plain
 * `yield*` callees inside it). An unnamed generator (a callback written
 * in place) is '<anonymous>'.
 */
function running_frame_name(): string {
  let name = '<anonymous>';
  for (const { fn, named } of stack_functions(running_frame_name, 200)) {
    if (named && fn!.endsWith('.next')) continue;
    name = named ? fn! : '<anonymous>';
  }
  return name;
}
