/*
 * The heap the executors allocate from: the slab allocator's mechanism
 * (mm/slab_common.c, mm/slub.c in spirit), kmem_caches of fixed-size
 * objects carved from whole pages. The kernel's API over it, kmalloc's
 * size classes included, is src/kernel/slab.ts.
 *
 * Two kinds of cache, and the difference is what the seeds are about:
 *  - SLAB_TYPESAFE_BY_RCU: a freed object may be handed out again at once,
 *    before any grace period; an RCU reader can find it reused as another
 *    object of the same type. The model recycles such objects eagerly (LIFO)
 *    so that every missing re-validation shows up, as KASAN's docs ask.
 *  - every other cache: a freed object is quarantined until a full grace
 *    period has passed, so a stale access lands on freed memory (a
 *    use-after-free the explorer reports) and never on a new object. When
 *    memory runs out the oldest is recycled anyway, as KASAN's quarantine
 *    does under pressure.
 *
 * Each object has a hidden three-word header: its generation (odd while
 * allocated, bumped by every allocation and free, so a stale pointer can be
 * told from a reused one), the free-list link and the quarantine's grace
 * period cookie. The link is outside the object so that a freed
 * SLAB_TYPESAFE_BY_RCU object keeps its contents, as SLUB keeps the free
 * pointer outside such objects.
 *
 * An allocation or a free is one step: the executor calls slab_alloc() and
 * slab_free() under the cache's word lock (natively a short spin).
 */
import { cacheline_aligned, defineStruct, field_at, round_up, type StructInfo } from './layout.js';
import { hex, type KernelMemory, PAGE_WORDS } from './memory.js';
import { KernelBug } from './ops.js';

export const SLAB_TYPESAFE_BY_RCU = 1 << 0;
/*
 * The model's page allocator is two caches: struct pages and their frames.
 * Linux takes both from the buddy allocator through its per-CPU page
 * lists, no slab; these flags tell the timing executor to price them so
 * (timing_percpu.ts), a struct page's as the list's and a frame's as
 * nothing of its own. Object identity is as for any other cache.
 */
export const __SLAB_PAGES = 1 << 1;
export const __SLAB_PAGE_FRAMES = 1 << 2;
export const __GFP_ZERO = 1 << 0;

export const KMEM_CACHE = defineStruct('kmem_cache', {
  object_size: cacheline_aligned('constant: words of an object'),
  stride: 'constant: words of a slab cell: an object, its header, and padding to its alignment',
  offset: "constant: words from a cell's start to its object (the header just before it)",
  flags: 'constant: SLAB_TYPESAFE_BY_RCU, __SLAB_PAGES, __SLAB_PAGE_FRAMES',
  slab_pages: 'constant: pages per slab',
  name: 'constant: hash of the name',
  gp_seq: 'constant: address of rcu_state.gp_seq, which ages the quarantine',
  lock: 'itself: a word lock held for one allocation or free',
  freelist: 'lock: last freed object, reused first',
  quarantine_head: 'lock: oldest freed object waiting for its grace period',
  quarantine_tail: 'lock: newest such object',
  slab_cursor: 'lock: next never-used object of the newest slab',
  slab_end: 'lock: end of the newest slab',
  nr_active: 'lock: objects allocated now',
  nr_total: 'lock: objects ever carved',
  sheaf_capacity: "constant: kmem_cache_args' sheaf_capacity, 0 for SLUB's default by size",
});

/** Words before each object (offsets are negative from the object). */
const OBJ_HEADER_WORDS = 3;
const OBJ_GEN = -3;
const OBJ_NEXT = -2;
const OBJ_COOKIE = -1;

/** rcu_seq_snap(): the gp_seq at which a grace period started after now has ended. */
function rcu_seq_snap(gp_seq: number): number {
  return (gp_seq + 3) & ~1;
}

/** rcu_seq_done() (ULONG_CMP_GE on a wrapping counter). */
function rcu_seq_done(gp_seq: number, snap: number): boolean {
  return ((gp_seq - snap) | 0) >= 0;
}

/*
 * A slab's cell for one object of `info`: its header, then the object,
 * padded to the struct's alignment. Slabs start on a page, so cells of a
 * multiple of the alignment, each object as far into its cell as aligns
 * it, keep every object aligned (KMEM_CACHE() passes the struct's
 * __alignof__, and SLUB aligns each object to it).
 */
function slab_cell(info: StructInfo): { offset: number; stride: number } {
  const offset = round_up(OBJ_HEADER_WORDS, info.align);
  return { offset, stride: round_up(offset + info.size, info.align) };
}

/**
 * Words one object of `info` costs its cache: its cell (header and
 * padding included) and its share of the slack at its slab's end, which
 * slab_order_pages() lets reach a sixteenth of the slab: for a page
 * frame, 69 words more than its cell.
 */
