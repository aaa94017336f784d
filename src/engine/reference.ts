/**
 * A plain TypeScript implementation of what the engine's graphs compute, one task at a time:
 * forward pass, loss, backpropagation, SGD and Adam steps. It is the engine's test oracle
 * (checked itself against finite differences) and the baseline of the engine benchmark.
 *
 * `precision` picks the storage of every intermediate array: `float64` (the default, for
 * tests) or `float32` (like the graphs, for a fair benchmark). Arithmetic is in doubles.
 */
import { parameterLayout } from './layout.js';
import { isClassifier, layerWidths, type MappingSpec } from './spec.js';
import type { AdaptRequest, LabelledSet, LearningRate, Optimizer, RowSet } from './types.js';

export type Precision = 'float64' | 'float32';
type Vector = Float64Array | Float32Array;

/** Allocates vectors of the chosen precision. */
function allocator(precision: Precision): (length: number) => Vector {
  return precision === 'float32' ? (n) => new Float32Array(n) : (n) => new Float64Array(n);
}

/** Where one layer's weight `[out, in]` and bias `[out]` start inside theta. */
interface Layer {
  readonly fanIn: number;
  readonly fanOut: number;
  readonly weight: number;
  readonly bias: number;
}

function layersOf(spec: MappingSpec): Layer[] {
  const tensors = parameterLayout(spec).tensors;
  const widths = layerWidths(spec);
  return widths.slice(1).map((fanOut, l) => ({
    fanIn: widths[l]!,
    fanOut,
    weight: tensors[2 * l]!.offset,
    bias: tensors[2 * l + 1]!.offset,
  }));
}

export interface ReferenceForward {
  /** `inputs[l]`: the input of layer `l` (`x`, then each hidden activation), `rows x width`. */
  readonly inputs: Vector[];
  /** The linear outputs of the last layer, `rows x outputDim`. */
  readonly outputs: Vector;
}

export function referenceForward(
  spec: MappingSpec,
  theta: ArrayLike<number>,
  set: RowSet,
  precision: Precision = 'float64',
): ReferenceForward {
  const alloc = allocator(precision);
  const layers = layersOf(spec);
  const inputs: Vector[] = [Float64Array.from(set.inputs)];

  for (const [l, layer] of layers.entries()) {
    const a = inputs[l]!;
    const h = alloc(set.rows * layer.fanOut);
    for (let r = 0; r < set.rows; r++) {
      for (let o = 0; o < layer.fanOut; o++) {
        let sum = theta[layer.bias + o]!;
        for (let i = 0; i < layer.fanIn; i++) {
          sum += a[r * layer.fanIn + i]! * theta[layer.weight + o * layer.fanIn + i]!;
        }
        h[r * layer.fanOut + o] = sum;
      }
    }
    if (l === layers.length - 1) return { inputs, outputs: h };
    inputs.push(h.map(spec.activation === 'relu' ? (v) => Math.max(v, 0) : Math.tanh));
  }
  throw new Error('a mapping has at least one layer');
}

/** The mean loss of a set and its gradient with respect to the outputs. */
export function referenceLoss(
  spec: MappingSpec,
  outputs: Vector,
  set: LabelledSet,
): { loss: number; dOutputs: Float64Array } {
  const O = spec.outputDim;
  const dOutputs = new Float64Array(set.rows * O);
  let loss = 0;

  for (let r = 0; r < set.rows; r++) {
    const z = outputs.subarray(r * O, (r + 1) * O);
    const dz = dOutputs.subarray(r * O, (r + 1) * O);
    loss += isClassifier(spec)
      ? crossEntropyRow(z, set.targets[r]!, dz)
      : squaredErrorRow(z, set.targets.subarray(r * O, (r + 1) * O), dz);
  }
  for (let i = 0; i < dOutputs.length; i++) dOutputs[i]! /= set.rows;
  return { loss: loss / set.rows, dOutputs };
}

/** `mean_o (z - t)^2` and its gradient `2 (z - t) / O`, written into `dz`. */
function squaredErrorRow(z: Vector, t: ArrayLike<number>, dz: Float64Array): number {
  let sum = 0;
  for (let o = 0; o < z.length; o++) {
    const error = z[o]! - t[o]!;
    sum += error * error;
    dz[o] = (2 * error) / z.length;
  }
  return sum / z.length;
}

/** `logsumexp(z) - z[label]` (max subtracted first) and `softmax(z) - onehot` into `dz`. */
function crossEntropyRow(z: Vector, label: number, dz: Float64Array): number {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  let total = 0;
  for (const v of z) total += Math.exp(v - max);
  const logTotal = Math.log(total);
  for (let o = 0; o < z.length; o++)
    dz[o] = Math.exp(z[o]! - max - logTotal) - (o === label ? 1 : 0);
  return logTotal + max - z[label]!;
}

