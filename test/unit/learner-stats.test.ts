import { describe, expect, it } from 'vitest';
import {
  distanceRankCorrelation,
  estimateMean,
  pairwiseDistances,
} from '../../src/learner/stats.js';

describe('the evaluation statistics', () => {
  it('gives the mean with a 95% half-width of 1.96 standard errors', () => {
    const values = Array.from({ length: 600 }, (_, i) => (i % 2 === 0 ? 1 : 3));
    const estimate = estimateMean(values);
    expect(estimate.mean).toBe(2);
    // Sample standard deviation of alternating 1 and 3 over 600 values: sqrt(600 / 599).
    expect(estimate.halfWidth).toBeCloseTo((1.96 * Math.sqrt(600 / 599)) / Math.sqrt(600), 10);
    expect(estimate.n).toBe(600);
  });

  it('lists the distance of every unordered pair once', () => {
    expect(
      pairwiseDistances([
        [0, 0],
        [3, 4],
        [0, 1],
      ]),
    ).toEqual([5, 1, Math.sqrt(9 + 9)]);
  });

  it('ranks code distances against task distances: 1 for any monotone map, near 0 for noise', () => {
    const tasks = Array.from({ length: 30 }, (_, i) => [Math.sin(i), Math.cos(3 * i)]);
    const scaled = tasks.map(([a, b]) => Float32Array.of(10 * a!, 10 * b!));
    expect(distanceRankCorrelation(scaled, tasks)).toBeCloseTo(1, 6);

    const unrelated = tasks.map((_, i) => [Math.sin(7.3 * i * i), Math.cos(1.7 * i * i * i)]);
    expect(Math.abs(distanceRankCorrelation(unrelated, tasks))).toBeLessThan(0.2);
  });
});
