/*
 * The timing executor's cache model: which CPU's cache holds each 64-byte
 * line of kernel memory, and until when a line is busy moving between
 * caches. It prices one access of one CPU at one simulated time; it knows
 * nothing of values (memory stays in the executor) nor of schedules.
 *
 * A line is in one of three states, MESI folded to what costs differ by:
 *
 *	UNCACHED	no cache holds it: the next access fetches it from memory
 *	held by c	exactly one cache holds it, clean or dirty (E or M): c may
 *			read and write it at the cost of a hit
 *	SHARED		two or more caches hold it read-only (S): its sharers are
 *			a bitset in `sets`; a write must invalidate them
 *
 * Invariants: a SHARED line has a set with at least two bits; a line that
 * is not SHARED owns no set. Nothing is evicted (caches are unbounded), so
 * memory is paid once per line: the model prices coherence, not capacity.
 *
 * Transfers and atomic read-modify-writes of a line are serialised: a line
 * answers one request at a time, which is what makes a contended lock word
 * cost time linear in its contenders ("Non-scalable locks are dangerous",
 * Boyd-Wickizer, Kaashoek, Morris, Zeldovich, Linux Symposium 2012).
 * `busy_until_ns` is when the line's last serialised operation ends; a new
 * one starts no earlier. A hit needs no serialisation: the line cannot be
 * in flight to another cache while this one holds it.
 *
 * Invariant: an access to a line busy with another CPU's transfer or RMW,
 * or held by other caches, is performed, its value read and written, when
 * the line leaves them for it, never when it was issued. The executor
 * calls request_ns() before performing an access: a hit, or an access to
 * a free line no other cache holds, is performed at once; any other
 * reserves the line from when it is free (at once, or behind the requests
 * made before it: a line serves its requests in the order they were
 * made), for the access's cost, and the executor moves the CPU's clock to
 * when the line leaves its holders, HOLDER_KEEPS of a transfer into the
 * reservation, and performs the access then; access() ends it at the
 * reservation's end. Until then the holders keep the line: their hits go
 * on, and the values they see and make are the ones the waiting access
 * then finds. So a cmpxchg compares the value in memory when its line
 * reaches it, and a CPU whose cmpxchg has just failed retries on the
 * line before it goes, as a core does, its failed `lock cmpxchg` having
 * taken the line exclusive (Intel SDM vol. 2A, CMPXCHG: the destination
 * is written back whatever the comparison's result).
 */
import { L1_CACHE_WORDS } from '../layout.js';
import type { CostProfile } from './timing_costs.js';

/** Words per cache line: the layout's, which ____cacheline_aligned_in_smp aligns to. */
const LINE_WORDS = L1_CACHE_WORDS;
const LINE_SHIFT = Math.log2(LINE_WORDS);

/*
 * The share of a transfer during which the line's holder still has it. A
 * transfer from another cache is three messages one after another (the
 * request to the line's home directory, its forward to the holder, the
 * holder's data to the requester: Sorin, Hill and Wood, "A Primer on
 * Memory Consistency and Cache Coherence", 2nd ed. 2020, ch. 8), and the
 * holder keeps the line until the forward reaches it. A request queued
 * at the home has sent its own message already, so the line leaves its
 * holder one message, a third of a transfer, after the home takes the
 * request up. (A request to a line nobody is waiting for sends its own
 * first, two thirds; the model gives it the same third: that case has no
 * contender to lose the line to.)
 *
 * No measured figure sets it: no published measurement of N server cores
 * on one line was found. Against the one of client cores (Travis Downs,
 * "A Concurrency Cost Hierarchy", 2020, Skylake and Ice Lake: docs/
 * timing-model.md, "The window against published measurements"), the
 * third gives a CAS loop's cost over lock xadd's within 25% (a test in
 * test/runtime/executors/timing.test.ts), but lets a lock xadd loop make
 * four increments a visit of the line where those cores make about one.
 */
const HOLDER_KEEPS = 1 / 3;

/** Access kinds as the model prices them. */
export const ACCESS_READ = 0;
export const ACCESS_WRITE = 1;
/** An atomic read-modify-write: a write plus rmw_ns, always serialised. */
export const ACCESS_RMW = 2;

const UNCACHED = -1;
const SHARED = -2;

