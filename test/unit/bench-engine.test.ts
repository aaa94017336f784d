/**
 * The engine benchmark's own parts: the FLOP count it divides by, the TensorFlow.js
 * adaptation it compares against (checked against the project's TypeScript reference, so the
 * comparison is of the same work), and its timing arithmetic.
 */
import { describe, expect, it } from 'vitest';
import { adaptWithTfjs, startTfjs } from '../../bench/engine/tfjs.js';
import { median, timeCalls } from '../../bench/engine/timing.js';
import { makeBatch, stepFlops, workloads } from '../../bench/engine/workloads.js';
import { parameterCount } from '../../src/engine/index.js';
import { referenceAdapt } from '../../src/engine/reference.js';

const [w1, w2] = workloads as [(typeof workloads)[0], (typeof workloads)[0]];

describe('the step FLOP count', () => {
  it('counts a W1 step of 10 rows as 103,522 operations', () => {
    // forward 2*10*(40 + 1600 + 40); backward adds da past layer 0; update 2 * 1761.
    expect(stepFlops(w1)).toEqual({
      forward: 33_600,
      backward: 66_400,
      update: 3_522,
      total: 103_522,
    });
  });

  it('counts a W2 step of 25 rows as 12,824,074 operations', () => {
    expect(stepFlops(w2).total).toBe(12_824_074);
  });
});

describe('the TensorFlow.js adaptation', () => {
  for (const [workload, tasks, steps] of [
    [w1, 4, 10],
    [w2, 2, 3],
  ] as const) {
    it(`gives the reference theta* and loss trace on ${workload.id}`, async () => {
      await startTfjs();
      const batch = makeBatch(workload, tasks, 5);
      const adapted = await adaptWithTfjs(workload.spec, batch, steps, workload.learningRate);

      const P = parameterCount(workload.spec);
      for (let b = 0; b < tasks; b++) {
        const reference = referenceAdapt(workload.spec, batch.theta0[b]!, batch.support[b]!, {
          steps,
          learningRate: workload.learningRate,
        });
        const theta = adapted.thetas.subarray(b * P, (b + 1) * P);
        const trace = adapted.lossTraces.subarray(b * steps, (b + 1) * steps);
        expect(maxAbsDifference(theta, reference.theta)).toBeLessThan(1e-4);
        expect(maxAbsDifference(trace, reference.lossTrace)).toBeLessThan(1e-4);
      }
    });
  }
});

describe('the timing', () => {
  it('takes the middle value, or the mean of the two middle values', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('takes at least the fewest samples and counts every call', async () => {
    let calls = 0;
    const plan = {
      budgetSeconds: 0,
      samples: 5,
      minSamples: 3,
      longCallSeconds: 1,
      warmupCalls: 2,
    };
    const timing = await timeCalls(plan, async () => {
      calls++;
    });
    expect(timing.samples).toBe(3);
    expect(calls).toBe(2 + timing.samples * timing.callsPerSample);
  });
});

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
