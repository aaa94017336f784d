/**
 * The two mapping shapes the engine benchmark adapts, the synthetic support sets it feeds
 * them, and the floating-point work of one adaptation step derived from the shapes alone.
 */
import {
  fashionSpec,
  initialiseTheta,
  type LabelledSet,
  layerWidths,
  type MappingSpec,
  parameterCount,
  sinusoidSpec,
} from '../../src/engine/index.js';
import { Random } from '../../src/util/random.js';

export interface Workload {
  /** `W1` or `W2`, as in the design's workload table. */
  readonly id: string;
  /** The layer widths, e.g. `1-40-40-1`. */
  readonly shape: string;
  readonly spec: MappingSpec;
  /** Support rows per task. */
  readonly rows: number;
  readonly learningRate: number;
}

export const workloads: readonly Workload[] = [
  { id: 'W1', shape: '1-40-40-1', spec: sinusoidSpec, rows: 10, learningRate: 0.001 },
  { id: 'W2', shape: '784-128-128-5', spec: fashionSpec(5), rows: 25, learningRate: 0.01 },
];

/** One batch of tasks: every task's initial mapping and support set. */
export interface TaskBatch {
  readonly theta0: readonly Float32Array[];
  readonly support: readonly LabelledSet[];
}

/**
 * `tasks` seeded tasks of the workload. W1 tasks are sinusoids `A sin(x + b)` as in the
 * design; W2 tasks are random pixels in [0, 1) with balanced labels: the arithmetic of an
 * adaptation step does not depend on what the pixels show, so no data set is read.
 */
export function makeBatch(workload: Workload, tasks: number, seed: number): TaskBatch {
  const random = new Random(seed);
  const support = Array.from({ length: tasks }, () =>
    workload.spec.loss === 'mse'
      ? sinusoidSet(random, workload.rows)
      : pixelSet(random, workload.rows, workload.spec),
  );
  const theta0 = support.map(() => initialiseTheta(workload.spec, random));
  return { theta0, support };
}

function sinusoidSet(random: Random, rows: number): LabelledSet {
  const amplitude = random.uniform(0.1, 5);
  const phase = random.uniform(0, Math.PI);
  const inputs = Float32Array.from({ length: rows }, () => random.uniform(-5, 5));
  const targets = inputs.map((x) => amplitude * Math.sin(x + phase));
  return { inputs, rows, targets };
}

function pixelSet(random: Random, rows: number, spec: MappingSpec): LabelledSet {
  const inputs = Float32Array.from({ length: rows * spec.inputDim }, () => random.next());
  const targets = Int32Array.from({ length: rows }, (_, r) => r % spec.outputDim);
  return { inputs, rows, targets };
}

/** The floating-point operations of one adaptation step of one task, by part. */
export interface StepFlops {
  /** `2 N in out` per layer: `h = W a`. */
  readonly forward: number;
  /** `2 N in out` per layer for `dW = dh a^T`, plus `2 N in out` for `da = W^T dh` past layer 0. */
  readonly backward: number;
  /** `2 P`: scale each gradient by the rate and subtract it. */
  readonly update: number;
  readonly total: number;
}

/**
 * Counted from the shapes, as a plain step does them: the matrix products (a multiply-add is
 * 2 operations) and the update. Bias adds, activations and the loss are left out; they are
 * linear in the activations' size: about 0.3% of a W2 step and 5% of a W1 step. The count is
 * the same for every implementation, so GFLOP/s compares them in one unit, even where one
 * takes an algebraic shortcut and executes fewer operations than counted.
 */
export function stepFlops(workload: Workload): StepFlops {
  const widths = layerWidths(workload.spec);
  const N = workload.rows;
  let forward = 0;
  let backward = 0;
  for (let l = 0; l < widths.length - 1; l++) {
    const products = 2 * N * widths[l]! * widths[l + 1]!;
    forward += products;
    backward += l === 0 ? products : 2 * products;
  }
  const update = 2 * parameterCount(workload.spec);
  return { forward, backward, update, total: forward + backward + update };
}