interface CacheStats {
  /** Accesses that found the line in the CPU's own cache with the rights they need. */
  readonly hits: number;
  /** Lines fetched from (or invalidated in) another CPU's cache. */
  readonly transfers: number;
  /** First touches of a line no cache held. */
  readonly memory: number;
  /** Time spent waiting for a line busy with another CPU's transfer or RMW. */
  readonly rmw_stall_ns: number;
}

/** One line's share of the waits and transfers (CacheModel.contended()). */
export interface LineContention {
  /** The line's first word. */
  readonly addr: number;
  /** Time CPUs spent waiting for the line while it was busy with another's transfer or RMW. */
  readonly stall_ns: number;
  /** Times the line moved into (or was invalidated for) a cache. */
  readonly transfers: number;
}

export class CacheModel implements CacheStats {
  /** Per line: the one CPU holding it, UNCACHED or SHARED. */
  private readonly holder: Int16Array;
  /** Per SHARED line: the index of its sharer set. */
  private readonly set_of: Int32Array;
  private readonly busy_until_ns: Float64Array;
  /** Per line: the CPU whose request reserved it last (its request pending or done). */
  private readonly reserved_by: Int16Array;
  /** 32-bit words of one sharer set. */
  private readonly set_words: number;
  /** Sharer sets, `set_words` each; grown by doubling when every one is in use. */
  private sets: Uint32Array;
  /** Bits set in each sharer set. */
  private set_count: Uint16Array;
  /** Sets given back, reused before new ones are taken. */
  private free_sets: Int32Array;
  private nr_free = 0;
  /** Sets ever taken since the last reset (the next new one's index). */
  private nr_sets = 0;
  /** Per CPU: the line its request reserved and has not performed yet, or -1. */
  private readonly pending_line: Int32Array;
  /** Per CPU: when its pending request's access ends (the line's reservation). */
  private readonly pending_end_ns: Float64Array;
  /** Per line: the waits for it (rmw_stall_ns by line). */
  private readonly line_stall_ns: Float64Array;
  /** Per line: its transfers (transfers by line). */
  private readonly line_transfers: Uint32Array;

  hits = 0;
  transfers = 0;
  memory = 0;
  rmw_stall_ns = 0;

  constructor(
    words: number,
    nr_cpus: number,
    private readonly costs: CostProfile,
  ) {
    if (nr_cpus > 0x7fff) throw new Error(`cache model: ${nr_cpus} CPUs`);
    const lines = Math.ceil(words / LINE_WORDS);
    this.holder = new Int16Array(lines).fill(UNCACHED);
    this.set_of = new Int32Array(lines);
    this.busy_until_ns = new Float64Array(lines);
    this.reserved_by = new Int16Array(lines);
    this.set_words = Math.ceil(nr_cpus / 32);
    const initial = 1024;
    this.sets = new Uint32Array(initial * this.set_words);
    this.set_count = new Uint16Array(initial);
    this.free_sets = new Int32Array(initial);
    this.pending_line = new Int32Array(nr_cpus).fill(-1);
    this.pending_end_ns = new Float64Array(nr_cpus);
    this.line_stall_ns = new Float64Array(lines);
    this.line_transfers = new Uint32Array(lines);
  }

  /** Cold caches and idle lines, counters at zero. */
  reset(): void {
    this.holder.fill(UNCACHED);
    this.busy_until_ns.fill(0);
    this.pending_line.fill(-1);
    this.line_stall_ns.fill(0);
    this.line_transfers.fill(0);
    // Sets are handed out zeroed: clear the ones in use when the reset came.
    this.sets.fill(0);
    this.set_count.fill(0);
    this.nr_free = 0;
    this.nr_sets = 0;
    this.hits = 0;
    this.transfers = 0;
    this.memory = 0;
    this.rmw_stall_ns = 0;
  }

