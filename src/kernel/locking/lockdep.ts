/*
 * Lock classes (the `struct lock_class_key` of each lock's init site) and
 * lockdep's assertions. A class id is a hash of its name, so every worker
 * thread computes the same id without sharing a registry. The assertions
 * cost nothing natively (CONFIG_LOCKDEP is off there) and are checked by
 * the explorer.
 */
import { type KernelContext, type KGen, LOCK_ANY, LOCK_WRITE } from '../../runtime/ops.js';

const names = new Map<number, string>();

/** FNV-1a of `s`, kept to 31 bits so it fits a word and is never 0. */
export function name_hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 1) | 1;
}

export function lock_class(name: string): number {
  const id = name_hash(name);
  const had = names.get(id);
  if (had !== undefined && had !== name)
    throw new Error(`lock classes '${had}' and '${name}' collide`);
  names.set(id, name);
  return id;
}

export function lock_class_name(id: number): string {
  return names.get(id) ?? `class#${id}`;
}

/** lockdep_assert_held(): the caller holds the lock whose lockdep word is `dep_map`. */
export function* lockdep_assert_held(k: KernelContext, dep_map: number): KGen {
  if (k.lockdep) yield k.assert_held(dep_map, LOCK_ANY);
}

export function* lockdep_assert_held_write(k: KernelContext, dep_map: number): KGen {
  if (k.lockdep) yield k.assert_held(dep_map, LOCK_WRITE);
}
