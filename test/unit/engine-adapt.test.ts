/**
 * Adaptation: K steps in one ONNX run against the plain TypeScript reference of the same
 * steps, masks and batching against tasks run alone, and divergence detection.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AdaptLayout,
  type AdaptRequest,
  fashionSpec,
  initialiseTheta,
  type LearningRate,
  MappingEngine,
  type Optimizer,
  parameterCount,
  parameterLayout,
  sinusoidSpec,
} from '../../src/engine/index.js';
import { referenceAdapt } from '../../src/engine/reference.js';
import {
  imageSet,
  Random,
  randomSet,
  randomSpec,
  relativeError,
  sinusoidSet,
} from '../support/engine-tasks.js';

const layouts: AdaptLayout[] = ['unrolled', 'loop'];
const engines = new Map(
  layouts.map((layout) => [layout, MappingEngine.create({ adaptLayout: layout })]),
);
afterAll(() => Promise.all([...engines.values()].map((engine) => engine.dispose())));

const optimizers: Optimizer[] = [{ kind: 'sgd' }, { kind: 'adam', beta1: 0.8, beta2: 0.99 }];

function learningRates(random: Random, steps: number, P: number, base: number) {
  const rates: [string, LearningRate][] = [
    ['one rate', base],
    ['per-step rates', { perStep: Float32Array.from({ length: steps }, (_, k) => base / (1 + k)) }],
    [
      'per-parameter rates',
      { perParameter: Float32Array.from({ length: P }, () => random.uniform(0.5, 1.5) * base) },
    ],
  ];
  return rates;
}

describe.each(layouts)('adaptBatch with the %s layout', (layout) => {
  const engine = engines.get(layout)!;

  for (const optimizer of optimizers) {
    // Float32 graph against the float64 reference after 5 steps: theta within 1e-3 of the
    // reference relative to its largest value, each step's loss within 1e-3 relatively.
    it(`matches the reference steps of ${optimizer.kind} for every kind of learning rate`, async () => {
      const random = new Random(21);
      const spec = { ...randomSpec(random, 'tanh', 'mse'), hidden: [8, 6] };
      const P = parameterCount(spec);
      const support = [randomSet(random, spec, 6), randomSet(random, spec, 3)];
      const theta0 = support.map(() => initialiseTheta(spec, random));

      for (const [, learningRate] of learningRates(random, 5, P, 0.05)) {
        const request = { theta0, support, steps: 5, learningRate, optimizer };
        const results = await engine.adaptBatch(spec, request);

        for (const [b, result] of results.entries()) {
          const expected = referenceAdapt(spec, theta0[b]!, support[b]!, request);
          expect(result.status).toBe('adapted');
          expect(relativeError(result.theta, expected.theta)).toBeLessThan(1e-3);
          expect(relativeError(result.lossTrace, expected.lossTrace)).toBeLessThan(1e-3);
        }
      }
    });
  }

  // SGD with per-step rates takes the first-layer shortcut when the support sets have fewer
  // rows than the mapping has inputs (here 6 and 3 rows, 12 inputs), and updates the first
  // weight directly otherwise (a 13-row task in the batch). Both must follow the reference.
  it('matches the reference with and without the first-layer shortcut', async () => {
    const random = new Random(29);
    for (const [activation, loss] of [
      ['tanh', 'mse'],
      ['relu', 'softmax-cross-entropy'],
    ] as const) {
      const spec = { ...randomSpec(random, activation, loss), inputDim: 12, hidden: [7, 5] };
      const support = [randomSet(random, spec, 6), randomSet(random, spec, 3)];
      const theta0 = support.map(() => initialiseTheta(spec, random));
      const wide = randomSet(random, spec, 13);
      const perStep = Float32Array.from({ length: 5 }, (_, k) => 0.05 / (1 + k));

      for (const learningRate of [0.05, { perStep }]) {
        const request = { theta0, support, steps: 5, learningRate };
        const shortcut = await engine.adaptBatch(spec, request);
        const direct = await engine.adaptBatch(spec, {
          ...request,
          theta0: [...theta0, theta0[0]!],
          support: [...support, wide],
        });

        for (const [b, set] of support.entries()) {
          const expected = referenceAdapt(spec, theta0[b]!, set, request);
          for (const result of [shortcut[b]!, direct[b]!]) {
            expect(result.status).toBe('adapted');
            expect(relativeError(result.theta, expected.theta)).toBeLessThan(1e-3);
            expect(relativeError(result.lossTrace, expected.lossTrace)).toBeLessThan(1e-3);
          }
          expect(relativeError(shortcut[b]!.theta, direct[b]!.theta)).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('matches the reference for a classifier with ReLU', async () => {
    const random = new Random(22);
    const spec = { ...randomSpec(random, 'relu', 'softmax-cross-entropy'), hidden: [7, 5] };
    const support = [randomSet(random, spec, 9)];
    const theta0 = [initialiseTheta(spec, random)];
    const request = { theta0, support, steps: 4, learningRate: 0.1 };

    const [result] = await engine.adaptBatch(spec, request);

    const expected = referenceAdapt(spec, theta0[0]!, support[0]!, request);
    expect(relativeError(result!.theta, expected.theta)).toBeLessThan(1e-3);
    expect(relativeError(result!.lossTrace, expected.lossTrace)).toBeLessThan(1e-3);
  });

  // Padding is exact in the maths (masked rows weigh 0) but not always bitwise: ONNX Runtime's
  // GEMM picks its blocking of the 784-long sums from the matrix shapes, and the padded N is
  // one of them. The bound is therefore float32 round-off (1e-6 relative). Adam is checked
  // through its input, the gradient (engine-gradients), since its per-element normalisation
  // magnifies round-off in gradient components that are themselves round-off.
  it('gives each task of a padded batch what it gets alone, to float32 round-off', async () => {
    const random = new Random(23);
    const spec = fashionSpec(5, 16);
    const support = [25, 5, 13].map((rows) => imageSet(random, 5, rows));
    const theta0 = support.map(() => initialiseTheta(spec, random));
    const P = parameterCount(spec);
    const perParameter = Float32Array.from({ length: P }, () => random.uniform(0.01, 0.05));

    for (const learningRate of [0.05, { perParameter }]) {
      const base = { steps: 3, learningRate };
      const together = await engine.adaptBatch(spec, { ...base, theta0, support });

      for (const [b, set] of support.entries()) {
        const alone = await engine.adaptBatch(spec, {
          ...base,
          theta0: [theta0[b]!],
          support: [set],
        });
        expect(relativeError(together[b]!.lossTrace, alone[0]!.lossTrace)).toBeLessThan(1e-6);
        expect(relativeError(together[b]!.theta, alone[0]!.theta)).toBeLessThan(1e-6);
      }
    }
  });

  it('reduces the support loss of sinusoid tasks', async () => {
    const random = new Random(24);
    const support = Array.from({ length: 8 }, () => sinusoidSet(random, 10));
    const theta0 = support.map(() => initialiseTheta(sinusoidSpec, random));
    // He-uniform initial mappings on x in [-5, 5] overshoot at 0.01 (see docs/engine.md).
    const request: AdaptRequest = { theta0, support, steps: 10, learningRate: 0.001 };

    const results = await engine.adaptBatch(sinusoidSpec, request);

    for (const result of results) {
      expect(result.status).toBe('adapted');
      expect(result.lossTrace[9]!).toBeLessThan(result.lossTrace[0]!);
    }
  });

  it('marks a diverging task and returns its theta0, not a NaN mapping', async () => {
    const random = new Random(25);
    const support = [sinusoidSet(random, 10), sinusoidSet(random, 10)];
    const theta0 = support.map(() => initialiseTheta(sinusoidSpec, random));
    const steady = await engine.adaptBatch(sinusoidSpec, {
      theta0,
      support,
      steps: 6,
      learningRate: 0.001,
    });
    const wild = await engine.adaptBatch(sinusoidSpec, {
      theta0,
      support,
      steps: 6,
      learningRate: 10,
    });

    expect(steady.map((r) => r.status)).toEqual(['adapted', 'adapted']);
    for (const [b, result] of wild.entries()) {
      expect(result.status).toBe('diverged');
      expect(result.theta).toEqual(theta0[b]);
      expect(result.theta).not.toBe(theta0[b]);
    }
  });
});

describe.each(layouts)('the final theta check with the %s layout', (layout) => {
  const engine = engines.get(layout)!;

  // Every loss of the trace is measured before its step's update, so only the check of the
  // final theta sees what a huge last rate does. With 12 inputs and 6 rows the first layer
  // takes the shortcut; with 3 inputs it is updated directly.
  it('marks a task diverged when only its final update overflows', async () => {
    const random = new Random(30);
    for (const inputDim of [3, 12]) {
      const spec = { ...randomSpec(random, 'tanh', 'mse'), inputDim, hidden: [6] };
      const set = randomSet(random, spec, 6);
      const support = [{ ...set, targets: set.targets.map((t) => 1000 * t) }];
      const theta0 = [initialiseTheta(spec, random)];
      const perStep = Float32Array.of(1e-6, 1e-6, 3e38);

      const [result] = await engine.adaptBatch(spec, {
        theta0,
        support,
        steps: 3,
        learningRate: { perStep },
      });

      expect(result!.lossTrace.every(Number.isFinite)).toBe(true);
      expect(result!.status).toBe('diverged');
      expect(result!.theta).toEqual(theta0[0]);
    }
  });

  // Hidden units with a bias of -3e38 never activate under ReLU, so every loss and gradient
  // stays finite while the parameters' sum overflows: the engine must look at the values.
  it('keeps a finite task whose parameters sum past the float32 range', async () => {
    const random = new Random(31);
    const spec = { ...randomSpec(random, 'relu', 'softmax-cross-entropy'), hidden: [6] };
    const support = [randomSet(random, spec, 5)];
    const theta0 = initialiseTheta(spec, random);
    const bias = parameterLayout(spec).tensors[1]!;
    theta0.fill(-3e38, bias.offset, bias.offset + 3);

    const [result] = await engine.adaptBatch(spec, {
      theta0: [theta0],
      support,
      steps: 3,
      learningRate: 0.1,
    });

    expect(result!.status).toBe('adapted');
    expect(result!.theta.subarray(bias.offset, bias.offset + 3)).toEqual(
      theta0.subarray(bias.offset, bias.offset + 3),
    );
    expect(result!.theta).not.toEqual(theta0);
  });
});

describe('adaptBatch across runs', () => {
  it('splits a batch larger than maxTasksPerRun into runs with the same results', async () => {
    const random = new Random(26);
    const support = Array.from({ length: 7 }, (_, b) => sinusoidSet(random, 5 + b));
    const theta0 = support.map(() => initialiseTheta(sinusoidSpec, random));
    const request: AdaptRequest = { theta0, support, steps: 3, learningRate: 0.01 };
    const small = MappingEngine.create({ maxTasksPerRun: 3 });

    const chunked = await small.adaptBatch(sinusoidSpec, request);
    const whole = await engines.get('unrolled')!.adaptBatch(sinusoidSpec, request);
    await small.dispose();

    expect(chunked).toHaveLength(7);
    for (const [b, result] of chunked.entries()) {
      expect(relativeError(result.theta, whole[b]!.theta)).toBeLessThan(1e-6);
    }
  });

  it('gives the same results with both layouts', async () => {
    const random = new Random(27);
    const support = [sinusoidSet(random, 10)];
    const theta0 = [initialiseTheta(sinusoidSpec, random)];
    const request: AdaptRequest = { theta0, support, steps: 5, learningRate: 0.01 };

    const [unrolled] = await engines.get('unrolled')!.adaptBatch(sinusoidSpec, request);
    const [loop] = await engines.get('loop')!.adaptBatch(sinusoidSpec, request);

    expect(relativeError(loop!.theta, unrolled!.theta)).toBeLessThan(1e-6);
  });

  it('never mutates its inputs', async () => {
    const random = new Random(28);
    const support = [sinusoidSet(random, 10)];
    const theta0 = [initialiseTheta(sinusoidSpec, random)];
    const copies = { theta: theta0[0]!.slice(), inputs: support[0]!.inputs.slice() };

    await engines.get('unrolled')!.adaptBatch(sinusoidSpec, {
      theta0,
      support,
      steps: 3,
      learningRate: 0.01,
      optimizer: { kind: 'adam' },
    });

    expect(theta0[0]).toEqual(copies.theta);
    expect(support[0]!.inputs).toEqual(copies.inputs);
  });
});
