/*
 * The native executor's control block: a second SharedArrayBuffer, apart
 * from kernel memory, through which workers publish their progress and what
 * they wait on, and the main thread tells them to stop. Line 0 holds the
 * abort word and the start barrier; task t owns line t + 1 (64 bytes, so no false sharing).
 */
const CTRL_STRIDE = 16;
/*
 * A task's line: its steps and its changes to kernel memory so far (each
 * published every 1024 steps), its state and what it waits on, and the
 * watchdog's request that it name the function it spins in (1), or none (0).
 */
export const CTRL = { steps: 0, state: 1, op: 2, addr: 3, changes: 4, spinning: 5 } as const;
export const CTRL_ABORT = 0;
/*
 * The start barrier: each worker counts itself in READY once it has loaded
 * its modules; the last one sets GO and tells the main thread, so that
 * every CPU starts together and a timed run is timed from then.
 */
export const CTRL_READY = 1;
export const CTRL_GO = 2;

export const TASK_RUNNING = 0;
export const TASK_BLOCKED = 1;
export const TASK_DONE = 2;

export function ctrl_base(task: number): number {
  return (task + 1) * CTRL_STRIDE;
}

export function ctrl_words(nr_tasks: number): number {
  return ctrl_base(nr_tasks);
}
