import { mean, sampleRankCorrelation, sampleStandardDeviation } from 'simple-statistics';

/** A sample mean with its 95% confidence interval. */
export interface Estimate {
  readonly mean: number;
  /** Half the width of the 95% interval: the interval is `mean ± halfWidth`. */
  readonly halfWidth: number;
  readonly n: number;
}

/**
 * The mean of `values` with a 95% confidence interval from the normal approximation,
 * `1.96 s / sqrt(n)`. Evaluations use at least 600 episodes, where Student's t
 * quantile (1.9639 at 599 degrees of freedom) and 1.96 agree to three figures.
 */
export function estimateMean(values: readonly number[]): Estimate {
  if (values.length === 0) return { mean: Number.NaN, halfWidth: Number.NaN, n: 0 };
  if (values.length === 1) return { mean: values[0]!, halfWidth: Number.NaN, n: 1 };

  const spread = sampleStandardDeviation(values as number[]);
  return {
    mean: mean(values as number[]),
    halfWidth: (1.96 * spread) / Math.sqrt(values.length),
    n: values.length,
  };
}

/**
 * Spearman's rank correlation between the pairwise distances of two descriptions of the
 * same items (codes z and true task parameters, say): does "closer in z" mean "closer in
 * the task"? `a[i]` and `b[i]` describe item i.
 */
export function distanceRankCorrelation(
  a: readonly Float32Array[] | readonly number[][],
  b: readonly Float32Array[] | readonly number[][],
): number {
  if (a.length !== b.length) {
    throw new RangeError(
      `both descriptions need one row per item; received ${a.length} and ${b.length}`,
    );
  }
  return sampleRankCorrelation(pairwiseDistances(a), pairwiseDistances(b));
}

/** Euclidean distances of every unordered pair `i < j`, in row-major order of the pairs. */
export function pairwiseDistances(rows: readonly Float32Array[] | readonly number[][]): number[] {
  const distances: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    for (let j = i + 1; j < rows.length; j++) distances.push(euclidean(rows[i]!, rows[j]!));
  }
  return distances;
}

function euclidean(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let k = 0; k < a.length; k++) {
    const difference = (a[k] ?? 0) - (b[k] ?? 0);
    sum += difference * difference;
  }
  return Math.sqrt(sum);
}
