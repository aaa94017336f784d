/**
 * The physical reference: the GFLOP/s ONNX Runtime reaches on one large square MatMul,
 * about the best its CPU kernels (MLAS) get out of this machine at a given thread count.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/engine/onnx/graph-builder.js';
import { encodeModel } from '../../src/engine/onnx/proto.js';
import { Random } from '../../src/util/random.js';
import { type Timing, type TimingPlan, timeCalls } from './timing.js';

export interface MatMulReference {
  readonly size: number;
  readonly threads: number;
  /** Taken before or after the benchmark's cells. */
  readonly when: 'start' | 'end';
  readonly gflops: number;
  readonly timing: Timing;
}

/** Times `[size, size] x [size, size]` in float32 with `threads` intra-op threads. */
export async function measureMatMul(
  size: number,
  threads: number,
  plan: TimingPlan,
  when: MatMulReference['when'],
): Promise<MatMulReference> {
  const g = GraphBuilder.create('matmul_reference');
  const a = g.input('a', 'float', [size, size]);
  const b = g.input('b', 'float', [size, size]);
  g.output(g.op('MatMul', [a, b]), 'c', 'float', [size, size]);
  const session = await ort.InferenceSession.create(
    encodeModel({ graph: g.build(), producerVersion: 'bench' }),
    { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' },
  );

  const random = new Random(3);
  const matrix = () =>
    new ort.Tensor(
      'float32',
      Float32Array.from({ length: size * size }, () => random.next()),
      [size, size],
    );
  const feeds = { a: matrix(), b: matrix() };
  const timing = await timeCalls(plan, () => session.run(feeds));
  await session.release();
  return { size, threads, when, gflops: (2 * size ** 3) / (timing.medianMs * 1e6), timing };
}

/** The mean of the references taken at `threads` threads (at the start and at the end). */
export function matMulGflops(references: readonly MatMulReference[], threads: number): number {
  const taken = references.filter((r) => r.threads === threads);
  return taken.reduce((sum, r) => sum + r.gflops, 0) / taken.length;
}
