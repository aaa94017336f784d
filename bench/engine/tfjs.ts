/**
 * The same adaptation in TensorFlow.js, written as fast as TF.js allows: the B tasks of a
 * batch go through batched matrix products (`[B, N, in] x [B, out, in]^T`), gradients are
 * written out explicitly (no tape), every step runs inside `tf.tidy`, and nothing is read
 * back until the last step: the final theta and the loss trace come down once.
 *
 * Backend: `@tensorflow/tfjs-node` (libtensorflow) cannot install here, because its install
 * step downloads libtensorflow from outside the npm registry. The WebAssembly backend ships
 * its binaries inside its npm package and uses SIMD; its multi-threaded build needs web
 * workers, which TF.js does not offer under Node, so it runs on one thread. `cpu` (plain
 * JavaScript kernels) is the fallback.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { type LabelledSet, type MappingSpec, parameterLayout } from '../../src/engine/index.js';
import type { TaskBatch } from './workloads.js';

export interface TfjsBackend {
  readonly name: string;
  readonly simd: boolean;
  readonly threads: number;
}

/** Selects the fastest backend that loads, `wasm` first, and says what it runs with. */
export async function startTfjs(): Promise<TfjsBackend> {
  // The first-choice backend may fail to initialise; the next one is then tried.
  for (const name of ['wasm', 'cpu']) {
    if (await tf.setBackend(name)) break;
  }
  await tf.ready();
  const name = tf.getBackend();
  const isWasm = name === 'wasm';
  return {
    name,
    simd: isWasm && Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
    threads: isWasm ? getThreadsCount() : 1,
  };
}

/** A layer's parameters for the whole batch: `weight` `[B, out, in]`, `bias` `[B, 1, out]`. */
// A type alias, not an interface, so that tf.tidy accepts it as a tensor container.
type Layer = {
  readonly weight: tf.Tensor3D;
  readonly bias: tf.Tensor3D;
};

export interface TfjsAdaptation {
  /** `[B * P]`, the tasks' adapted thetas one after another, laid out like `theta`. */
  readonly thetas: Float32Array;
  /** `[B * K]`, each task's support loss before each update. */
  readonly lossTraces: Float32Array;
}

/**
 * `steps` SGD steps for every task of `batch` at once. Every task must have the same number
 * of support rows (the benchmark's tasks do), so no masking is needed.
 */
export async function adaptWithTfjs(
  spec: MappingSpec,
  batch: TaskBatch,
  steps: number,
  learningRate: number,
): Promise<TfjsAdaptation> {
  const { x, targets } = uploadSupport(spec, batch.support);
  let layers = uploadTheta(spec, batch.theta0);
  const losses: tf.Tensor1D[] = [];

  for (let k = 0; k < steps; k++) {
    const next = tf.tidy(() => step(spec, layers, x, targets, learningRate));
    disposeLayers(layers);
    layers = next.layers;
    losses.push(next.loss);
  }

  const [thetas, lossTraces] = tf.tidy(() => [
    tf.concat(
      layers.flatMap(({ weight, bias }) => [flatPerTask(weight), flatPerTask(bias)]),
      1,
    ),
    tf.stack(losses, 1),
  ]);
  const result = { thetas: await download(thetas!), lossTraces: await download(lossTraces!) };
  tf.dispose([x, targets, thetas!, lossTraces!, ...losses]);
  disposeLayers(layers);
  return result;
}

/** Inputs `[B, N, in]` and targets `[B, N, out]` (one-hot for a classifier). */
function uploadSupport(spec: MappingSpec, support: readonly LabelledSet[]) {
  const B = support.length;
  const N = support[0]!.rows;
  if (support.some((set) => set.rows !== N)) {
    throw new RangeError(`support sets: received differing row counts; allowed one count`);
  }

  const inputs = new Float32Array(B * N * spec.inputDim);
  const targets = new Float32Array(B * N * spec.outputDim);
  for (const [b, set] of support.entries()) {
    inputs.set(set.inputs, b * N * spec.inputDim);
    writeTargets(spec, set, targets.subarray(b * N * spec.outputDim));
  }
  return {
    x: tf.tensor3d(inputs, [B, N, spec.inputDim]),
    targets: tf.tensor3d(targets, [B, N, spec.outputDim]),
  };
}

