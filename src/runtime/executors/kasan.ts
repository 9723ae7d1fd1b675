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
  describe_addr,
  KMEM_CACHE,
  obj_generation,
  SLAB_TYPESAFE_BY_RCU,
  slab_object,
} from '../heap.js';
import type { KernelMemory } from '../memory.js';
import { KernelBug, type KernelContext, OP_NAMES } from '../ops.js';
import { RCU_DATA } from '../rcu_reader.js';

/* Shadow bytes, one per word of kernel memory. */
const SHADOW_INVALID = 0;
const SHADOW_LIVE = 1;
const SHADOW_FREED = 2;
const SHADOW_FREED_TYPESAFE = 3;

interface AllocInfo {
  /** Made by the scenario's prologue, before the schedule's first step. */
  prologue?: boolean;
  site: string;
  task: number;
  step: number;
  gen: number;
  free_site?: string;
  free_task?: number;
  free_step?: number;
}

export class Kasan {
  private readonly shadow: Uint8Array;
  private shadow_snapshot: Uint8Array = new Uint8Array(0);
  /** Objects allocated in this schedule, and freed since (by object address). */
  private readonly allocs = new Map<number, AllocInfo>();
  /** Allocations made by the scenario's prologue: part of every schedule's start. */
  private readonly prologue_allocs = new Map<number, AllocInfo>();

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
    for (const [obj, info] of this.allocs)
      this.prologue_allocs.set(obj, { ...info, prologue: true });
    this.allocs.clear();
    this.shadow_snapshot = this.shadow.slice(0, this.m.used);
  }

  /** Back to the shadow the prologue left; `used`: the words the schedule had handed out. */
  reset(used: number): void {
    this.shadow.set(this.shadow_snapshot);
    this.shadow.fill(SHADOW_INVALID, this.shadow_snapshot.length, used);
    this.allocs.clear();
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
    this.shadow.fill(SHADOW_LIVE, obj, obj + w[k.addr + KMEM_CACHE.object_size]!);
    this.allocs.set(obj, { site: k.site, task: t, step, gen: obj_generation(w, obj) });
  }

  /** Task t's FREE k, at `step`, freed its object into cache `c`. */
  freed(t: number, k: KernelContext, c: number, step: number): void {
    const w = this.m.words;
    const obj = k.addr;
    const typesafe = (w[c + KMEM_CACHE.flags]! & SLAB_TYPESAFE_BY_RCU) !== 0;
    this.shadow.fill(
      typesafe ? SHADOW_FREED_TYPESAFE : SHADOW_FREED,
      obj,
      obj + w[c + KMEM_CACHE.object_size]!,
    );
    const info = this.alloc_info(obj);
    if (info) this.allocs.set(obj, { ...info, free_site: k.site, free_task: t, free_step: step });
  }

  private in_rcu(t: number): boolean {
    return this.m.words[this.sys.rcu_data[t]! + RCU_DATA.nesting]! > 0;
  }

  /* The allocation record of object `obj`, made in this schedule or by the prologue. */
  private alloc_info(obj: number): AllocInfo | undefined {
    return this.allocs.get(obj) ?? this.prologue_allocs.get(obj);
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
    const so = slab_object(this.m, addr);
    const info = so ? this.alloc_info(so.obj) : undefined;
    if (!info) return '';
    const by = (t: number | undefined) => this.task_name(t ?? -1);
    const alloc = info.prologue
      ? `; allocated by the prologue in ${info.site}`
      : `; allocated by ${by(info.task)} in ${info.site} at step ${info.step}`;
    const free = info.free_site
      ? `; freed by ${by(info.free_task)} in ${info.free_site} at step ${info.free_step}`
      : '';
    return alloc + free;
  }
}
