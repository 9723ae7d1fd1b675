/*
 * What the kernel keeps per CPU in front of its shared allocator state,
 * as the timing executor prices it: which cache lines an allocation, a
 * free or a counter update touches, and how long it holds a shared lock.
 *
 *	struct page (__SLAB_PAGES)	the page allocator's per-CPU list
 *					(struct per_cpu_pages), refilled from the
 *					zone in batches under zone->lock
 *					(rmqueue_bulk()) and drained to it above
 *					pcp->high (free_pcppages_bulk());
 *					mm/page_alloc.c
 *	a page frame (__SLAB_PAGE_FRAMES)	nothing: the data of the page counted above
 *	every other slab object		SLUB's per-CPU sheaves (struct
 *					slub_percpu_sheaves: a main and a spare
 *					sheaf), exchanged whole with the node's
 *					barn under barn->lock, refilled from and
 *					flushed to the slabs under the node's
 *					list_lock; mm/slub.c
 *	add_mm_counter()		mm->rss_stat[member], a percpu_counter:
 *					this CPU's s32, folded into the shared
 *					count under its lock at
 *					percpu_counter_batch; lib/percpu_counter.c
 *	each struct page allocated or freed	one node vmstat update (NR_ANON_MAPPED,
 *					NR_FILE_MAPPED, ...): this CPU's
 *					vm_node_stat_diff, folded into the node's
 *					and the global counters past
 *					stat_threshold; mm/vmstat.c
 *
 * The structures live in a per-CPU area of their own past the end of
 * kernel memory (as Linux's per-CPU chunks are not slab memory), so that
 * the cache model prices their lines and no kernel object moves: the
 * kernel code makes no access to them, so no schedule of the explorer and
 * no native run sees them. Which object an allocation returns is the
 * heap's business and stays as the explorer needs it (heap.ts: eager
 * LIFO reuse of SLAB_TYPESAFE_BY_RCU objects across CPUs, every other
 * cache quarantined); these lists decide only what the step costs.
 *
 * A long run leaves each CPU's lists somewhere in their cycle, not all
 * empty at once: every count starts spread evenly over its batch across
 * the tasks (spread()), so that a short model run does not begin with
 * every CPU refilling from the zone at the same moment.
 */

import { __SLAB_PAGE_FRAMES, __SLAB_PAGES, KMEM_CACHE } from '../heap.js';
import { cacheline_aligned, defineStruct, L1_CACHE_WORDS, round_up } from '../layout.js';
import type { KernelMemory } from '../memory.js';
import { ACCESS_RMW, ACCESS_WRITE, type CacheModel } from './cache_model.js';
import type { CostProfile } from './timing_costs.js';

/** The zone every page comes from (one node, ZONE_NORMAL). */
export const ZONE = defineStruct('zone', {
  lock: cacheline_aligned(
    'itself: a spinlock, held by rmqueue_bulk() and free_pcppages_bulk() for a batch',
  ),
  nr_moved: 'lock: pages the per-CPU lists took from the free lists, less those they gave back',
});

/** The node's and the machine's vmstat counters, each a line of atomics. */
export const VM_NODE_STAT = defineStruct('vm_node_stat', {
  vm_stat: cacheline_aligned('atomic: the per-CPU diffs folded into the counter'),
});

/* One slab cache's node: its barn of whole sheaves and its partial slabs. */
export const NODE_BARN = defineStruct('node_barn', {
  lock: cacheline_aligned('itself: a spinlock held to take or give one sheaf'),
  nr_full: 'lock: full sheaves in the barn',
  nr_empty: 'lock: empty sheaves in the barn',
});
export const KMEM_CACHE_NODE = defineStruct('kmem_cache_node', {
  list_lock: cacheline_aligned(
    "itself: a spinlock held while a sheaf is filled from or flushed to the node's slabs",
  ),
  nr_moved: 'list_lock: objects the sheaves took from the slabs, less those they gave back',
});

/** One of mm->rss_stat[]: a percpu_counter's shared part (eight to a line, an mm's four together). */
export const PERCPU_COUNTER = defineStruct('percpu_counter', {
  lock: "itself: a raw spinlock held to fold a CPU's count",
  count: 'lock: the folded value',
});

