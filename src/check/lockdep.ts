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
import { KernelBug, LOCK_WRITE } from '../runtime/ops.js';

interface Held {
  dep_map: number;
  cls: number;
  mode: number;
  trylock: boolean;
}

export class Lockdep implements LockChecker {
  private held_locks: Held[][] = [];
  /** Per lock: the task holding it for write, or -1. */
  private writer = new Map<number, number>();
  /** Per lock: tasks holding it for read. */
  private readers = new Map<number, number[]>();
  private edges = new Map<number, Set<number>>();

  constructor(private readonly task_name: (t: number) => string) {}

  reset(nr_tasks: number): void {
    this.held_locks = Array.from({ length: nr_tasks }, () => []);
    this.writer.clear();
    this.readers.clear();
    this.edges.clear();
  }

  private name(cls: number): string {
    return lock_class_name(cls);
  }

  acquire(task: number, dep_map: number, cls: number, mode: number, trylock: boolean): void {
    const who = this.task_name(task);
    const w = this.writer.get(dep_map) ?? -1;
    const r = this.readers.get(dep_map) ?? [];
    const mine = this.held_locks[task]!;
    if (mine.some((h) => h.dep_map === dep_map)) {
      throw new KernelBug(
        'lockdep',
        `lockdep: possible recursive locking detected: ${who} acquires ${this.name(cls)} it already holds`,
      );
    }
    if (mode === LOCK_WRITE && (w >= 0 || r.length > 0)) {
      const other =
        w >= 0
          ? `${this.task_name(w)} holds it for write`
          : `${r.map((t) => this.task_name(t)).join(', ')} hold${r.length > 1 ? '' : 's'} it for read`;
      throw new KernelBug(
        'exclusion',
        `mutual exclusion violated: ${who} acquired ${this.name(cls)} for write while ${other}`,
      );
    }
    if (mode !== LOCK_WRITE && w >= 0) {
      throw new KernelBug(
        'exclusion',
        `mutual exclusion violated: ${who} acquired ${this.name(cls)} for read while ${this.task_name(w)} holds it for write`,
      );
    }
    if (!trylock) {
      for (const h of mine) if (h.cls !== cls) this.add_edge(task, h.cls, cls);
    }
    mine.push({ dep_map, cls, mode, trylock });
    if (mode === LOCK_WRITE) this.writer.set(dep_map, task);
    else this.readers.set(dep_map, [...r, task]);
  }

  private add_edge(task: number, from: number, to: number): void {
    let out = this.edges.get(from);
    if (!out) {
      out = new Set();
      this.edges.set(from, out);
    }
    if (out.has(to)) return;
    const path = this.path(to, from);
    if (path) {
      const chain = [...path, to].map((c) => this.name(c)).join(' -> ');
      throw new KernelBug(
        'lockdep',
        `lockdep: possible circular locking dependency detected: ${this.task_name(task)} takes ${this.name(to)} while holding ${this.name(from)}, and the existing chain is ${chain}`,
      );
    }
    out.add(to);
  }

  /* A path of classes from `a` to `b` in the dependency graph, or null. */
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
      for (const n of this.edges.get(c) ?? []) {
        if (!prev.has(n)) {
          prev.set(n, c);
          queue.push(n);
        }
      }
    }
    return null;
  }

  release(task: number, dep_map: number): void {
    const mine = this.held_locks[task]!;
    const i = mine.findIndex((h) => h.dep_map === dep_map);
    if (i < 0) {
      throw new KernelBug(
        'lockdep',
        `lockdep: bad unlock balance detected: ${this.task_name(task)} releases a lock it does not hold`,
      );
    }
    const [h] = mine.splice(i, 1);
    if (h!.mode === LOCK_WRITE) this.writer.delete(dep_map);
    else {
      const r = (this.readers.get(dep_map) ?? []).filter((t) => t !== task);
      if (r.length) this.readers.set(dep_map, r);
      else this.readers.delete(dep_map);
    }
  }

  task_exit(task: number): void {
    const mine = this.held_locks[task]!;
    if (mine.length > 0) {
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
