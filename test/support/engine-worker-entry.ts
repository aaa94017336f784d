/**
 * A worker for test/unit/engine-worker.test.ts: adapts `runs` small batches of W1 tasks, one
 * ONNX run each, and reports how many finished and the last result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initialiseTheta, MappingEngine, sinusoidSpec } from '../../src/engine/index.js';
import { transferablesOf } from '../../src/engine/worker.js';
import { Random, sinusoidSet } from './engine-tasks.js';

const { runs } = workerData as { runs: number };
const engine = MappingEngine.create();
const random = new Random(51);
const support = [sinusoidSet(random, 10), sinusoidSet(random, 5)];
const theta0 = support.map(() => initialiseTheta(sinusoidSpec, random));

let adapted = 0;
let last: Awaited<ReturnType<MappingEngine['adaptBatch']>> = [];
for (let run = 0; run < runs; run++) {
  last = await engine.adaptBatch(sinusoidSpec, { theta0, support, steps: 5, learningRate: 0.001 });
  if (last.every((result) => result.status === 'adapted')) adapted++;
}
await engine.dispose();
parentPort!.postMessage({ adapted, last }, transferablesOf(last));