/* One CPU's share. */
export const PER_CPU_PAGES = defineStruct('per_cpu_pages', {
  count: cacheline_aligned('this CPU only (pcp_spin_lock): pages on the list'),
  high: 'constant: drain to the zone above this many',
  batch: 'constant: pages moved to or from the zone at a time',
});
export const PER_CPU_NODESTAT = defineStruct('per_cpu_nodestat', {
  vm_node_stat_diff: cacheline_aligned('this CPU only: node counter changes not yet folded'),
});
export const SLUB_PERCPU_SHEAVES = defineStruct('slub_percpu_sheaves', {
  main: 'this CPU only (cpu_sheaves->lock): objects in the main sheaf',
  spare: 'this CPU only (cpu_sheaves->lock): objects in the spare sheaf',
});

/*
 * pcp->batch for a zone of more than 1 GiB: zone_batchsize() caps the
 * batch at 1 MiB of pages, a quarter of it, rounded to 2^n - 1 (63). Its
 * high: six batches, the default of pageset_set_batch() before the
 * high-auto-tuning of v6.7 (which grows it for a CPU that keeps
 * allocating, and so refills rarer but as long).
 */
const PCP_BATCH = 63;
const PCP_HIGH = 6 * PCP_BATCH;
/* calculate_normal_threshold()'s cap, which a zone of a server's size reaches. */
const STAT_THRESHOLD = 125;
/* MAX_FULL_SHEAVES: the full sheaves a barn keeps before a put flushes one to the slabs. */
const MAX_FULL_SHEAVES = 10;
/* Slots of rss_stat counters, one per counter (mm and member) as first met; more share them. */
const COUNTER_SLOTS = 256;
/* Work under a barn's lock: unlinking one sheaf and linking another (list_del, list_add). */
const BARN_STEPS = 2;

/*
 * calculate_sheaf_capacity(): by the object's size in bytes, then grown
 * to fill the kmalloc bucket of the sheaf (a 32-byte header and 8 bytes an
 * object); a cache's own sheaf_capacity (kmem_cache_args) when it asks
 * for more.
 */
export function sheaf_capacity(size_bytes: number, asked: number): number {
  const base = size_bytes >= 4096 ? 4 : size_bytes >= 1024 ? 12 : size_bytes >= 256 ? 26 : 60;
  let bucket = 8;
  while (bucket < 32 + 8 * base) bucket *= 2;
  return Math.max(asked, (bucket - 32) / 8);
}

/* Task t's share of `n`, the tasks' counts spread evenly over [0, n). */
function spread(t: number, nr_tasks: number, n: number): number {
  return Math.floor((n * (t + 0.5)) / nr_tasks);
}

export class PerCpuLists {
  /** The area's first word: kernel memory's end, on a line. */
  readonly base: number;
  /** The area's end: the words the cache model must cover. */
  readonly end: number;
  /* The area's words (from base): the structures' state. */
  private readonly area: Int32Array;
  /* Each cache's index, by its kmem_cache address. */
  private readonly cache_index = new Map<number, number>();
  /* Each cache's sheaf capacity and name, by index. */
  private readonly capacity: number[] = [];
  private readonly cache_names: string[] = [];
  /* Each rss_stat counter's slot, by its address (mm + member). */
  private readonly counter_slot = new Map<number, number>();
  /* Offsets from base. */
  private readonly zone: number;
  private readonly node_stat: number;
  private readonly global_stat: number;
  private readonly barns: number;
  private readonly nodes: number;
  private readonly rss: number;
  private readonly chunks: number;
  private readonly chunk_words: number;
  private readonly sheaves_at: number;
  private readonly counters_at: number;
  /* percpu_counter_batch: max(32, 2 * the CPUs online). */
  private readonly counter_batch: number;
  /* What a page or an object moved under a lock costs: its struct page's line from memory, or a step. */
  private readonly page_ns: number;
  private readonly object_ns: number;

