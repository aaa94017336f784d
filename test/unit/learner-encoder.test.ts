import { afterAll, describe, expect, it } from 'vitest';
import { fashionSpec, MappingEngine, sinusoidSpec } from '../../src/engine/index.js';
import { ClassifierMetaModel } from '../../src/learner/classifier-model.js';
import { RegressionMetaModel } from '../../src/learner/regression-model.js';
import type { EngineSet } from '../../src/learner/sets.js';
import { Random } from '../../src/util/random.js';

const engine = MappingEngine.create();
afterAll(() => engine.dispose());

/** The rows of a set in the order `order` gives (a new set; the original is untouched). */
function reorder(set: EngineSet, inputDim: number, order: readonly number[]): EngineSet {
  const width = set.targets.length / set.rows;
  const inputs = new Float32Array(set.inputs.length);
  const targets =
    set.targets instanceof Int32Array
      ? new Int32Array(set.targets.length)
      : new Float32Array(set.targets.length);
  for (const [to, from] of order.entries()) {
    inputs.set(set.inputs.subarray(from * inputDim, (from + 1) * inputDim), to * inputDim);
    targets.set(set.targets.subarray(from * width, (from + 1) * width), to * width);
  }
  return { inputs, rows: set.rows, targets };
}

function sineSet(random: Random, rows: number): EngineSet {
  const inputs = Float32Array.from({ length: rows }, () => random.uniform(-5, 5));
  const targets = inputs.map((x) => 2 * Math.sin(x + 1));
  return { inputs, rows, targets };
}

function imageSet(random: Random, ways: number, shots: number): EngineSet {
  const rows = ways * shots;
  const inputs = Float32Array.from({ length: rows * 784 }, () => random.next());
  const targets = Int32Array.from({ length: rows }, (_, row) => row % ways);
  return { inputs, rows, targets };
}

describe('the regression mapping encoder phi', () => {
  const model = new RegressionMetaModel(engine, sinusoidSpec, {
    codeDim: 8,
    encoderHidden: [16],
    learningRate: 0.01,
    generatorScale: 0.1,
  });
  const random = new Random(11);
  const parameters = model.initialParameters(random, new Float32Array(1761));

  it('gives the same code whatever the order of the support pairs', async () => {
    const set = sineSet(random, 10);
    const shuffled = reorder(set, 1, random.shuffle([...Array(10).keys()]));
    const [z, zShuffled] = await model.encode(parameters, [set, shuffled]);
    expect(z!.length).toBe(8);
    for (let k = 0; k < 8; k++) expect(zShuffled![k]).toBeCloseTo(z![k]!, 5);
  });

  it('reads support sets of any size, and the targets change the code', async () => {
    const set = sineSet(random, 5);
    const other = { ...set, targets: set.targets.map((y) => -(y as number)) };
    const [small, large, flipped] = await model.encode(parameters, [
      set,
      sineSet(random, 40),
      other,
    ]);
    expect(large!.length).toBe(small!.length);
    expect(Array.from(flipped!)).not.toEqual(Array.from(small!));
  });

  it('never changes the support sets it reads', async () => {
    const set = sineSet(random, 10);
    const copy = { inputs: set.inputs.slice(), targets: set.targets.slice() };
    await model.encode(parameters, [set]);
    expect(set.inputs).toEqual(copy.inputs);
    expect(set.targets).toEqual(copy.targets);
  });
});

describe('the classifier mapping encoder phi and generator psi', () => {
  const spec = fashionSpec(3, 16);
  const model = new ClassifierMetaModel(engine, spec, {
    codeDim: 4,
    encoderHidden: [8],
    learningRate: 0.01,
    generatorScale: 0.5,
  });
  const random = new Random(12);
  const theta0 = new Float32Array(784 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3).map(() =>
    random.uniform(-0.1, 0.1),
  );
  const parameters = model.initialParameters(random, theta0);

  it('gives the same code whatever the order of the support images', async () => {
    const set = imageSet(random, 3, 4);
    const shuffled = reorder(set, 784, random.shuffle([...Array(12).keys()]));
    const [z, zShuffled] = await model.encode(parameters, [set, shuffled]);
    expect(z!.length).toBe(3 * 4);
    for (let k = 0; k < z!.length; k++) expect(zShuffled![k]).toBeCloseTo(z![k]!, 5);
  });

  it('relabelling the classes reorders the class codes and the generated output units alike', async () => {
    const set = imageSet(random, 3, 2);
    const permutation = [2, 0, 1]; // old label j becomes permutation[j]
    const relabelled = { ...set, targets: (set.targets as Int32Array).map((j) => permutation[j]!) };
    const [z, zRelabelled] = await model.encode(parameters, [set, relabelled]);
    for (let j = 0; j < 3; j++) {
      const moved = permutation[j]!;
      expect(Array.from(zRelabelled!.subarray(moved * 4, moved * 4 + 4))).toEqual(
        Array.from(z!.subarray(j * 4, j * 4 + 4)),
      );
    }

    // The head for label j comes from class j's summary: the output bias of unit j moves.
    const [theta, thetaRelabelled] = await model.generate(parameters, [z!, zRelabelled!]);
    const bias = (values: Float32Array) => values.subarray(values.length - 3);
    for (let j = 0; j < 3; j++) {
      expect(bias(thetaRelabelled!)[permutation[j]!]).toBeCloseTo(bias(theta!)[j]!, 6);
    }
  });
});
