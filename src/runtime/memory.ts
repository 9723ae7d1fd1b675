/*
 * Kernel memory: one Int32Array over a SharedArrayBuffer that every CPU
 * shares. Word 0 is NULL and never handed out. Memory is carved from one
 * bump pointer: word-granular boot objects while the machine is set up,
 * page-granular slabs afterwards (and concurrently, natively).
 */
import { defineStruct, field_at, type StructInfo } from './layout.js';

/** A page is 4 KiB: 1024 words. Slabs are made of whole pages. */
export const PAGE_SHIFT = 10;
export const PAGE_WORDS = 1 << PAGE_SHIFT;

/** The first words of memory: how the rest is carved. */
export const MEMHDR = defineStruct('kernel_memory', {
  null_word: 'never written: address 0 is NULL',
  bump: 'atomic (cmpxchg): next free word',
  size: 'constant after boot: words in memory',
  page_cache: "constant after boot: the table of each page's kmem_cache",
  page_slab: "constant after boot: the table of each page's slab base",
  exhausted: 'atomic: set by an allocation that found no memory left to give',
});

interface BootSymbol {
  readonly addr: number;
  readonly info: StructInfo;
  readonly name: string;
}

/** Words per chunk of a DirtyMap: a restore copies whole chunks. */
const DIRTY_CHUNK_SHIFT = 6;
/* A restore copies a run of chunks longer than this through a view, a shorter one by words. */
const COPY_VIEW_MIN_WORDS = 256;

/**
 * The chunks of memory (or of a shadow of it) written since the last restore, for an executor
 * that runs every task on one thread and returns memory to a snapshot
 * after each run: it copies back only what the run wrote, not the whole
 * snapshot. Every write to memory such an executor performs marks its words.
 */
export class DirtyMap {
  /* 1 for each chunk written since the last restore. */
  private readonly marked: Uint8Array;
  /* The lowest and highest chunk marked (lo > hi: none). */
  private lo: number;
  private hi = -1;

  constructor(size_words: number) {
    this.marked = new Uint8Array((size_words >>> DIRTY_CHUNK_SHIFT) + 1);
    this.lo = this.marked.length;
  }

  /** The word at `addr` was written (an address outside memory marks nothing). */
  mark(addr: number): void {
    const c = addr >>> DIRTY_CHUNK_SHIFT;
    if (this.marked[c] === 0) {
      this.marked[c] = 1;
      if (c < this.lo) this.lo = c;
      if (c > this.hi) this.hi = c;
    }
  }

  /** The words [addr, addr + n) were written. */
  mark_range(addr: number, n: number): void {
    if (n <= 0) return;
    const last = (addr + n - 1) >>> DIRTY_CHUNK_SHIFT;
    for (let c = addr >>> DIRTY_CHUNK_SHIFT; c <= last; c++) this.mark(c << DIRTY_CHUNK_SHIFT);
  }

  /**
   * Copy every marked chunk of `w` back from `snapshot` (its words past the
   * snapshot's end are left for the caller to zero) and forget the marks.
   */
  restore<A extends Int32Array | Uint8Array>(w: A, snapshot: A): void {
    const end = snapshot.length;
    const marked = this.marked;
    const hi = this.hi;
    // Runs of marked chunks, each copied at once: a long one natively (one view per run),
    // a short one word by word, which costs less than making the view.
    for (let c = this.lo; c <= hi; c++) {
      if (marked[c] === 0) continue;
      const first = c;
      while (c <= hi && marked[c] !== 0) marked[c++] = 0;
      const from = first << DIRTY_CHUNK_SHIFT;
      const to = Math.min(c << DIRTY_CHUNK_SHIFT, end);
      if (to - from > COPY_VIEW_MIN_WORDS) w.set(snapshot.subarray(from, to) as A, from);
      else for (let i = from; i < to; i++) w[i] = snapshot[i]!;
    }
    this.lo = marked.length;
    this.hi = -1;
  }
}

export class KernelMemory {
  readonly words: Int32Array;
  /**
   * Single-threaded executors only (null otherwise): the words written
   * since the executor last restored its snapshot. Heap and memory code
   * that writes words marks them here.
   */
  dirty: DirtyMap | null = null;
  /** Boot objects by address (main thread only; used to name addresses). */
  readonly symbols: BootSymbol[] = [];
  /** Slab caches by address, for naming addresses inside slab objects. */
  readonly caches = new Map<number, { name: string; info: StructInfo }>();

  private constructor(
    readonly sab: SharedArrayBuffer,
    size_words: number,
  ) {
    this.words = new Int32Array(sab, 0, size_words);
  }