  constructor(
    m: KernelMemory,
    private readonly nr_tasks: number,
    nr_cpus: number,
    costs: CostProfile,
  ) {
    const w = m.words;
    for (const [c, { name }] of m.caches) {
      this.cache_index.set(c, this.capacity.length);
      this.cache_names.push(name);
      const size_bytes = 4 * w[c + KMEM_CACHE.stride]!;
      this.capacity.push(sheaf_capacity(size_bytes, w[c + KMEM_CACHE.sheaf_capacity]!));
    }
    const line = L1_CACHE_WORDS;
    const nr_caches = this.capacity.length;
    this.base = round_up(w.length, line);
    let at = 0;
    const take = (words: number): number => {
      const start = at;
      at += round_up(words, line);
      return start;
    };
    this.zone = take(ZONE.$.size);
    this.node_stat = take(VM_NODE_STAT.$.size);
    this.global_stat = take(VM_NODE_STAT.$.size);
    this.barns = take(nr_caches * NODE_BARN.$.size);
    this.nodes = take(nr_caches * KMEM_CACHE_NODE.$.size);
    this.rss = take(COUNTER_SLOTS * PERCPU_COUNTER.$.size);
    // Each task's chunk: its page list, its vmstat diffs, its sheaves, its rss counters.
    this.sheaves_at = PER_CPU_PAGES.$.size + PER_CPU_NODESTAT.$.size;
    this.counters_at = round_up(this.sheaves_at + nr_caches * SLUB_PERCPU_SHEAVES.$.size, line);
    this.chunk_words = round_up(this.counters_at + COUNTER_SLOTS, line);
    this.chunks = take(nr_tasks * this.chunk_words);
    this.end = this.base + at;
    this.area = new Int32Array(at);
    this.counter_batch = Math.max(32, 2 * nr_cpus);
    this.page_ns = costs.memory_ns + costs.step_ns;
    this.object_ns = costs.step_ns;
    this.boot();
  }

  /* Every list as a long run leaves it (the header's last paragraph). */
  private boot(): void {
    const a = this.area;
    const n = this.nr_tasks;
    for (let t = 0; t < n; t++) {
      const pcp = this.chunk(t);
      a[pcp + PER_CPU_PAGES.count] = 1 + spread(t, n, PCP_BATCH);
      a[pcp + PER_CPU_PAGES.high] = PCP_HIGH;
      a[pcp + PER_CPU_PAGES.batch] = PCP_BATCH;
      a[pcp + PER_CPU_NODESTAT.$.size] = spread(t, n, STAT_THRESHOLD);
      for (const [i, cap] of this.capacity.entries())
        a[this.sheaves(t, i) + SLUB_PERCPU_SHEAVES.main] = spread(t, n, cap + 1);
      const counters = pcp + this.counters_at;
      a.fill(spread(t, n, this.counter_batch), counters, counters + COUNTER_SLOTS);
    }
  }

  private chunk(t: number): number {
    return this.chunks + t * this.chunk_words;
  }

  private sheaves(t: number, i: number): number {
    return this.chunk(t) + this.sheaves_at + i * SLUB_PERCPU_SHEAVES.$.size;
  }

  /**
   * Task t allocates from cache `c` at `t_ns` (its step's own cost paid by
   * the caller): the lines its per-CPU front touches, and when it is done.
   */
  alloc(cache: CacheModel, w: Int32Array, t: number, c: number, t_ns: number): number {
    const flags = w[c + KMEM_CACHE.flags]!;
    if (flags & __SLAB_PAGE_FRAMES) return t_ns;
    if (flags & __SLAB_PAGES) return this.vmstat(cache, t, 1, this.rmqueue_pcplist(cache, t, t_ns));
    return this.alloc_from_pcs(cache, t, this.cache_index.get(c)!, t_ns);
  }

  /** Task t frees an object of cache `c` at `t_ns`: as alloc(). */
  free(cache: CacheModel, w: Int32Array, t: number, c: number, t_ns: number): number {
    const flags = w[c + KMEM_CACHE.flags]!;
    if (flags & __SLAB_PAGE_FRAMES) return t_ns;
    if (flags & __SLAB_PAGES)
      return this.vmstat(cache, t, -1, this.free_unref_page(cache, t, t_ns));
    return this.free_to_pcs(cache, t, this.cache_index.get(c)!, t_ns);
  }

