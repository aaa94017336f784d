/**
 * The engine inside a worker_threads worker: onnxruntime-node has crashed in workers for
 * others, so this runs thousands of adaptation runs there and checks every one completed and
 * the results equal the main thread's.
 */
import { describe, expect, it } from 'vitest';
import {
  type AdaptResult,
  initialiseTheta,
  MappingEngine,
  sinusoidSpec,
} from '../../src/engine/index.js';
import { startWorker } from '../../src/engine/worker.js';
import { Random, sinusoidSet } from '../support/engine-tasks.js';

describe('the engine in a worker thread', () => {
  it('completes 3000 adaptation runs and matches the main thread', async () => {
    const runs = 3000;
    const worker = startWorker(new URL('../support/engine-worker-entry.ts', import.meta.url), {
      workerData: { runs },
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const message = await new Promise<{ adapted: number; last: AdaptResult[] }>(
      (resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      },
    );

    expect(message.adapted).toBe(runs);
    expect(await exited).toBe(0);

    // The same tasks on the main thread, drawn from the same seed as the worker's.
    const random = new Random(51);
    const support = [sinusoidSet(random, 10), sinusoidSet(random, 5)];
    const theta0 = support.map(() => initialiseTheta(sinusoidSpec, random));
    const engine = MappingEngine.create();
    const expected = await engine.adaptBatch(sinusoidSpec, {
      theta0,
      support,
      steps: 5,
      learningRate: 0.001,
    });
    await engine.dispose();
    expect(message.last.map((r) => r.theta)).toEqual(expected.map((r) => r.theta));
  }, 120_000);
});
