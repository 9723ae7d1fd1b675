/*
 * A doubly linked intrusive list, as wait queues use it: a head of {first,
 * last} and nodes whose first two words are {next, prev}. The caller holds
 * whatever lock protects the list. A node that list_del_init() took off
 * points to itself, so list_empty() of a node tells whether it is queued,
 * as in the kernel.
 */
import { defineStruct } from '../runtime/layout.js';
import type { KernelContext, KGen } from '../runtime/ops.js';

export const LIST_HEAD = defineStruct('list_head', {
  first: 'the lock of the list: first node, 0 if empty',
  last: 'the lock of the list: last node',
});

/** The first two words of every node. */
export const LIST_NODE = defineStruct('list_node', {
  next: 'the lock of the list: next node, 0 at the end, itself when not queued',
  prev: 'the lock of the list: previous node, 0 at the front',
});

export function* list_add_tail(k: KernelContext, head: number, node: number): KGen {
  const last = yield k.load(head + LIST_HEAD.last);
  yield k.store(node + LIST_NODE.next, 0);
  yield k.store(node + LIST_NODE.prev, last);
  if (last === 0) yield k.store(head + LIST_HEAD.first, node);
  else yield k.store(last + LIST_NODE.next, node);
  yield k.store(head + LIST_HEAD.last, node);
}

export function* list_del_init(k: KernelContext, head: number, node: number): KGen {
  const next = yield k.load(node + LIST_NODE.next);
  const prev = yield k.load(node + LIST_NODE.prev);
  if (prev === 0) yield k.store(head + LIST_HEAD.first, next);
  else yield k.store(prev + LIST_NODE.next, next);
  if (next === 0) yield k.store(head + LIST_HEAD.last, prev);
  else yield k.store(next + LIST_NODE.prev, prev);
  yield k.store(node + LIST_NODE.next, node);
  yield k.store(node + LIST_NODE.prev, node);
}

/** The first node, 0 if the list is empty. One access: returns the op for the caller to yield. */
export function list_first(k: KernelContext, head: number): number {
  return k.load(head + LIST_HEAD.first);
}

/** list_is_singular() */
export function* list_is_singular(k: KernelContext, head: number): KGen<boolean> {
  const first = yield k.load(head + LIST_HEAD.first);
  return first !== 0 && first === (yield k.load(head + LIST_HEAD.last));
}

/** list_empty() of a node: not queued on any list. */
export function* list_node_empty(k: KernelContext, node: number): KGen<boolean> {
  return (yield k.load(node + LIST_NODE.next)) === node;
}
