/*
 * KASAN for the explorer: a property of memory, so it lives with the
 * executor rather than as a plug-in. A shadow byte per word of kernel
 * memory says whether the word belongs to a live object; an access to a
 * word that does not is reported with the object's allocation and free
 * sites. A freed SLAB_TYPESAFE_BY_RCU object may still be read inside an
 * RCU read-side section (it may have been reused as another object of
 * its type, which the reader must re-validate), and nowhere else.
 */
import type { BootRecord } from '../boot.js';
import {
  __SLAB_PAGES,
  describe_addr,
  KMEM_CACHE,
  SLAB_TYPESAFE_BY_RCU,
  slab_object,
} from '../heap.js';
import { DirtyMap, type KernelMemory } from '../memory.js';
import { KernelBug, type KernelContext, OP_NAMES } from '../ops.js';
import { RCU_DATA } from '../rcu_reader.js';

/* Shadow bytes, one per word of kernel memory. */
const SHADOW_INVALID = 0;
const SHADOW_LIVE = 1;
const SHADOW_FREED = 2;
const SHADOW_FREED_TYPESAFE = 3;

function grown<T extends Int32Array | Uint8Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

/** Where an object was allocated, or freed: the call site, the task, the step. */
interface SiteInfo {
  readonly site: string;
  readonly task: number;
  readonly step: number;
}

export class Kasan {
  private readonly shadow: Uint8Array;
  private shadow_snapshot: Uint8Array = new Uint8Array(0);
  /* The shadow bytes changed since the snapshot (null during the prologue). */
  private dirty: DirtyMap | null = null;
  /**
   * The allocations and frees of this schedule, in order (`ev_freed` 1
   * for a free): a report reads them back, so that recording one
   * allocates nothing. Entries past `nr_ev` are stale.
   */
  private ev_obj = new Int32Array(64);
  private ev_freed = new Uint8Array(64);
  private ev_task = new Int32Array(64);
  private ev_step = new Int32Array(64);
  private readonly ev_site: string[] = [];
  private nr_ev = 0;
  /** Allocations and frees made by the scenario's prologue: part of every schedule's start. */
  private readonly prologue_allocs = new Map<number, SiteInfo>();
  private readonly prologue_frees = new Map<number, SiteInfo>();

  constructor(
    private readonly m: KernelMemory,
    private readonly sys: BootRecord,
    private readonly task_name: (t: number) => string,
  ) {
    this.shadow = new Uint8Array(m.words.length);
    for (const s of m.symbols) this.shadow.fill(SHADOW_LIVE, s.addr, s.addr + s.info.size);
  }

  /** The prologue is over: its objects and shadow are where every schedule starts. */
  prologue_done(): void {
    for (let i = 0; i < this.nr_ev; i++) {
      const obj = this.ev_obj[i]!;
      const info = this.event(i);
      if (this.ev_freed[i]) this.prologue_frees.set(obj, info);
      else {
        this.prologue_allocs.set(obj, info);
        this.prologue_frees.delete(obj);
      }
    }
    this.nr_ev = 0;
    this.shadow_snapshot = this.shadow.slice(0, this.m.used);
    this.dirty = new DirtyMap(this.shadow.length);
  }

  /** Back to the shadow the prologue left; `used`: the words the schedule had handed out. */
  reset(used: number): void {
    this.dirty!.restore(this.shadow, this.shadow_snapshot);
    this.shadow.fill(SHADOW_INVALID, this.shadow_snapshot.length, used);
    this.nr_ev = 0;
  }

  /** Task t's access `op` of the word `addr`: a report if no live object owns it. */
  check(t: number, addr: number, op: number): void {
    const s = this.shadow[addr];
    if (s === SHADOW_LIVE) return;
    if (s === SHADOW_FREED_TYPESAFE && this.in_rcu(t)) return;
    this.report(t, addr, op, s ?? SHADOW_INVALID);
  }

  /** Task t's ALLOC k, at `step`, handed out `obj` (0: none). */
  allocated(t: number, k: KernelContext, obj: number, step: number): void {
    if (obj === 0) return;
    const w = this.m.words;
    const size = w[k.addr + KMEM_CACHE.object_size]!;
    this.shadow.fill(SHADOW_LIVE, obj, obj + size);
    this.dirty?.mark_range(obj, size);
    this.log(obj, 0, t, k.site, step);
  }