  /**
   * add_mm_counter(mm, member, value) by task t at `t_ns`, `counter` being
   * mm + member: percpu_counter_add_batch() of mm->rss_stat[member].
   */
  add_mm_counter(
    cache: CacheModel,
    t: number,
    counter: number,
    value: number,
    t_ns: number,
  ): number {
    let slot = this.counter_slot.get(counter);
    if (slot === undefined) {
      slot = this.counter_slot.size % COUNTER_SLOTS;
      this.counter_slot.set(counter, slot);
    }
    const a = this.area;
    const mine = this.chunk(t) + this.counters_at + slot;
    let end_ns = this.touch(cache, t, mine, t_ns);
    const count = a[mine]! + value;
    if (Math.abs(count) < this.counter_batch) {
      a[mine] = count;
      return end_ns;
    }
    const fbc = this.rss + slot * PERCPU_COUNTER.$.size;
    end_ns = this.locked(cache, t, fbc + PERCPU_COUNTER.lock, end_ns, this.object_ns);
    a[fbc + PERCPU_COUNTER.count]! += count;
    a[mine] = 0;
    return end_ns;
  }

  /* rmqueue_pcplist(): a page from this CPU's list, a batch from the zone first if it is empty. */
  private rmqueue_pcplist(cache: CacheModel, t: number, t_ns: number): number {
    const a = this.area;
    const pcp = this.chunk(t);
    let end_ns = this.touch(cache, t, pcp, t_ns);
    if (a[pcp + PER_CPU_PAGES.count] === 0) {
      const batch = a[pcp + PER_CPU_PAGES.batch]!;
      end_ns = this.locked(cache, t, this.zone + ZONE.lock, end_ns, batch * this.page_ns);
      a[this.zone + ZONE.nr_moved]! += batch;
      a[pcp + PER_CPU_PAGES.count] = batch;
    }
    a[pcp + PER_CPU_PAGES.count]!--;
    return end_ns;
  }

  /* free_unref_page(): the page onto this CPU's list; above pcp->high a batch back to the zone. */
  private free_unref_page(cache: CacheModel, t: number, t_ns: number): number {
    const a = this.area;
    const pcp = this.chunk(t);
    let end_ns = this.touch(cache, t, pcp, t_ns);
    const count = ++a[pcp + PER_CPU_PAGES.count]!;
    if (count > a[pcp + PER_CPU_PAGES.high]!) {
      const batch = a[pcp + PER_CPU_PAGES.batch]!;
      end_ns = this.locked(cache, t, this.zone + ZONE.lock, end_ns, batch * this.page_ns);
      a[this.zone + ZONE.nr_moved]! -= batch;
      a[pcp + PER_CPU_PAGES.count] = count - batch;
    }
    return end_ns;
  }

  /* __mod_node_page_state(): this CPU's diff, folded into the node's and the global counter past the threshold. */
  private vmstat(cache: CacheModel, t: number, delta: number, t_ns: number): number {
    const a = this.area;
    const diff = this.chunk(t) + PER_CPU_PAGES.$.size + PER_CPU_NODESTAT.vm_node_stat_diff;
    let end_ns = this.touch(cache, t, diff, t_ns);
    const x = a[diff]! + delta;
    if (Math.abs(x) <= STAT_THRESHOLD) {
      a[diff] = x;
      return end_ns;
    }
    end_ns = cache.access(t, this.base + this.node_stat, end_ns, ACCESS_RMW);
    end_ns = cache.access(t, this.base + this.global_stat, end_ns, ACCESS_RMW);
    a[diff] = 0;
    return end_ns;
  }

  /*
   * alloc_from_pcs(): an object from the main sheaf; an empty main is
   * swapped with a full spare, else exchanged for a full sheaf from the
   * barn, else filled from the slabs under the node's list_lock.
   */
  private alloc_from_pcs(cache: CacheModel, t: number, i: number, t_ns: number): number {
    const a = this.area;
    const pcs = this.sheaves(t, i);
    const cap = this.capacity[i]!;
    let end_ns = this.touch(cache, t, pcs, t_ns);
    if (a[pcs + SLUB_PERCPU_SHEAVES.main] === 0) {
      if (a[pcs + SLUB_PERCPU_SHEAVES.spare]! > 0) {
        a[pcs + SLUB_PERCPU_SHEAVES.main] = a[pcs + SLUB_PERCPU_SHEAVES.spare]!;
        a[pcs + SLUB_PERCPU_SHEAVES.spare] = 0;
      } else {
        const barn = this.barns + i * NODE_BARN.$.size;
        end_ns = this.locked(cache, t, barn + NODE_BARN.lock, end_ns, BARN_STEPS * this.object_ns);
        if (a[barn + NODE_BARN.nr_full]! > 0) {
          a[barn + NODE_BARN.nr_full]!--;
          a[barn + NODE_BARN.nr_empty]!++;
        } else {
          const node = this.nodes + i * KMEM_CACHE_NODE.$.size;
          end_ns = this.locked(
            cache,
            t,
            node + KMEM_CACHE_NODE.list_lock,
            end_ns,
            cap * this.object_ns,
          );
          a[node + KMEM_CACHE_NODE.nr_moved]! += cap;
        }
        a[pcs + SLUB_PERCPU_SHEAVES.main] = cap;
      }
    }
    a[pcs + SLUB_PERCPU_SHEAVES.main]!--;
    return end_ns;
  }

