/** Options every episode source shares. */
export interface SourceOptions {
  /** Fixes every random choice: one seed, one sequence of episodes. */
  readonly seed: number;
  /** How many episodes to produce; unbounded when absent. */
  readonly count?: number;
  /** Stamps `producedAt`; `Date.now` unless given (give a fixed clock to compare runs). */
  readonly clock?: () => number;
}

/** Checks that a numeric option is an integer of at least `min`; names it when not. */
export function requireInteger(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`option ${name} must be an integer of at least ${min}; received ${value}`);
  }
  return value;
}

/** Checks that `[low, high]` is a finite, non-empty range. */
export function requireRange(name: string, range: readonly [number, number]): void {
  const [low, high] = range;
  if (!Number.isFinite(low) || !Number.isFinite(high) || low > high) {
    throw new RangeError(
      `option ${name} must be a finite range [low, high]; received [${low}, ${high}]`,
    );
  }
}

/** Checks the `count` option: absent (unbounded) or a whole number. */
export function requireCount(count: number | undefined): void {
  if (count !== undefined) requireInteger('count', count, 0);
}

/** Episode indices 0, 1, 2, ... up to `count` when it is given. */
export function* episodeIndices(count: number | undefined): Generator<number> {
  for (let index = 0; count === undefined || index < count; index++) yield index;
}