export function slab_object_words(info: StructInfo): number {
  const { stride } = slab_cell(info);
  const slab_words = slab_order_pages(stride) * PAGE_WORDS;
  return slab_words / Math.floor(slab_words / stride);
}

/**
 * A new cache of `info`'s objects, named `name` (`name_id`: the hash the
 * kmem_cache keeps of it), its quarantine aged by the grace-period counter
 * at address `gp_seq`; its per-CPU sheaves hold `sheaf_capacity` objects
 * (0: SLUB's default for the size), which only the timing executor prices.
 */
export function cache_create(
  m: KernelMemory,
  name: string,
  name_id: number,
  info: StructInfo,
  flags: number,
  gp_seq: number,
  sheaf_capacity = 0,
): number {
  const c = m.boot_alloc(KMEM_CACHE.$, `kmem_cache ${name}`);
  const w = m.words;
  const { offset, stride } = slab_cell(info);
  w[c + KMEM_CACHE.object_size] = info.size;
  w[c + KMEM_CACHE.stride] = stride;
  w[c + KMEM_CACHE.offset] = offset;
  w[c + KMEM_CACHE.flags] = flags;
  w[c + KMEM_CACHE.slab_pages] = slab_order_pages(stride);
  w[c + KMEM_CACHE.name] = name_id;
  w[c + KMEM_CACHE.gp_seq] = gp_seq;
  w[c + KMEM_CACHE.sheaf_capacity] = sheaf_capacity;
  m.caches.set(c, { name, info });
  return c;
}

/*
 * Pages per slab: one page for small objects; for large ones the smallest
 * slab (up to 32 pages) that wastes at most 1/16 of itself, as SLUB picks
 * a higher order for big objects.
 */
function slab_order_pages(stride: number): number {
  const min = Math.ceil(stride / PAGE_WORDS);
  for (let n = min; n <= 32; n++) {
    const waste = n * PAGE_WORDS - Math.floor((n * PAGE_WORDS) / stride) * stride;
    if (waste * 16 <= n * PAGE_WORDS) return n;
  }
  return min;
}

function lock_cache(w: Int32Array, c: number): void {
  while (Atomics.compareExchange(w, c + KMEM_CACHE.lock, 0, 1) !== 0) {
    // Held for a handful of word operations by another worker thread.
  }
}

function unlock_cache(w: Int32Array, c: number): void {
  Atomics.store(w, c + KMEM_CACHE.lock, 0);
}

/** kmem_cache_alloc(): the new object, or 0 when memory is exhausted. */
export function slab_alloc(m: KernelMemory, c: number, gfp: number): number {
  const w = m.words;
  lock_cache(w, c);
  let obj = w[c + KMEM_CACHE.freelist]!;
  if (obj !== 0) {
    w[c + KMEM_CACHE.freelist] = w[obj + OBJ_NEXT]!;
  } else {
    // The oldest quarantined object, once its grace period is over; or, when
    // no new slab can be had, regardless (KASAN's quarantine also recycles its
    // oldest objects under memory pressure).
    const oldest = w[c + KMEM_CACHE.quarantine_head]!;
    const aged =
      oldest !== 0 &&
      rcu_seq_done(Atomics.load(w, w[c + KMEM_CACHE.gp_seq]!), w[oldest + OBJ_COOKIE]!);
    obj = aged ? 0 : carve(m, c);
    if (obj === 0 && oldest !== 0) {
      obj = oldest;
      const next = w[obj + OBJ_NEXT]!;
      w[c + KMEM_CACHE.quarantine_head] = next;
      if (next === 0) w[c + KMEM_CACHE.quarantine_tail] = 0;
    }
    if (obj === 0) {
      unlock_cache(w, c);
      m.note_exhausted();
      return 0;
    }
  }
  w[obj + OBJ_NEXT] = 0;
  w[obj + OBJ_GEN] = (w[obj + OBJ_GEN]! + 1) | 0;
  if (gfp & __GFP_ZERO) w.fill(0, obj, obj + w[c + KMEM_CACHE.object_size]!);
  w[c + KMEM_CACHE.nr_active]!++;
  mark_object(m, c, obj);
  unlock_cache(w, c);
  return obj;
}

/* An allocation or free wrote words of cache `c`'s header and of `obj` (its header included). */
function mark_object(m: KernelMemory, c: number, obj: number): void {
  const dirty = m.dirty;
  if (!dirty) return;
  dirty.mark_range(c, KMEM_CACHE.$.size);
  dirty.mark_range(obj - OBJ_HEADER_WORDS, OBJ_HEADER_WORDS + m.words[c + KMEM_CACHE.object_size]!);
}

