/**
 * Bad input: every case fails with an EngineInputError naming the argument, what was
 * received and what was allowed, before any ONNX Runtime run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AdaptRequest,
  EngineInputError,
  fashionSpec,
  initialiseTheta,
  MappingEngine,
  sinusoidSpec,
} from '../../src/engine/index.js';
import { AllmapError } from '../../src/errors.js';
import { imageSet, Random, sinusoidSet } from '../support/engine-tasks.js';

const engine = MappingEngine.create();
afterAll(() => engine.dispose());

const random = new Random(41);
const theta = initialiseTheta(sinusoidSpec, random);
const support = sinusoidSet(random, 5);
const valid: AdaptRequest = { theta0: [theta], support: [support], steps: 3, learningRate: 0.01 };

async function rejection(promise: Promise<unknown>): Promise<EngineInputError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EngineInputError);
  expect(error).toBeInstanceOf(AllmapError);
  return error as EngineInputError;
}

describe('adaptBatch rejects', () => {
  const cases: [string, Partial<AdaptRequest>, RegExp][] = [
    [
      'a NaN input',
      { support: [{ ...support, inputs: Float32Array.of(0, 1, Number.NaN, 3, 4) }] },
      /^support\[0\]\.inputs\[2\]: received NaN; allowed finite values only$/,
    ],
    [
      'an infinite target',
      { support: [{ ...support, targets: Float32Array.of(0, 1, 2, Number.POSITIVE_INFINITY, 4) }] },
      /^support\[0\]\.targets\[3\]: received Infinity/,
    ],
    [
      'inputs of the wrong dimension',
      { support: [{ ...support, inputs: new Float32Array(7) }] },
      /^support\[0\]\.inputs: received 7 values; allowed exactly 5$/,
    ],
    [
      'an empty support set',
      { support: [{ inputs: new Float32Array(0), rows: 0, targets: new Float32Array(0) }] },
      /^support\[0\]\.rows: received 0; allowed an integer >= 1/,
    ],
    [
      'theta of the wrong length',
      { theta0: [new Float32Array(10)] },
      /^theta0\[0\]: received 10 values; allowed exactly 1761$/,
    ],
    [
      'a NaN in theta',
      { theta0: [theta.map((v, i) => (i === 4 ? Number.NaN : v))] },
      /^theta0\[0\]\[4\]/,
    ],
    ['no tasks', { theta0: [], support: [] }, /^theta0: received an empty list/],
    ['more thetas than support sets', { theta0: [theta, theta] }, /^support: received 1 tasks/],
    ['zero steps', { steps: 0 }, /^steps: received 0; allowed an integer in \[1, 1000\]$/],
    ['a negative learning rate', { learningRate: -1 }, /^learningRate: received -1/],
    [
      'per-step rates of the wrong length',
      { learningRate: { perStep: new Float32Array(2) } },
      /^learningRate\.perStep: received 2 values; allowed exactly 3$/,
    ],
    [
      'an Adam beta of 1',
      { optimizer: { kind: 'adam', beta2: 1 } },
      /^optimizer\.beta2: received 1; allowed \[0, 1\)$/,
    ],
  ];

  for (const [what, change, message] of cases) {
    it(what, async () => {
      const error = await rejection(engine.adaptBatch(sinusoidSpec, { ...valid, ...change }));
      expect(error.message).toMatch(message);
      expect(error.isRetriable).toBe(false);
    });
  }

  it('labels out of range for a classifier', async () => {
    const spec = fashionSpec(5, 8);
    const set = { ...imageSet(random, 5, 4), targets: Int32Array.of(0, 1, 5, 2) };
    const request = { ...valid, theta0: [initialiseTheta(spec, random)], support: [set] };
    const error = await rejection(engine.adaptBatch(spec, request));
    expect(error.message).toBe('support[0].targets[2]: received 5; allowed [0, 5)');
  });

  it('real-valued targets for a classifier', async () => {
    const spec = fashionSpec(5, 8);
    const set = { ...imageSet(random, 5, 4), targets: new Float32Array(4) };
    const request = { ...valid, theta0: [initialiseTheta(spec, random)], support: [set] };
    const error = await rejection(engine.adaptBatch(spec, request));
    expect(error.message).toMatch(
      /^support\[0\]\.targets: received Float32Array; allowed an Int32Array/,
    );
  });
});

describe('the other methods reject bad input too', () => {
  it('predict: inputs with a NaN', async () => {
    const inputs = { inputs: Float32Array.of(1, Number.NaN), rows: 2 };
    const error = await rejection(engine.predict(sinusoidSpec, theta, inputs));
    expect(error.argument).toBe('inputs.inputs[1]');
  });

  it('evaluateBatch: a query set of the wrong size', async () => {
    const query = { ...support, rows: 6 };
    const error = await rejection(engine.evaluateBatch(sinusoidSpec, [theta], [query]));
    expect(error.message).toBe('querySets[0].inputs: received 5 values; allowed exactly 6');
  });

  it('gradient: an upstream gradient of the wrong size', async () => {
    const request = { thetas: [theta], sets: [support], upstream: [new Float32Array(3)] };
    const error = await rejection(engine.gradient(sinusoidSpec, request));
    expect(error.message).toBe('upstream[0]: received 3 values; allowed exactly 5');
  });

  it('exportModel: an infinite theta', () => {
    const bad = theta.map((v, i) => (i === 0 ? Number.POSITIVE_INFINITY : v));
    const info = { family: 'f', metaVersion: 1, taskId: 't' };
    expect(() => engine.exportModel(sinusoidSpec, bad, info)).toThrow(EngineInputError);
  });

  it('any method: a spec with a zero-width layer', async () => {
    const spec = { ...sinusoidSpec, hidden: [40, 0] };
    const error = await rejection(engine.predict(spec, theta, support));
    expect(error.message).toBe('spec: received layer width 0 at position 2; allowed integers >= 1');
  });
});