function writeTargets(spec: MappingSpec, set: LabelledSet, into: Float32Array): void {
  if (spec.loss === 'mse') {
    into.set(set.targets);
    return;
  }
  for (let r = 0; r < set.rows; r++) into[r * spec.outputDim + set.targets[r]!] = 1;
}

/** Splits each task's theta into `[out, in]` weights and `[1, out]` biases, batched. */
function uploadTheta(spec: MappingSpec, theta0: readonly Float32Array[]): Layer[] {
  const B = theta0.length;
  const tensors = parameterLayout(spec).tensors;
  return Array.from({ length: tensors.length / 2 }, (_, l) => {
    const weight = tensors[2 * l]!;
    const bias = tensors[2 * l + 1]!;
    const [fanOut, fanIn] = weight.shape as [number, number];
    return {
      weight: tf.tensor3d(gather(theta0, weight.offset, weight.size), [B, fanOut, fanIn]),
      bias: tf.tensor3d(gather(theta0, bias.offset, bias.size), [B, 1, fanOut]),
    };
  });
}

/** The `size` values at `offset` of every theta, one after another. */
function gather(thetas: readonly Float32Array[], offset: number, size: number): Float32Array {
  const out = new Float32Array(thetas.length * size);
  for (const [b, theta] of thetas.entries()) {
    out.set(theta.subarray(offset, offset + size), b * size);
  }
  return out;
}

/** One SGD step for every task: forward, loss and its gradient, backward, update. */
function step(
  spec: MappingSpec,
  layers: readonly Layer[],
  x: tf.Tensor3D,
  targets: tf.Tensor3D,
  learningRate: number,
): { layers: Layer[]; loss: tf.Tensor1D } {
  // Forward on rows: h = a W^T + b; activations[l] is the input of layer l.
  const activations: tf.Tensor3D[] = [x];
  let outputs = x;
  for (const [l, { weight, bias }] of layers.entries()) {
    const h = tf.add(tf.matMul(activations[l]!, weight, false, true), bias) as tf.Tensor3D;
    if (l === layers.length - 1) outputs = h;
    else activations.push(tf.relu(h));
  }

  const { loss, dOutputs } = lossAndGradient(spec, outputs, targets);

  // Backward: dW = dh^T a, db = sum over rows of dh, da = dh W, through the ReLU mask.
  const next: Layer[] = [];
  let dH = dOutputs;
  for (let l = layers.length - 1; l >= 0; l--) {
    const { weight, bias } = layers[l]!;
    const a = activations[l]!;
    const dWeight = tf.matMul(dH, a, true, false);
    const dBias = tf.sum(dH, 1, true);
    next[l] = {
      weight: tf.sub(weight, tf.mul(dWeight, learningRate)),
      bias: tf.sub(bias, tf.mul(dBias, learningRate)),
    };
    if (l > 0) dH = tf.mul(tf.matMul(dH, weight), tf.step(a)) as tf.Tensor3D;
  }
  return { layers: next, loss };
}

/** Each task's mean loss `[B]` and its gradient with respect to the outputs `[B, N, out]`. */
function lossAndGradient(spec: MappingSpec, outputs: tf.Tensor3D, targets: tf.Tensor3D) {
  const [, N, O] = outputs.shape;
  if (spec.loss === 'mse') {
    const error = tf.sub(outputs, targets);
    return {
      loss: tf.div(tf.sum(tf.square(error), [1, 2]), N * O) as tf.Tensor1D,
      dOutputs: tf.mul(error, 2 / (N * O)) as tf.Tensor3D,
    };
  }
  const logProbabilities = tf.logSoftmax(outputs);
  return {
    loss: tf.div(tf.neg(tf.sum(tf.mul(logProbabilities, targets), [1, 2])), N) as tf.Tensor1D,
    dOutputs: tf.div(tf.sub(tf.exp(logProbabilities), targets), N) as tf.Tensor3D,
  };
}

/** `[B, ...]` to `[B, size]`. */
function flatPerTask(values: tf.Tensor3D): tf.Tensor2D {
  return tf.reshape(values, [values.shape[0], -1]);
}

async function download(values: tf.Tensor): Promise<Float32Array> {
  return (await values.data()) as Float32Array;
}

function disposeLayers(layers: readonly Layer[]): void {
  for (const { weight, bias } of layers) tf.dispose([weight, bias]);
}
