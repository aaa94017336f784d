import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/**
 * A seeded source of random numbers. Every random choice in allmap (task sampling,
 * parameter initialisation, bank replacement) draws from one of these so that a seed
 * fixes the numbers a run produces.
 */
export class Random {
  private readonly generator: RandomGenerator;

  constructor(seed: number) {
    // Small neighbouring seeds (1, 2, 3) would start xoroshiro in similar states: mix first.
    this.generator = xoroshiro128plus(mixSeed(seed));
  }

  /** Uniform in [0, 1), in steps of 2^-53. */
  next(): number {
    return uniformFloat64(this.generator);
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return uniformInt(this.generator, 0, n - 1);
  }

  /** Standard normal, by the Box-Muller transform. */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle of a copy of `items`. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** A new independent generator, derived from this one (for per-task streams). */
  fork(): Random {
    return new Random(this.int(2 ** 31 - 1));
  }
}

/** The 32-bit finaliser of MurmurHash3: spreads every input bit over the whole word. */
function mixSeed(seed: number): number {
  let h = (seed + 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