/* A never-used object from the newest slab, or a new slab. Cache locked. */
function carve(m: KernelMemory, c: number): number {
  const w = m.words;
  const stride = w[c + KMEM_CACHE.stride]!;
  let cursor = w[c + KMEM_CACHE.slab_cursor]!;
  if (cursor === 0 || cursor + stride > w[c + KMEM_CACHE.slab_end]!) {
    const pages = w[c + KMEM_CACHE.slab_pages]!;
    const slab = m.alloc_slab_pages(pages, c);
    if (slab === 0) return 0;
    cursor = slab;
    w[c + KMEM_CACHE.slab_end] = slab + pages * PAGE_WORDS;
  }
  w[c + KMEM_CACHE.slab_cursor] = cursor + stride;
  w[c + KMEM_CACHE.nr_total]!++;
  return cursor + w[c + KMEM_CACHE.offset]!;
}

/**
 * The cache and object of an address inside a slab, or undefined for a
 * header or padding word or the slack at a slab's end. The object may be free, or
 * never allocated (generation 0).
 */
export function slab_object(
  m: KernelMemory,
  addr: number,
): { cache: number; obj: number } | undefined {
  const c = m.page_cache(addr);
  if (c === 0) return undefined;
  const w = m.words;
  const stride = w[c + KMEM_CACHE.stride]!;
  const base = m.page_slab(addr);
  const obj = base + Math.floor((addr - base) / stride) * stride + w[c + KMEM_CACHE.offset]!;
  if (
    addr < obj ||
    obj + w[c + KMEM_CACHE.object_size]! > base + w[c + KMEM_CACHE.slab_pages]! * PAGE_WORDS
  ) {
    return undefined;
  }
  return { cache: c, obj };
}

/**
 * Name an address for a report: `struct.field` of a boot object, or
 * `cache@object.field (gen N)` inside a slab, else its hex value.
 */
export function describe_addr(m: KernelMemory, addr: number): string {
  const boot_name = m.describe_boot(addr);
  if (boot_name) return boot_name;
  const so = slab_object(m, addr);
  if (!so) return hex(addr);
  const cache = m.caches.get(so.cache);
  const f = cache ? field_at(cache.info, addr - so.obj) : undefined;
  return `${cache?.name ?? 'object'}@${hex(so.obj)}${f ? `.${f.name}` : `+${addr - so.obj}`} (gen ${obj_generation(m.words, so.obj)})`;
}

export function obj_generation(w: Int32Array, obj: number): number {
  return Atomics.load(w, obj + OBJ_GEN);
}

export function obj_allocated(w: Int32Array, obj: number): boolean {
  return (obj_generation(w, obj) & 1) === 1;
}

/**
 * kmem_cache_free() / kfree(): returns the cache. A free of something that
 * is not an allocated object is the bug KASAN calls an invalid or double free.
 */
export function slab_free(m: KernelMemory, obj: number, expect_cache: number, cpu: number): number {
  const w = m.words;
  const where = slab_object(m, obj);
  if (!where || where.obj !== obj)
    throw new KernelBug(
      'invalid-free',
      `KASAN: invalid-free of 0x${obj.toString(16)} by cpu ${cpu}`,
    );
  const c = where.cache;
  if (expect_cache !== 0 && expect_cache !== c) {
    throw new KernelBug(
      'invalid-free',
      `kmem_cache_free: 0x${obj.toString(16)} does not belong to ${m.caches.get(expect_cache)?.name ?? 'that cache'} (cpu ${cpu})`,
    );
  }
  lock_cache(w, c);
  const gen = w[obj + OBJ_GEN]!;
  if ((gen & 1) === 0) {
    unlock_cache(w, c);
    throw new KernelBug('double-free', `KASAN: double-free of 0x${obj.toString(16)} by cpu ${cpu}`);
  }
  w[obj + OBJ_GEN] = (gen + 1) | 0;
  w[c + KMEM_CACHE.nr_active]!--;
  if (w[c + KMEM_CACHE.flags]! & SLAB_TYPESAFE_BY_RCU) {
    w[obj + OBJ_NEXT] = w[c + KMEM_CACHE.freelist]!;
    w[c + KMEM_CACHE.freelist] = obj;
  } else {
    w[obj + OBJ_NEXT] = 0;
    w[obj + OBJ_COOKIE] = rcu_seq_snap(Atomics.load(w, w[c + KMEM_CACHE.gp_seq]!));
    const tail = w[c + KMEM_CACHE.quarantine_tail]!;
    if (tail === 0) w[c + KMEM_CACHE.quarantine_head] = obj;
    else {
      w[tail + OBJ_NEXT] = obj;
      m.dirty?.mark(tail + OBJ_NEXT);
    }
    w[c + KMEM_CACHE.quarantine_tail] = obj;
  }
  mark_object(m, c, obj);
  unlock_cache(w, c);
  return c;
}

/** Objects allocated now from cache `c` (leak checks). */
export function cache_active(w: Int32Array, c: number): number {
  return Atomics.load(w, c + KMEM_CACHE.nr_active);
}