  /**
   * Task t's FREE k, at `step`, freed its object into cache `c`. A struct
   * page stays addressable: Linux's live in the memmap for good, and KASAN
   * poisons a freed page's memory (its frame here), never its struct page,
   * which gup_fast's folio_try_get() may touch after the free.
   */
  freed(t: number, k: KernelContext, c: number, step: number): void {
    const w = this.m.words;
    const obj = k.addr;
    this.log(obj, 1, t, k.site, step);
    if (w[c + KMEM_CACHE.flags]! & __SLAB_PAGES) return;
    const typesafe = (w[c + KMEM_CACHE.flags]! & SLAB_TYPESAFE_BY_RCU) !== 0;
    const size = w[c + KMEM_CACHE.object_size]!;
    this.shadow.fill(typesafe ? SHADOW_FREED_TYPESAFE : SHADOW_FREED, obj, obj + size);
    this.dirty?.mark_range(obj, size);
  }

  /* Append an allocation (`freed` 0) or a free (1) of `obj` to this schedule's events. */
  private log(obj: number, freed: number, t: number, site: string, step: number): void {
    const i = this.nr_ev++;
    if (i === this.ev_obj.length) {
      this.ev_obj = grown(this.ev_obj);
      this.ev_freed = grown(this.ev_freed);
      this.ev_task = grown(this.ev_task);
      this.ev_step = grown(this.ev_step);
    }
    this.ev_obj[i] = obj;
    this.ev_freed[i] = freed;
    this.ev_task[i] = t;
    this.ev_step[i] = step;
    this.ev_site[i] = site;
  }

  private event(i: number): SiteInfo {
    return { site: this.ev_site[i]!, task: this.ev_task[i]!, step: this.ev_step[i]! };
  }

  private in_rcu(t: number): boolean {
    return this.m.words[this.sys.rcu_data[t]! + RCU_DATA.nesting]! > 0;
  }

  private report(t: number, addr: number, op: number, s: number): never {
    const access = `${OP_NAMES[op]} of ${describe_addr(this.m, addr)} by ${this.task_name(t)}`;
    if (addr >>> 0 < 64 || addr >= this.m.words.length)
      throw new KernelBug('null-ptr-deref', `KASAN: null-ptr-deref or wild access: ${access}`);
    const sites = this.sites(addr);
    if (s === SHADOW_FREED)
      throw new KernelBug('use-after-free', `KASAN: use-after-free: ${access}${sites}`);
    if (s === SHADOW_FREED_TYPESAFE) {
      throw new KernelBug(
        'use-after-free',
        `KASAN: use-after-free of a SLAB_TYPESAFE_BY_RCU object outside an RCU read-side section: ${access}${sites}`,
      );
    }
    throw new KernelBug(
      'out-of-bounds',
      `KASAN: access to memory no object owns: ${access}${sites}`,
    );
  }

  /* Where the object at `addr` was allocated and freed, for a report. */
  private sites(addr: number): string {
    const obj = slab_object(this.m, addr)?.obj;
    if (obj === undefined) return '';
    // This schedule's last allocation of obj, and its free if none came after it.
    let here: SiteInfo | undefined;
    let freed: SiteInfo | undefined;
    for (let i = this.nr_ev - 1; i >= 0 && here === undefined; i--) {
      if (this.ev_obj[i] !== obj) continue;
      if (this.ev_freed[i]) freed ??= this.event(i);
      else here = this.event(i);
    }
    if (!here && !this.prologue_allocs.has(obj)) return '';
    const alloc = here
      ? `; allocated by ${this.task_name(here.task)} in ${here.site} at step ${here.step}`
      : `; allocated by the prologue in ${this.prologue_allocs.get(obj)?.site}`;
    const free = freed ?? (here ? undefined : this.prologue_frees.get(obj));
    return free
      ? `${alloc}; freed by ${this.task_name(free.task)} in ${free.site} at step ${free.step}`
      : alloc;
  }
}
