/** Execution providers, thread settings and the reuse of sessions. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initialiseTheta, MappingEngine, sinusoidSpec } from '../../src/engine/index.js';
import { Random, sinusoidSet } from '../support/engine-tasks.js';

// The CUDA provider is a separate library that `npm ci` skips here (see .npmrc).
const bindingDir = join(
  dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
  '../bin/napi-v6/linux/x64',
);
const hasCuda = existsSync(join(bindingDir, 'libonnxruntime_providers_cuda.so'));

describe('MappingEngine providers and sessions', () => {
  it.skipIf(hasCuda)('falls back to cpu where the CUDA provider is not installed', async () => {
    const engine = MappingEngine.create({ provider: 'cuda' });
    const random = new Random(61);
    const theta = initialiseTheta(sinusoidSpec, random);
    const query = sinusoidSet(random, 4);

    const [result] = await engine.evaluateBatch(sinusoidSpec, [theta], [query]);
    const outputs = await engine.predict(sinusoidSpec, theta, query);
    await engine.dispose();

    expect(engine.provider).toBe('cpu');
    expect(Number.isFinite(result!.loss)).toBe(true);
    expect(outputs).toHaveLength(4);
  });

  it('gives the same adaptation with 1 or 2 intra-op threads', async () => {
    const random = new Random(62);
    const support = [sinusoidSet(random, 10)];
    const request = {
      theta0: [initialiseTheta(sinusoidSpec, random)],
      support,
      steps: 3,
      learningRate: 0.001,
    };
    const one = MappingEngine.create({ intraOpThreads: 1 });
    const two = MappingEngine.create({ intraOpThreads: 2, interOpThreads: 2 });

    const [a] = await one.adaptBatch(sinusoidSpec, request);
    const [b] = await two.adaptBatch(sinusoidSpec, request);
    await Promise.all([one.dispose(), two.dispose()]);

    expect(b!.theta).toEqual(a!.theta);
  });

  it('refuses a thread count below 1', () => {
    expect(() => MappingEngine.create({ intraOpThreads: 0 })).toThrow(
      'engine option intraOpThreads: received 0; allowed integers >= 1',
    );
  });
});
