/**
 * Measures the adaptation graph: both step layouts (unrolled, loop) for the W1 and W2 shapes,
 * K = 10, B in {1, 16, 256}, with 1 and 2 intra-op threads, against the GFLOP/s that the same
 * ONNX Runtime reaches on one 2048 x 2048 MatMul. Prints a markdown table. Times are the best
 * of `repeats` warm runs (the machine is shared; the max shows the spread). GFLOP/s counts the
 * arithmetic of plain SGD steps (forward, weight gradients, input gradients past layer 0), so
 * a graph that saves work (adapt.ts's first-layer shortcut) shows as effective GFLOP/s.
 *
 *   npx tsx bench/engine-adapt.ts [--batches 1,16,256] [--threads 1,2] [--repeats 3]
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import {
  type AdaptLayout,
  fashionSpec,
  initialiseTheta,
  type LabelledSet,
  MappingEngine,
  type MappingSpec,
  sinusoidSpec,
} from '../src/engine/index.js';
import { GraphBuilder } from '../src/engine/onnx/graph-builder.js';
import { encodeModel } from '../src/engine/onnx/proto.js';
import { layerWidths } from '../src/engine/spec.js';
import { Random } from '../src/util/random.js';

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '1,16,256' },
    threads: { type: 'string', default: '1,2' },
    layouts: { type: 'string', default: 'unrolled,loop' },
    repeats: { type: 'string', default: '3' },
  },
});
const batches = values.batches.split(',').map(Number);
const threadCounts = values.threads.split(',').map(Number);
const layouts = values.layouts.split(',') as AdaptLayout[];
const repeats = Number(values.repeats);
const steps = 10;

interface Workload {
  readonly name: string;
  readonly spec: MappingSpec;
  readonly rows: number;
  readonly makeSet: (random: Random) => LabelledSet;
}

const workloads: Workload[] = [
  {
    name: 'W1 1-40-40-1',
    spec: sinusoidSpec,
    rows: 10,
    makeSet: (random) => {
      const inputs = Float32Array.from({ length: 10 }, () => random.uniform(-5, 5));
      return { inputs, rows: 10, targets: inputs.map(Math.sin) };
    },
  },
  {
    name: 'W2 784-128-128-5',
    spec: fashionSpec(5),
    rows: 25,
    makeSet: (random) => ({
      inputs: Float32Array.from({ length: 25 * 784 }, () => random.next()),
      rows: 25,
      targets: Int32Array.from({ length: 25 }, (_, r) => r % 5),
    }),
  },
];

/** Multiply-adds of one adaptation step of one task, times 2: forward, dW, and dA past layer 0. */
function flopsPerStep(spec: MappingSpec, rows: number): number {
  const widths = layerWidths(spec);
  let flops = 0;
  for (let l = 0; l < widths.length - 1; l++) {
    const products = widths[l]! * widths[l + 1]!;
    flops += 2 * rows * products * (l === 0 ? 2 : 3);
  }
  return flops;
}

async function timeAdapt(workload: Workload, layout: AdaptLayout, threads: number, B: number) {
  const engine = MappingEngine.create({
    adaptLayout: layout,
    intraOpThreads: threads,
    maxTasksPerRun: B,
  });
  const random = new Random(7);
  const support = Array.from({ length: B }, () => workload.makeSet(random));
  const theta0 = support.map(() => initialiseTheta(workload.spec, random));
  const request = { theta0, support, steps, learningRate: 0.001 };

  await engine.adaptBatch(workload.spec, request);
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await engine.adaptBatch(workload.spec, request);
    times.push(performance.now() - start);
  }
  await engine.dispose();
  return { best: Math.min(...times), max: Math.max(...times) };
}

/** GFLOP/s of one [2048, 2048] x [2048, 2048] MatMul in ONNX Runtime. */
async function matMulReference(threads: number): Promise<number> {
  const n = 2048;
  const g = GraphBuilder.create('matmul');
  const a = g.input('a', 'float', [n, n]);
  const b = g.input('b', 'float', [n, n]);
  g.output(g.op('MatMul', [a, b]), 'c', 'float', [n, n]);
  const session = await ort.InferenceSession.create(
    encodeModel({ graph: g.build(), producerVersion: 'bench' }),
    { intraOpNumThreads: threads, interOpNumThreads: 1 },
  );
  const random = new Random(3);
  const feeds = {
    a: new ort.Tensor(
      'float32',
      Float32Array.from({ length: n * n }, () => random.next()),
      [n, n],
    ),
    b: new ort.Tensor(
      'float32',
      Float32Array.from({ length: n * n }, () => random.next()),
      [n, n],
    ),
  };
  await session.run(feeds);
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const start = performance.now();
    await session.run(feeds);
    best = Math.min(best, performance.now() - start);
  }
  await session.release();
  return (2 * n ** 3) / (best * 1e6);
}

const out: string[] = [
  '| workload | layout | intra threads | B | best ms / run | max ms | GFLOP/s | % of MatMul |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const threads of threadCounts) {
  const reference = await matMulReference(threads);
  out.push(`| MatMul 2048^2 | - | ${threads} | - | - | - | ${reference.toFixed(1)} | 100 |`);
  for (const workload of workloads) {
    for (const layout of layouts) {
      for (const B of batches) {
        const { best, max } = await timeAdapt(workload, layout, threads, B);
        const gflops = (flopsPerStep(workload.spec, workload.rows) * steps * B) / (best * 1e6);
        out.push(
          `| ${workload.name} | ${layout} | ${threads} | ${B} | ${best.toFixed(2)} | ` +
            `${max.toFixed(2)} | ${gflops.toFixed(1)} | ${((100 * gflops) / reference).toFixed(0)} |`,
        );
      }
    }
  }
}
process.stdout.write(`${out.join('\n')}\n`);