  /**
   * Kernel memory of `size_words` words, all zero: a new buffer, or the
   * first `size_words` words of `buffer` zeroed (a native run's: page-aligned,
   * or an earlier run's whose CPUs are gone).
   */
  static create(size_words: number, buffer?: SharedArrayBuffer): KernelMemory {
    if (
      !Number.isInteger(size_words) ||
      size_words < 4 * PAGE_WORDS ||
      size_words % PAGE_WORDS !== 0
    ) {
      throw new Error(
        `kernel memory: ${size_words} words is not a multiple of a page and at least 4 pages`,
      );
    }
    if (buffer && buffer.byteLength < size_words * 4)
      throw new Error(
        `kernel memory: a buffer of ${buffer.byteLength} bytes is too small for ${size_words} words`,
      );
    const m = new KernelMemory(buffer ?? new SharedArrayBuffer(size_words * 4), size_words);
    if (buffer) m.words.fill(0);
    const w = m.words;
    const pages = size_words >> PAGE_SHIFT;
    w[MEMHDR.size] = size_words;
    w[MEMHDR.bump] = MEMHDR.$.size;
    w[MEMHDR.page_cache] = m.bump(pages, 1);
    w[MEMHDR.page_slab] = m.bump(pages, 1);
    return m;
  }

  /** The same memory seen from a worker thread: as many words as create() gave it. */
  static attach(sab: SharedArrayBuffer): KernelMemory {
    return new KernelMemory(sab, new Int32Array(sab, 0, MEMHDR.$.size)[MEMHDR.size]!);
  }

  get size(): number {
    return this.words[MEMHDR.size]!;
  }

  /** Whether an allocation has failed for want of memory since boot. */
  get exhausted(): boolean {
    return Atomics.load(this.words, MEMHDR.exhausted) !== 0;
  }

  /** An allocation found no memory left (the slab's, after its quarantine). */
  note_exhausted(): void {
    Atomics.store(this.words, MEMHDR.exhausted, 1);
  }

  /** Words handed out so far: everything past it is still zero. */
  get used(): number {
    return Atomics.load(this.words, MEMHDR.bump);
  }

  /** Take `n` words aligned to `align`; 0 when memory is exhausted. Thread-safe. */
  bump(n: number, align: number): number {
    const w = this.words;
    for (;;) {
      const cur = Atomics.load(w, MEMHDR.bump);
      const start = Math.ceil(cur / align) * align;
      if (start + n > w[MEMHDR.size]!) return 0;
      if (Atomics.compareExchange(w, MEMHDR.bump, cur, start + n) === cur) {
        this.dirty?.mark(MEMHDR.bump);
        return start;
      }
    }
  }

  /** Allocate zeroed boot objects, aligned as their struct (setup code only), and name them. */
  boot_alloc(info: StructInfo, name: string, count = 1): number {
    const p = this.bump(info.size * count, info.align);
    if (p === 0) throw new Error(`kernel memory exhausted allocating ${name}`);
    for (let i = 0; i < count; i++) {
      this.symbols.push({
        addr: p + i * info.size,
        info,
        name: count === 1 ? name : `${name}[${i}]`,
      });
    }
    return p;
  }

  /** Take `n` whole pages for a slab of `cache`; 0 when memory is exhausted. */
  alloc_slab_pages(n: number, cache: number): number {
    const p = this.bump(n * PAGE_WORDS, PAGE_WORDS);
    if (p === 0) return 0;
    const w = this.words;
    const pc = w[MEMHDR.page_cache]!;
    const ps = w[MEMHDR.page_slab]!;
    for (let i = 0; i < n; i++) {
      const page = (p >> PAGE_SHIFT) + i;
      Atomics.store(w, ps + page, p);
      Atomics.store(w, pc + page, cache);
      this.dirty?.mark(ps + page);
      this.dirty?.mark(pc + page);
    }
    return p;
  }

  /** The kmem_cache that owns the page of `addr`, or 0. */
  page_cache(addr: number): number {
    return Atomics.load(this.words, this.words[MEMHDR.page_cache]! + (addr >>> PAGE_SHIFT));
  }

  /** The base of the slab holding `addr` (valid when page_cache(addr) != 0). */
  page_slab(addr: number): number {
    return Atomics.load(this.words, this.words[MEMHDR.page_slab]! + (addr >>> PAGE_SHIFT));
  }

  /** The boot object containing `addr`, if any. */
  boot_symbol(addr: number): BootSymbol | undefined {
    const s = this.symbols;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const sym = s[mid]!;
      if (addr < sym.addr) hi = mid - 1;
      else if (addr >= sym.addr + sym.info.size) lo = mid + 1;
      else return sym;
    }
    return undefined;
  }

  /** Name a boot-object address as `name.field`, else `0x<hex>`. */
  describe_boot(addr: number): string | undefined {
    const sym = this.boot_symbol(addr);
    if (!sym) return undefined;
    const f = field_at(sym.info, addr - sym.addr);
    return f ? `${sym.name}.${f.name}` : sym.name;
  }
}

export function hex(addr: number): string {
  return `0x${(addr >>> 0).toString(16)}`;
}