  /**
   * CPU `c` reaches an access of `kind` to word `addr` at `t_ns`: when may
   * it be performed? `t_ns` for a hit, a free line, or the line this CPU
   * reserved before, now free for it. A line busy with another CPU's
   * transfer or RMW is reserved for `c` from when it frees (the wait
   * counted as a stall), for what the access costs, behind the requests
   * made before; that time is returned: the caller performs the access
   * then, and access() ends it at the reservation's end.
   */
  request_ns(c: number, addr: number, t_ns: number, kind: number): number {
    const line = addr >>> LINE_SHIFT;
    const write = kind !== ACCESS_READ;
    if (this.pending_line[c] === line || this.holds(c, line, write)) return t_ns;
    const busy_ns = this.busy_until_ns[line]!;
    // A line reserved for another CPU's request comes from that CPU's cache.
    const by = this.reserved_by[line]!;
    const reserved = busy_ns > t_ns && by !== c && this.pending_line[by] === line;
    const taken = reserved || this.held_elsewhere(c, line, write);
    if (busy_ns <= t_ns && !taken) return t_ns;
    const start_ns = Math.max(busy_ns, t_ns);
    if (busy_ns > t_ns) this.stall(line, busy_ns - t_ns);
    const move_ns = reserved ? this.costs.line_transfer_ns : this.price(c, line, write);
    const end_ns = start_ns + move_ns + (kind === ACCESS_RMW ? this.costs.rmw_ns : 0);
    this.busy_until_ns[line] = end_ns;
    this.reserved_by[line] = c;
    this.pending_line[c] = line;
    this.pending_end_ns[c] = end_ns;
    return taken ? start_ns + this.costs.line_transfer_ns * HOLDER_KEEPS : start_ns;
  }

  /**
   * CPU `c` reads, writes or atomically updates word `addr` at `t_ns`.
   * Returns when the line is done with: `t_ns` for a hit, the end of its
   * reservation for an access request_ns() reserved, later for a miss or
   * an RMW made without one (after waiting for the line if it is busy).
   * The caller adds the CPU's own step cost.
   */
  access(c: number, addr: number, t_ns: number, kind: number): number {
    const line = addr >>> LINE_SHIFT;
    const moved_ns = this.claim(c, line, kind !== ACCESS_READ, this.costs.memory_ns);
    if (this.pending_line[c] === line) {
      this.pending_line[c] = -1;
      return this.pending_end_ns[c]!;
    }
    const rmw_ns = kind === ACCESS_RMW ? this.costs.rmw_ns : 0;
    if (moved_ns + rmw_ns === 0) return t_ns;
    const busy_ns = this.busy_until_ns[line]!;
    // A hit waits for nothing: the line is here, whatever is reserved after it.
    const start_ns = moved_ns === 0 ? t_ns : Math.max(busy_ns, t_ns);
    if (start_ns > t_ns) this.stall(line, start_ns - t_ns);
    const end_ns = start_ns + moved_ns + rmw_ns;
    this.busy_until_ns[line] = Math.max(busy_ns, end_ns);
    return end_ns;
  }

  /**
   * The lines of [lo, lo + n) read (or written, with `write`) by CPU `c`
   * in one MEMCPY/MEMSET/MEMCHR_INV: the coherence cost, at most one
   * transfer per line. Streaming from memory is not charged here: the
   * caller's per-word cost is a bandwidth that includes it. Nor is it
   * serialised: bulk accesses work on memory no other CPU can see yet or
   * writes (ops.ts).
   */
  bulk(c: number, lo: number, n: number, write: boolean): number {
    if (n <= 0) return 0;
    let cost_ns = 0;
    const last = (lo + n - 1) >>> LINE_SHIFT;
    for (let line = lo >>> LINE_SHIFT; line <= last; line++)
      cost_ns += this.claim(c, line, write, 0);
    return cost_ns;
  }

  /**
   * The `n` lines CPUs waited for longest, longest first (lines nobody
   * waited for left out), each with its waits and transfers since the
   * last reset.
   */
  contended(n: number): LineContention[] {
    const top: number[] = [];
    const stall = this.line_stall_ns;
    for (let line = 0; line < stall.length; line++) {
      if (stall[line] === 0) continue;
      if (top.length === n && stall[line]! <= stall[top[n - 1]!]!) continue;
      let i = Math.min(top.length, n - 1);
      while (i > 0 && stall[top[i - 1]!]! < stall[line]!) {
        top[i] = top[i - 1]!;
        i--;
      }
      top[i] = line;
    }
    return top.map((line) => ({
      addr: line << LINE_SHIFT,
      stall_ns: stall[line]!,
      transfers: this.line_transfers[line]!,
    }));
  }

