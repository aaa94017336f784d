/**
 * Gradients, checked in two links: the float64 reference's analytic gradient against central
 * finite differences of its own loss, then the ONNX gradient graph against the reference.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Activation,
  initialiseTheta,
  type LabelledSet,
  type Loss,
  MappingEngine,
  type MappingSpec,
  parameterCount,
} from '../../src/engine/index.js';
import {
  referenceBackward,
  referenceForward,
  referenceGradient,
  referenceLoss,
} from '../../src/engine/reference.js';
import {
  Random,
  randomSet,
  randomSpec,
  randomVector,
  relativeError,
} from '../support/engine-tasks.js';

const cases: [Activation, Loss][] = [
  ['relu', 'mse'],
  ['relu', 'softmax-cross-entropy'],
  ['tanh', 'mse'],
  ['tanh', 'softmax-cross-entropy'],
];

/** Central differences of the float64 reference loss, step `h`, in theta or in the inputs. */
function finiteDifferences(spec: MappingSpec, theta: Float64Array, set: LabelledSet) {
  const h = 1e-5;
  const lossAt = (t: Float64Array, inputs: Float64Array) => {
    const withInputs = { ...set, inputs: inputs as unknown as Float32Array };
    return referenceLoss(spec, referenceForward(spec, t, withInputs).outputs, withInputs).loss;
  };
  const inputs = Float64Array.from(set.inputs);
  const along = (vector: Float64Array, i: number, lossOf: (v: Float64Array) => number) => {
    const plus = vector.slice();
    const minus = vector.slice();
    plus[i]! += h;
    minus[i]! -= h;
    return (lossOf(plus) - lossOf(minus)) / (2 * h);
  };
  return {
    dTheta: theta.map((_, i) => along(theta, i, (t) => lossAt(t, inputs))),
    dInputs: inputs.map((_, i) => along(inputs, i, (x) => lossAt(theta, x))),
  };
}

describe('the reference gradient', () => {
  // Tolerance: |finite difference - analytic| <= 1e-6 * max(1, |analytic|) per component; the
  // central difference's own error at h = 1e-5 in float64 is about 1e-10.
  const tolerance = (analytic: number) => 1e-6 * Math.max(1, Math.abs(analytic));

  for (const [activation, loss] of cases) {
    it(`matches central finite differences for ${activation} with ${loss}`, () => {
      const random = new Random(11);
      for (let trial = 0; trial < 4; trial++) {
        const spec = randomSpec(random, activation, loss);
        const theta = Float64Array.from(randomVector(random, parameterCount(spec)));
        const set = randomSet(random, spec, 1 + random.int(5));

        const analytic = referenceGradient(spec, theta, set);
        const numeric = finiteDifferences(spec, theta, set);
        for (const [i, value] of analytic.dTheta.entries()) {
          expect(Math.abs(numeric.dTheta[i]! - value)).toBeLessThanOrEqual(tolerance(value));
        }
        for (const [i, value] of analytic.dInputs.entries()) {
          expect(Math.abs(numeric.dInputs[i]! - value)).toBeLessThanOrEqual(tolerance(value));
        }
      }
    });
  }
});

describe('MappingEngine.gradient', () => {
  const engine = MappingEngine.create();
  afterAll(() => engine.dispose());

  // Float32 graphs against the float64 reference: the largest difference over the largest
  // reference value stays below 1e-4 (float32 round-off over sums of a few hundred terms).
  const tolerance = 1e-4;

  for (const [activation, loss] of cases) {
    it(`equals the reference for ${activation} with ${loss}, per task of a batch`, async () => {
      const random = new Random(12);
      const spec = { ...randomSpec(random, activation, loss), hidden: [6, 5] };
      const thetas = [0, 1, 2].map(() => initialiseTheta(spec, random));
      const sets = [3, 7, 1].map((rows) => randomSet(random, spec, rows));

      const results = await engine.gradient(spec, { thetas, sets, wantInputGradient: true });

      for (const [b, result] of results.entries()) {
        const expected = referenceGradient(spec, thetas[b]!, sets[b]!);
        expect(Math.abs(result.loss! - expected.loss)).toBeLessThan(tolerance * expected.loss);
        expect(relativeError(result.dTheta, expected.dTheta)).toBeLessThan(tolerance);
        expect(result.dInputs).toHaveLength(sets[b]!.rows * spec.inputDim);
        expect(relativeError(result.dInputs!, expected.dInputs)).toBeLessThan(tolerance);
      }
    });
  }

  it('backpropagates a given upstream gradient on the outputs', async () => {
    const random = new Random(13);
    const spec = randomSpec(random, 'tanh', 'mse');
    const theta = initialiseTheta(spec, random);
    const set = randomSet(random, spec, 4);
    const upstream = randomVector(random, 4 * spec.outputDim);

    const [result] = await engine.gradient(spec, {
      thetas: [theta],
      sets: [set],
      upstream: [upstream],
      wantInputGradient: true,
    });

    const forwardValues = referenceForward(spec, theta, set);
    const expected = referenceBackward(spec, theta, forwardValues, upstream, set.rows);
    expect(result!.loss).toBeUndefined();
    expect(relativeError(result!.dTheta, expected.dTheta)).toBeLessThan(tolerance);
    expect(relativeError(result!.dInputs!, expected.dInputs)).toBeLessThan(tolerance);
  });

  it('gives each task of a padded batch its gradient alone, to float32 round-off', async () => {
    const random = new Random(15);
    const spec = { ...randomSpec(random, 'relu', 'softmax-cross-entropy'), inputDim: 300 };
    const thetas = [initialiseTheta(spec, random), initialiseTheta(spec, random)];
    const sets = [randomSet(random, spec, 20), randomSet(random, spec, 3)];

    const together = await engine.gradient(spec, { thetas, sets, wantInputGradient: true });
    const alone = await engine.gradient(spec, {
      thetas: [thetas[1]!],
      sets: [sets[1]!],
      wantInputGradient: true,
    });

    expect(Math.abs(together[1]!.loss! - alone[0]!.loss!)).toBeLessThan(1e-6 * alone[0]!.loss!);
    expect(relativeError(together[1]!.dTheta, alone[0]!.dTheta)).toBeLessThan(1e-6);
    expect(relativeError(together[1]!.dInputs!, alone[0]!.dInputs!)).toBeLessThan(1e-6);
  });

  it('leaves out the input gradient unless asked', async () => {
    const random = new Random(14);
    const spec = randomSpec(random, 'relu', 'mse');
    const [result] = await engine.gradient(spec, {
      thetas: [initialiseTheta(spec, random)],
      sets: [randomSet(random, spec, 2)],
    });
    expect(result!.dInputs).toBeUndefined();
    expect(result!.dTheta).toHaveLength(parameterCount(spec));
  });
});