  /*
   * free_to_pcs(): the object into the main sheaf; a full main is swapped
   * with an empty spare, else given to the barn for an empty one, or
   * flushed to the slabs when the barn has MAX_FULL_SHEAVES.
   */
  private free_to_pcs(cache: CacheModel, t: number, i: number, t_ns: number): number {
    const a = this.area;
    const pcs = this.sheaves(t, i);
    const cap = this.capacity[i]!;
    let end_ns = this.touch(cache, t, pcs, t_ns);
    if (a[pcs + SLUB_PERCPU_SHEAVES.main] === cap) {
      if (a[pcs + SLUB_PERCPU_SHEAVES.spare] === 0) {
        a[pcs + SLUB_PERCPU_SHEAVES.spare] = cap;
      } else {
        const barn = this.barns + i * NODE_BARN.$.size;
        end_ns = this.locked(cache, t, barn + NODE_BARN.lock, end_ns, BARN_STEPS * this.object_ns);
        if (a[barn + NODE_BARN.nr_full]! < MAX_FULL_SHEAVES) {
          a[barn + NODE_BARN.nr_full]!++;
          if (a[barn + NODE_BARN.nr_empty]! > 0) a[barn + NODE_BARN.nr_empty]!--;
        } else {
          const node = this.nodes + i * KMEM_CACHE_NODE.$.size;
          end_ns = this.locked(
            cache,
            t,
            node + KMEM_CACHE_NODE.list_lock,
            end_ns,
            cap * this.object_ns,
          );
          a[node + KMEM_CACHE_NODE.nr_moved]! -= cap;
        }
      }
      a[pcs + SLUB_PERCPU_SHEAVES.main] = 0;
    }
    a[pcs + SLUB_PERCPU_SHEAVES.main]!++;
    return end_ns;
  }

  /* A write to this task's own word at area offset `at`: a hit once the line is here. */
  private touch(cache: CacheModel, t: number, at: number, t_ns: number): number {
    return cache.access(t, this.base + at, t_ns, ACCESS_WRITE);
  }

  /*
   * A spinlock at area offset `at` taken (an RMW of its line, after
   * whoever holds it), held for `hold_ns` of work, released by its holder
   * (a hit): the line stays busy until then, so the next taker waits.
   */
  private locked(cache: CacheModel, t: number, at: number, t_ns: number, hold_ns: number): number {
    const addr = this.base + at;
    const end_ns = cache.access(t, addr, t_ns, ACCESS_RMW) + hold_ns;
    cache.hold(addr, end_ns);
    return end_ns;
  }

  /** What lies at `addr` in the area, for naming a contended line. */
  describe(addr: number): string {
    const at = addr - this.base;
    const regions: [number, number, (i: number) => string][] = [
      [this.zone, ZONE.$.size, () => 'zone.{lock,nr_moved}'],
      [this.node_stat, VM_NODE_STAT.$.size, () => 'pglist_data.vm_stat'],
      [this.global_stat, VM_NODE_STAT.$.size, () => 'vm_node_stat'],
      [this.barns, NODE_BARN.$.size, (i) => `node_barn of ${this.cache_names[i]}`],
      [this.nodes, KMEM_CACHE_NODE.$.size, (i) => `kmem_cache_node of ${this.cache_names[i]}`],
      [this.rss, PERCPU_COUNTER.$.size, (i) => `mm->rss_stat (counter ${i})`],
      [this.chunks, this.chunk_words, (i) => `per-CPU area of task ${i}`],
    ];
    let name = 'per-CPU area';
    for (const [start, size, what] of regions)
      if (at >= start) name = what(Math.floor((at - start) / size));
    return name;
  }
}
