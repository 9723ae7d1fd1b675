/*
 * sfc32: a small, fast, seedable generator with a 128-bit state. Every
 * random choice of the explorer comes from one, so a seed names a run.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed | 0;
    for (let i = 0; i < 12; i++) this.next_u32();
  }

  next_u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A second stream, derived from this one's state, which it leaves where it was. */
  split(): Rng {
    return new Rng((this.a ^ this.b ^ this.c ^ this.d ^ 0x5ec2e7) | 0);
  }

  /** Uniform in [0, n), n ≤ 2^32. */
  below(n: number): number {
    return Math.floor((this.next_u32() / 4294967296) * n);
  }
}
