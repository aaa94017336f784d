/** The parameter layout of theta and the seeded initialisation of mappings. */
import { describe, expect, it } from 'vitest';
import {
  fashionSpec,
  flatten,
  initialiseTheta,
  parameterCount,
  parameterLayout,
  sinusoidSpec,
  unflatten,
} from '../../src/engine/index.js';
import { Random, randomVector } from '../support/engine-tasks.js';

describe('parameterLayout', () => {
  it('lays out W1 as weight [out, in] then bias, layer by layer', () => {
    const layout = parameterLayout(sinusoidSpec);
    expect(layout.tensors.map((t) => [t.name, t.shape, t.offset])).toEqual([
      ['layer0.weight', [40, 1], 0],
      ['layer0.bias', [40], 40],
      ['layer1.weight', [40, 40], 80],
      ['layer1.bias', [40], 1680],
      ['layer2.weight', [1, 40], 1720],
      ['layer2.bias', [1], 1760],
    ]);
    expect(layout.size).toBe(1761);
  });

  it('counts the W2 parameters with h = 128', () => {
    expect(parameterCount(fashionSpec(5))).toBe(784 * 128 + 128 + 128 * 128 + 128 + 128 * 5 + 5);
  });

  it('unflattens to copies and flattens back to the same theta', () => {
    const layout = parameterLayout(sinusoidSpec);
    const theta = randomVector(new Random(1), layout.size);
    const tensors = unflatten(layout, theta);
    tensors.get('layer0.bias')![0] = 99;
    expect(theta[40]).not.toBe(99);
    tensors.get('layer0.bias')![0] = theta[40]!;
    expect(flatten(layout, tensors)).toEqual(theta);
  });

  it('refuses to flatten a tensor of the wrong size', () => {
    const layout = parameterLayout(sinusoidSpec);
    const tensors = unflatten(layout, new Float32Array(layout.size));
    tensors.set('layer1.weight', new Float32Array(3));
    expect(() => flatten(layout, tensors)).toThrow("tensor 'layer1.weight': expected 1600 values");
  });
});

describe('initialiseTheta', () => {
  it('is the same for the same seed and differs for another', () => {
    const a = initialiseTheta(sinusoidSpec, new Random(5));
    expect(initialiseTheta(sinusoidSpec, new Random(5))).toEqual(a);
    expect(initialiseTheta(sinusoidSpec, new Random(6))).not.toEqual(a);
  });

  it('draws ReLU weights He-uniform and tanh weights Xavier-uniform, biases zero', () => {
    for (const activation of ['relu', 'tanh'] as const) {
      const spec = { ...fashionSpec(5), activation };
      const tensors = unflatten(parameterLayout(spec), initialiseTheta(spec, new Random(7)));
      const weight = tensors.get('layer0.weight')!;
      const limit = activation === 'relu' ? Math.sqrt(6 / 784) : Math.sqrt(6 / (784 + 128));
      const largest = weight.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

      expect(largest).toBeLessThanOrEqual(limit);
      expect(largest).toBeGreaterThan(0.99 * limit);
      expect(tensors.get('layer0.bias')!.every((v) => v === 0)).toBe(true);
    }
  });
});