export interface ReferenceGradient {
  readonly dTheta: Vector;
  readonly dInputs: Vector;
}

/** Backpropagation of `dOutputs` through the mapping at `theta`. */
export function referenceBackward(
  spec: MappingSpec,
  theta: ArrayLike<number>,
  forwardValues: ReferenceForward,
  dOutputs: ArrayLike<number>,
  rows: number,
  precision: Precision = 'float64',
): ReferenceGradient {
  const alloc = allocator(precision);
  const layers = layersOf(spec);
  const dTheta = alloc(parameterLayout(spec).size);
  let dH: ArrayLike<number> = dOutputs;

  for (let l = layers.length - 1; l >= 0; l--) {
    const layer = layers[l]!;
    const a = forwardValues.inputs[l]!;
    const dA = alloc(rows * layer.fanIn);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < layer.fanOut; o++) {
        const d = dH[r * layer.fanOut + o]!;
        dTheta[layer.bias + o]! += d;
        for (let i = 0; i < layer.fanIn; i++) {
          dTheta[layer.weight + o * layer.fanIn + i]! += a[r * layer.fanIn + i]! * d;
          dA[r * layer.fanIn + i]! += d * theta[layer.weight + o * layer.fanIn + i]!;
        }
      }
    }
    if (l === 0) return { dTheta, dInputs: dA };
    dH = activationBackward(spec, a, dA);
  }
  throw new Error('a mapping has at least one layer');
}

/** `dh` from `da`, using the activation's output `a` (ReLU: `a > 0`; tanh: `1 - a^2`). */
function activationBackward(spec: MappingSpec, a: Vector, dA: Vector): Vector {
  return dA.map((d, i) =>
    spec.activation === 'relu' ? (a[i]! > 0 ? d : 0) : d * (1 - a[i]! ** 2),
  );
}

/** The mean loss of a labelled set and its gradient with respect to theta and the inputs. */
export function referenceGradient(
  spec: MappingSpec,
  theta: ArrayLike<number>,
  set: LabelledSet,
  precision: Precision = 'float64',
): ReferenceGradient & { loss: number } {
  const forwardValues = referenceForward(spec, theta, set, precision);
  const { loss, dOutputs } = referenceLoss(spec, forwardValues.outputs, set);
  return { loss, ...referenceBackward(spec, theta, forwardValues, dOutputs, set.rows, precision) };
}

export interface ReferenceAdaptation {
  readonly theta: Vector;
  /** The loss before each step's update. */
  readonly lossTrace: Float64Array;
}

/** `steps` steps of SGD or Adam on one task's support set, as the adaptation graph does. */
export function referenceAdapt(
  spec: MappingSpec,
  theta0: ArrayLike<number>,
  support: LabelledSet,
  options: Pick<AdaptRequest, 'steps' | 'learningRate' | 'optimizer'>,
  precision: Precision = 'float64',
): ReferenceAdaptation {
  const theta = allocator(precision)(theta0.length);
  theta.set(theta0);
  const lossTrace = new Float64Array(options.steps);
  const update = updater(options.optimizer ?? { kind: 'sgd' }, theta.length);

  for (let k = 0; k < options.steps; k++) {
    const { loss, dTheta } = referenceGradient(spec, theta, support, precision);
    lossTrace[k] = loss;
    for (let p = 0; p < theta.length; p++) {
      theta[p]! -= update(p, dTheta[p]!, k) * rateAt(options.learningRate, k, p);
    }
  }
  return { theta, lossTrace };
}

/** The learning rate of parameter `p` at step `k`. */
function rateAt(rate: LearningRate, k: number, p: number): number {
  if (typeof rate === 'number') return rate;
  return 'perStep' in rate ? rate.perStep[k]! : rate.perParameter[p]!;
}

/** The update direction of parameter `p` at step `k`, before the learning rate. */
function updater(optimizer: Optimizer, P: number): (p: number, g: number, k: number) => number {
  if (optimizer.kind === 'sgd') return (_p, g) => g;

  const beta1 = optimizer.beta1 ?? 0.9;
  const beta2 = optimizer.beta2 ?? 0.999;
  const epsilon = optimizer.epsilon ?? 1e-8;
  const m = new Float64Array(P);
  const v = new Float64Array(P);
  return (p, g, k) => {
    m[p] = beta1 * m[p]! + (1 - beta1) * g;
    v[p] = beta2 * v[p]! + (1 - beta2) * g * g;
    const mHat = m[p]! / (1 - beta1 ** (k + 1));
    const vHat = v[p]! / (1 - beta2 ** (k + 1));
    return mHat / (Math.sqrt(vHat) + epsilon);
  };
}
