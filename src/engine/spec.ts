/**
 * What a mapping is: an MLP of one fixed architecture per task family. Every graph the
 * engine builds, every parameter layout and every validation follows from a spec.
 */

/** The nonlinearity after every hidden layer; the output layer is always linear. */
export type Activation = 'relu' | 'tanh';

/**
 * The support and query loss of a task, a masked mean over that task's own rows:
 * - `mse`: the mean over rows of the mean over output units of `(y - t)^2`;
 * - `softmax-cross-entropy`: the mean over rows of `logsumexp(z) - z[label]`, computed with a
 *   numerically stable log-softmax; `outputDim` is the class count and targets are labels.
 */
export type Loss = 'mse' | 'softmax-cross-entropy';

export interface MappingSpec {
  readonly inputDim: number;
  /** Widths of the hidden layers, input side first; may be empty (a linear mapping). */
  readonly hidden: readonly number[];
  readonly outputDim: number;
  readonly activation: Activation;
  readonly loss: Loss;
}

/** W1: `y = A sin(x + b)`, the MLP 1-40-40-1 with ReLU and MSE of the MAML paper. */
export const sinusoidSpec: MappingSpec = Object.freeze({
  inputDim: 1,
  hidden: Object.freeze([40, 40]),
  outputDim: 1,
  activation: 'relu',
  loss: 'mse',
});

/**
 * W2 and W3: N-way Fashion-MNIST classification, 784-h-h-N with ReLU and cross-entropy.
 * `hidden` defaults to 128: two 128-wide layers keep the W2 adaptation step dominated by
 * the 784 x 128 first layer (about 100k of 118k parameters at N = 5), large enough to fit
 * 5-way tasks and small enough that 256 tasks adapt in one run on a 2-core CPU.
 */
export function fashionSpec(ways: number, hidden = 128): MappingSpec {
  return Object.freeze({
    inputDim: 784,
    hidden: Object.freeze([hidden, hidden]),
    outputDim: ways,
    activation: 'relu',
    loss: 'softmax-cross-entropy',
  });
}

/** The widths of every layer boundary: `[inputDim, ...hidden, outputDim]`. */
export function layerWidths(spec: MappingSpec): number[] {
  return [spec.inputDim, ...spec.hidden, spec.outputDim];
}

/** True when targets are class labels (an `Int32Array`) rather than real vectors. */
export function isClassifier(spec: MappingSpec): boolean {
  return spec.loss === 'softmax-cross-entropy';
}

/** A stable text key of a spec, used to cache the ONNX sessions built for it. */
export function specKey(spec: MappingSpec): string {
  return `${layerWidths(spec).join('-')}:${spec.activation}:${spec.loss}`;
}
