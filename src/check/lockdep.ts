/*
 * lockdep for the explorer (kernel/locking/lockdep.c in spirit), driven by
 * the lock_acquire()/lock_release() annotations that locks make once they
 * hold, and are about to drop, a lock:
 *  - mutual exclusion: a write acquisition while anyone else holds the
 *    lock, or a read acquisition while someone holds it for write, is a
 *    broken lock (the annotation comes after the acquisition succeeded);
 *  - recursive locking, and the release of a lock the task does not hold;
 *  - the lock-class dependency graph: taking B while holding A adds A -> B;
 *    a cycle is a possible deadlock even if this schedule did not hang;
 *  - a lock still held when its task ends.
 * The graph is rebuilt per schedule so that a replay reproduces a report.
 */

import { lock_class_name } from '../kernel/locking/lockdep.js';
import type { LockChecker } from '../runtime/executors/explore.js';
import { KernelBug, LOCK_ANY, LOCK_WRITE } from '../runtime/ops.js';

interface Held {
  dep_map: number;
  cls: number;
  mode: number;
}

/** Who holds one lock now. */
interface LockState {
  /** The task holding it for write, or -1. */
  writer: number;
  /** How many tasks hold it for read. */
  readers: number;
}

export class Lockdep implements LockChecker {
  private held_locks: Held[][] = [];
  private readonly locks = new Map<number, LockState>();
  /**
   * The class graph: from -> (to -> schedule in which the edge was added).
   * Edges of earlier schedules do not count, so that a report replays; an
   * epoch instead of clearing keeps reset() free of work.
   */
  private readonly edges = new Map<number, Map<number, number>>();
  private epoch = 0;

  constructor(private readonly task_name: (t: number) => string) {}

  reset(nr_tasks: number): void {
    while (this.held_locks.length < nr_tasks) this.held_locks.push([]);
    for (const h of this.held_locks) h.length = 0;
    for (const l of this.locks.values()) {
      l.writer = -1;
      l.readers = 0;
    }
    this.epoch++;
  }

  private name(cls: number): string {
    return lock_class_name(cls);
  }

  private state(dep_map: number): LockState {
    let l = this.locks.get(dep_map);
    if (!l) {
      l = { writer: -1, readers: 0 };
      this.locks.set(dep_map, l);
    }
    return l;
  }

  /* The tasks that hold `dep_map` for read (reports only). */
  private readers_of(dep_map: number): string {
    const out: string[] = [];
    this.held_locks.forEach((held, t) => {
      if (held.some((h) => h.dep_map === dep_map && h.mode !== LOCK_WRITE))
        out.push(this.task_name(t));
    });
    return out.join(', ');
  }

  acquire(task: number, dep_map: number, cls: number, mode: number, trylock: boolean): void {
    const mine = this.held_locks[task]!;
    for (let i = 0; i < mine.length; i++) {
      if (mine[i]!.dep_map === dep_map) {
        throw new KernelBug(
          'lockdep',
          `lockdep: possible recursive locking detected: ${this.task_name(task)} acquires ${this.name(cls)} it already holds`,
        );
      }
    }
    const l = this.state(dep_map);
    if (l.writer >= 0 || (mode === LOCK_WRITE && l.readers > 0)) {
      const other =
        l.writer >= 0
          ? `${this.task_name(l.writer)} holds it for write`
          : `${this.readers_of(dep_map)} hold(s) it for read`;
      throw new KernelBug(
        'exclusion',
        `mutual exclusion violated: ${this.task_name(task)} acquired ${this.name(cls)} for ${mode === LOCK_WRITE ? 'write' : 'read'} while ${other}`,
      );
    }
    if (!trylock) {
      for (let i = 0; i < mine.length; i++)
        if (mine[i]!.cls !== cls) this.add_edge(task, mine[i]!.cls, cls);
    }
    mine.push({ dep_map, cls, mode });
    if (mode === LOCK_WRITE) l.writer = task;
    else l.readers++;
  }

  private add_edge(task: number, from: number, to: number): void {
    let out = this.edges.get(from);
    if (!out) {
      out = new Map();
      this.edges.set(from, out);
    }
    if (out.get(to) === this.epoch) return;
    const path = this.path(to, from);
    if (path) {
      const chain = [...path, to].map((c) => this.name(c)).join(' -> ');
      throw new KernelBug(
        'lockdep',
        `lockdep: possible circular locking dependency detected: ${this.task_name(task)} takes ${this.name(to)} while holding ${this.name(from)}, and the existing chain is ${chain}`,
      );
    }
    out.set(to, this.epoch);
  }

  /* A path of classes from `a` to `b` over this schedule's edges, or null. */
  private path(a: number, b: number): number[] | null {
    const prev = new Map<number, number>([[a, a]]);
    const queue = [a];
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === b) {
        const out = [c];
        for (let x = c; x !== a; ) {
          x = prev.get(x)!;
          out.unshift(x);
        }
        return out;
      }
      for (const [n, epoch] of this.edges.get(c) ?? []) {
        if (epoch === this.epoch && !prev.has(n)) {
          prev.set(n, c);
          queue.push(n);
        }
      }
    }
    return null;
  }

  release(task: number, dep_map: number): void {
    const mine = this.held_locks[task]!;
    let i = mine.length - 1;
    while (i >= 0 && mine[i]!.dep_map !== dep_map) i--;
    if (i < 0) {
      throw new KernelBug(
        'lockdep',
        `lockdep: bad unlock balance detected: ${this.task_name(task)} releases a lock it does not hold`,
      );
    }
    const h = mine[i]!;
    mine.splice(i, 1);
    const l = this.state(dep_map);
    if (h.mode === LOCK_WRITE) l.writer = -1;
    else l.readers--;
  }

  assert_held(task: number, dep_map: number, cls: number, mode: number): void {
    const h = this.held_locks[task]!.find((x) => x.dep_map === dep_map);
    if (h && (mode === LOCK_ANY || h.mode === mode)) return;
    const want = mode === LOCK_ANY ? '' : mode === LOCK_WRITE ? ' for write' : ' for read';
    const what = h
      ? `holds it for ${h.mode === LOCK_WRITE ? 'write' : 'read'}`
      : 'does not hold it';
    throw new KernelBug(
      'lockdep',
      `lockdep_assert_held failed: ${this.task_name(task)} must hold ${this.name(cls)}${want} and ${what}`,
    );
  }

  task_exit(task: number): void {
    if (this.held_locks[task]!.length > 0) {
      throw new KernelBug(
        'lockdep',
        `lockdep: ${this.task_name(task)} ended still holding ${this.held(task).join(', ')}`,
      );
    }
  }

  held(task: number): string[] {
    return this.held_locks[task]!.map(
      (h) => `${this.name(h.cls)} (${h.mode === LOCK_WRITE ? 'write' : 'read'})`,
    );
  }
}
