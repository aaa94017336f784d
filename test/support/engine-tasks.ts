/**
 * Seeded tasks and mappings for the engine tests: small random architectures, labelled sets,
 * and W1 sinusoid support sets.
 */
import type { Activation, LabelledSet, Loss, MappingSpec } from '../../src/engine/index.js';
import { Random } from '../../src/util/random.js';

export { Random };

/** An MLP with 0 to 2 hidden layers of 2 to 7 units, 1 to 4 inputs, 2 to 4 outputs. */
export function randomSpec(random: Random, activation: Activation, loss: Loss): MappingSpec {
  const hidden = Array.from({ length: random.int(3) }, () => 2 + random.int(6));
  return {
    inputDim: 1 + random.int(4),
    hidden,
    outputDim: 2 + random.int(3),
    activation,
    loss,
  };
}

/** `rows` rows of inputs in [-2, 2] with targets in [-1, 1] or uniform labels. */
export function randomSet(random: Random, spec: MappingSpec, rows: number): LabelledSet {
  const inputs = Float32Array.from({ length: rows * spec.inputDim }, () => random.uniform(-2, 2));
  const targets =
    spec.loss === 'mse'
      ? Float32Array.from({ length: rows * spec.outputDim }, () => random.uniform(-1, 1))
      : Int32Array.from({ length: rows }, () => random.int(spec.outputDim));
  return { inputs, rows, targets };
}

/** A W1 task `y = A sin(x + b)` with `rows` points, `A ~ U[0.1, 5]`, `b ~ U[0, pi]`. */
export function sinusoidSet(random: Random, rows: number): LabelledSet {
  const amplitude = random.uniform(0.1, 5);
  const phase = random.uniform(0, Math.PI);
  const inputs = Float32Array.from({ length: rows }, () => random.uniform(-5, 5));
  const targets = inputs.map((x) => amplitude * Math.sin(x + phase));
  return { inputs, rows, targets };
}

/** A stand-in for an N-way Fashion-MNIST support set: pixels in [0, 1], labels cycling. */
export function imageSet(random: Random, ways: number, rows: number): LabelledSet {
  const inputs = Float32Array.from({ length: rows * 784 }, () => random.next());
  const targets = Int32Array.from({ length: rows }, (_, r) => r % ways);
  return { inputs, rows, targets };
}

/** A random vector of `length` values in [-scale, scale]. */
export function randomVector(random: Random, length: number, scale = 1): Float32Array {
  return Float32Array.from({ length }, () => random.uniform(-scale, scale));
}

/** The largest absolute difference between two arrays, relative to the largest of `expected`. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return difference / Math.max(scale, 1e-12);
}
