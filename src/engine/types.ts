/**
 * The data the engine reads and the results it returns. Every array is row-major and the
 * engine never mutates what it is given: results are always fresh arrays.
 */

/** A set of input rows: `inputs` holds `rows x inputDim` values. */
export interface RowSet {
  readonly inputs: Float32Array;
  readonly rows: number;
}

/**
 * A labelled set (a support set or a query set). `targets` is `rows x outputDim` real values
 * for a regression spec (`mse`), or `rows` class labels in `[0, outputDim)` for a classifier.
 */
export interface LabelledSet extends RowSet {
  readonly targets: Float32Array | Int32Array;
}

/**
 * The step size of an adaptation:
 * - a number: the same rate at every step for every parameter;
 * - `perStep`: `K` rates, one per step (a learned schedule);
 * - `perParameter`: `P` rates, one per parameter, the same at every step (Meta-SGD, Li et al.,
 *   2017), laid out like `theta`.
 */
export type LearningRate =
  | number
  | { readonly perStep: Float32Array }
  | { readonly perParameter: Float32Array };

/**
 * The update rule of an adaptation. Adam follows Kingma and Ba (2015) with bias correction:
 * `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
 * `theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + epsilon)`, moments starting at 0.
 */
export type Optimizer =
  | { readonly kind: 'sgd' }
  | {
      readonly kind: 'adam';
      /** Default 0.9. */
      readonly beta1?: number;
      /** Default 0.999. */
      readonly beta2?: number;
      /** Default 1e-8. */
      readonly epsilon?: number;
    };

export interface AdaptRequest {
  /** The initial mapping of each task, `B` vectors of length `P`. */
  readonly theta0: readonly Float32Array[];
  /** The support set of each task; sizes may differ between tasks. */
  readonly support: readonly LabelledSet[];
  /** `K`, the number of gradient steps, at least 1. */
  readonly steps: number;
  readonly learningRate: LearningRate;
  /** Default `{ kind: 'sgd' }`. */
  readonly optimizer?: Optimizer;
}

/**
 * `adapted`: every step's loss was finite and stayed within the divergence factor of the
 * first step's loss; `theta` is the mapping after `K` steps.
 * `diverged`: some step's loss was NaN or infinite, grew past the factor, or the final theta
 * was not finite; `theta` is then a copy of `theta0` (never a NaN mapping).
 */
export type AdaptStatus = 'adapted' | 'diverged';

export interface AdaptResult {
  readonly theta: Float32Array;
  /** `K` values: the support loss at step `k`, measured before the `k`-th update. */
  readonly lossTrace: Float32Array;
  readonly status: AdaptStatus;
}

export interface EvaluateResult {
  /** The mean loss over the task's query rows. */
  readonly loss: number;
  /** The fraction of query rows whose arg-max output is the label; classifiers only. */
  readonly accuracy?: number;
}

/**
 * What to differentiate. With `sets` of labelled rows, the gradient of each task's mean loss.
 * With `upstream`, the gradient of `sum(upstream * outputs)`: `upstream[b]` holds
 * `rows x outputDim` values, the gradient of some outer objective with respect to the outputs
 * (how the learner trains its encoder and generator MLPs through this engine).
 */
export type GradientRequest =
  | {
      readonly thetas: readonly Float32Array[];
      readonly sets: readonly LabelledSet[];
      /** Also compute `dInputs`; default false (the first layer then skips it). */
      readonly wantInputGradient?: boolean;
    }
  | {
      readonly thetas: readonly Float32Array[];
      readonly sets: readonly RowSet[];
      readonly upstream: readonly Float32Array[];
      readonly wantInputGradient?: boolean;
    };

export interface GradientResult {
  /** The task's mean loss; only for a request with labelled sets. */
  readonly loss?: number;
  /** Length `P`, laid out like `theta`. */
  readonly dTheta: Float32Array;
  /** `rows x inputDim`; only when `wantInputGradient` was set. */
  readonly dInputs?: Float32Array;
}

/** What an exported model says about itself, stored as ONNX metadata properties. */
export interface ExportInfo {
  readonly family: string;
  readonly metaVersion: number | string;
  readonly taskId: string;
}