  /**
   * The line of `addr` stays busy until `until_ns`: its holder keeps a
   * lock on it for that long (timing_percpu.ts), and the next CPU to
   * want it waits as for a transfer.
   */
  hold(addr: number, until_ns: number): void {
    const line = addr >>> LINE_SHIFT;
    if (this.busy_until_ns[line]! < until_ns) this.busy_until_ns[line] = until_ns;
  }

  private stall(line: number, wait_ns: number): void {
    this.rmw_stall_ns += wait_ns;
    this.line_stall_ns[line]! += wait_ns;
  }

  /*
   * Give `c` the line with the rights the access needs; returns what that
   * cost (0 for a hit), `memory_ns` for a line no cache holds.
   */
  private claim(c: number, line: number, write: boolean, memory_ns: number): number {
    if (this.holds(c, line, write)) {
      this.hits++;
      return 0;
    }
    const h = this.holder[line]!;
    if (h === UNCACHED) {
      // E state: the only copy, so a later write by c is a hit.
      this.holder[line] = c;
      this.memory++;
      return memory_ns;
    }
    const { line_transfer_ns, invalidate_ns } = this.costs;
    this.line_transfers[line]!++;
    if (h >= 0) {
      this.transfers++;
      if (write) this.holder[line] = c;
      else this.share(line, h, c);
      return line_transfer_ns;
    }
    const set = this.set_of[line]!;
    const member = this.is_sharer(set, c);
    if (!write) {
      this.transfers++;
      this.add_sharer(set, c);
      return line_transfer_ns;
    }
    // Invalidate every other sharer: the first as one transfer, the rest
    // for invalidate_ns each (even a sharer upgrading must wait for them).
    const others = this.set_count[set]! - (member ? 1 : 0);
    this.transfers++;
    this.put_set(set);
    this.holder[line] = c;
    return line_transfer_ns + invalidate_ns * (others - 1);
  }

  /* What claim() will charge `c` for the line, changing nothing: `c` does not hold it. */
  private price(c: number, line: number, write: boolean): number {
    const h = this.holder[line]!;
    if (h === UNCACHED) return this.costs.memory_ns;
    const { line_transfer_ns, invalidate_ns } = this.costs;
    if (h >= 0 || !write) return line_transfer_ns;
    const set = this.set_of[line]!;
    const others = this.set_count[set]! - (this.is_sharer(set, c) ? 1 : 0);
    return line_transfer_ns + invalidate_ns * (others - 1);
  }

  /* Whether `c`'s cache holds the line with the rights the access needs: a hit. */
  private holds(c: number, line: number, write: boolean): boolean {
    const h = this.holder[line]!;
    if (h === c) return true;
    return h === SHARED && !write && this.is_sharer(this.set_of[line]!, c);
  }

  /* Whether `c`'s access takes the line from other caches: another holds it, or shares it and `c` writes. */
  private held_elsewhere(c: number, line: number, write: boolean): boolean {
    const h = this.holder[line]!;
    return h >= 0 ? h !== c : h === SHARED && write;
  }

  /* Holder `h` is downgraded: the line becomes SHARED by h and c. */
  private share(line: number, h: number, c: number): void {
    const set = this.get_set();
    this.add_sharer(set, h);
    this.add_sharer(set, c);
    this.holder[line] = SHARED;
    this.set_of[line] = set;
  }

  private is_sharer(set: number, c: number): boolean {
    return (this.sets[set * this.set_words + (c >>> 5)]! & (1 << (c & 31))) !== 0;
  }

  private add_sharer(set: number, c: number): void {
    this.sets[set * this.set_words + (c >>> 5)]! |= 1 << (c & 31);
    this.set_count[set]!++;
  }

  /* An empty sharer set. */
  private get_set(): number {
    if (this.nr_free > 0) return this.free_sets[--this.nr_free]!;
    if (this.nr_sets === this.set_count.length) this.grow();
    return this.nr_sets++;
  }

  private put_set(set: number): void {
    this.sets.fill(0, set * this.set_words, (set + 1) * this.set_words);
    this.set_count[set] = 0;
    this.free_sets[this.nr_free++] = set;
  }

  private grow(): void {
    const n = this.set_count.length * 2;
    const sets = new Uint32Array(n * this.set_words);
    sets.set(this.sets);
    this.sets = sets;
    const count = new Uint16Array(n);
    count.set(this.set_count);
    this.set_count = count;
    const free = new Int32Array(n);
    free.set(this.free_sets);
    this.free_sets = free;
  }
}
