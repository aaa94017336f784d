/**
 * Exported models: standalone ONNX that plain onnxruntime-node loads and runs, predicting what
 * the engine's predict graph predicts, with the metadata a consumer needs.
 */
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  allmapVersion,
  exportMetadataKeys,
  fashionSpec,
  initialiseTheta,
  MappingEngine,
  sinusoidSpec,
} from '../../src/engine/index.js';
import { checkModel } from '../../src/engine/onnx/check.js';
import { decodeModel } from '../../src/engine/onnx/proto.js';
import { referenceForward } from '../../src/engine/reference.js';
import { imageSet, Random, relativeError, sinusoidSet } from '../support/engine-tasks.js';

const engine = MappingEngine.create();
afterAll(() => engine.dispose());

describe('exportModel', () => {
  it('exports a regression mapping whose y equals the predict graph', async () => {
    const random = new Random(31);
    const theta = initialiseTheta(sinusoidSpec, random);
    const query = sinusoidSet(random, 17);

    const bytes = engine.exportModel(sinusoidSpec, theta, {
      family: 'sinusoid',
      metaVersion: 3,
      taskId: 'task-7',
    });
    checkModel(bytes);
    const session = await ort.InferenceSession.create(bytes);
    const { y } = await session.run({ x: new ort.Tensor('float32', query.inputs, [17, 1]) });
    await session.release();

    const predicted = await engine.predict(sinusoidSpec, theta, query);
    expect(session.inputNames).toEqual(['x']);
    expect(y!.dims).toEqual([17, 1]);
    // Equal to float32 round-off: ONNX Runtime may pre-pack a constant weight for its GEMM,
    // which can sum in another order than with the same weight fed as an input.
    expect(relativeError(y!.data as Float32Array, predicted)).toBeLessThan(1e-6);
    const reference = referenceForward(sinusoidSpec, theta, query).outputs;
    expect(relativeError(predicted, reference)).toBeLessThan(1e-5);
  });

  it('exports a classifier with logits and softmax probabilities', async () => {
    const random = new Random(32);
    const spec = fashionSpec(5, 32);
    const theta = initialiseTheta(spec, random);
    const query = imageSet(random, 5, 6);

    const bytes = engine.exportModel(spec, theta, {
      family: 'fashion',
      metaVersion: 1,
      taskId: 't',
    });
    const session = await ort.InferenceSession.create(bytes);
    const outputs = await session.run({ x: new ort.Tensor('float32', query.inputs, [6, 784]) });
    await session.release();

    expect(session.outputNames).toEqual(['logits', 'probabilities']);
    const logits = outputs.logits!.data as Float32Array;
    expect(relativeError(logits, await engine.predict(spec, theta, query))).toBeLessThan(1e-6);
    const probabilities = outputs.probabilities!.data as Float32Array;
    for (let r = 0; r < 6; r++) {
      const sum = probabilities.subarray(r * 5, r * 5 + 5).reduce((a, b) => a + b);
      expect(sum).toBeCloseTo(1, 5);
    }
  });

  it('records family, meta version, task id and allmap version as metadata', () => {
    const theta = initialiseTheta(sinusoidSpec, new Random(33));
    const bytes = engine.exportModel(sinusoidSpec, theta, {
      family: 'sinusoid',
      metaVersion: 12,
      taskId: 'device-42',
    });

    const metadata = Object.fromEntries(
      decodeModel(bytes).metadataProps.map(({ key, value }) => [key, value]),
    );
    expect(metadata).toMatchObject({
      [exportMetadataKeys.family]: 'sinusoid',
      [exportMetadataKeys.metaVersion]: '12',
      [exportMetadataKeys.taskId]: 'device-42',
      [exportMetadataKeys.allmapVersion]: allmapVersion,
    });
    expect(JSON.parse(metadata[exportMetadataKeys.architecture]!)).toEqual(sinusoidSpec);
  });
});
