/**
 * The masked loss of a batch of tasks and its gradient with respect to the outputs. Each task
 * has `N` rows of which the mask marks its own; the loss of a task is the mean over its own
 * rows, so padding a task with masked rows, or batching it with others, leaves it unchanged.
 * Outputs are columns, `[B, out, N]`, as in the batched passes of mlp.ts.
 */

import type { GraphBuilder } from '../onnx/graph-builder.js';
import { elementTypeCode } from '../onnx/proto.js';
import { isClassifier, type MappingSpec } from '../spec.js';

/**
 * What the loss needs besides the outputs, computed once per graph (outside any Loop):
 * `rowWeight` `[B, 1, N]` is `mask / rows` (and `/ outputDim` for MSE), so a weighted sum over
 * rows is each task's masked mean; a classifier's one-hot targets come pre-multiplied by it.
 */
export interface LossTerms {
  /** `[B, out, N]`. */
  readonly targets: string;
  readonly rowWeight: string;
  /** MSE: twice `rowWeight`, the factor of `d(y - t)^2 / dy`. */
  readonly gradientWeight?: string;
  /** Cross-entropy: `targets * rowWeight`. */
  readonly weightedTargets?: string;
  /** `[B]`: each task's own row count, at least 1 (a padding task has none). */
  readonly rowCount: string;
}

/** Precomputes the loss terms from `targetRows` `[B, N, out]` and `mask` `[B, N]`. */
export function lossTerms(
  g: GraphBuilder,
  spec: MappingSpec,
  targetRows: string,
  mask: string,
): LossTerms {
  const targets = g.transpose(targetRows, [0, 2, 1], 'targets_columns');
  const rowCount = g.op('Max', [g.reduceSum(mask, [1], false), g.float(1)], {}, 'row_count');
  const perRow = isClassifier(spec) ? 1 : spec.outputDim;
  const denominator = g.op('Mul', [rowCount, g.float(perRow)]);
  const rowWeight = g.op(
    'Div',
    [g.op('Unsqueeze', [mask, g.int64([1])]), g.op('Unsqueeze', [denominator, g.int64([1, 2])])],
    {},
    'row_weight',
  );

  if (isClassifier(spec)) {
    const weightedTargets = g.op('Mul', [targets, rowWeight], {}, 'weighted_targets');
    return { targets, rowWeight, weightedTargets, rowCount };
  }
  const gradientWeight = g.op('Mul', [rowWeight, g.float(2)], {}, 'gradient_weight');
  return { targets, rowWeight, gradientWeight, rowCount };
}

export interface LossValues {
  /** `[B]`, each task's mean loss. */
  readonly loss: string;
  /** `[B, out, N]`, the gradient of each task's loss with respect to its outputs. */
  readonly dOutputs: string;
}

/** The loss of each task and its gradient with respect to the outputs. */
export function lossAndGradient(
  g: GraphBuilder,
  spec: MappingSpec,
  terms: LossTerms,
  outputs: string,
): LossValues {
  if (isClassifier(spec)) return crossEntropy(g, terms, outputs);
  return meanSquaredError(g, terms, outputs);
}

/** The loss alone (evaluation): the gradient nodes are left out. */
export function lossOnly(g: GraphBuilder, spec: MappingSpec, terms: LossTerms, outputs: string) {
  if (isClassifier(spec))
    return crossEntropyLoss(g, terms, g.op('LogSoftmax', [outputs], { axis: 1 }));
  return squaredErrorLoss(g, terms, g.op('Sub', [outputs, terms.targets], {}, 'error'));
}

function meanSquaredError(g: GraphBuilder, terms: LossTerms, outputs: string): LossValues {
  const error = g.op('Sub', [outputs, terms.targets], {}, 'error');
  return {
    loss: squaredErrorLoss(g, terms, error),
    dOutputs: g.op('Mul', [error, terms.gradientWeight!], {}, 'doutputs'),
  };
}

function squaredErrorLoss(g: GraphBuilder, terms: LossTerms, error: string): string {
  const weighted = g.op('Mul', [g.op('Mul', [error, error]), terms.rowWeight]);
  return g.reduceSum(weighted, [1, 2], false, 'loss');
}

/**
 * Softmax cross-entropy through LogSoftmax, which subtracts the row maximum before
 * exponentiating (stable for any logits). Its gradient is `softmax(z) - onehot`, per row
 * weighted like the loss; `softmax(z)` is recovered as `exp(logSoftmax(z))`.
 */
function crossEntropy(g: GraphBuilder, terms: LossTerms, logits: string): LossValues {
  const logProbabilities = g.op('LogSoftmax', [logits], { axis: 1 }, 'log_probabilities');
  const probabilities = g.op('Exp', [logProbabilities], {}, 'probabilities');
  const weighted = g.op('Mul', [probabilities, terms.rowWeight]);
  return {
    loss: crossEntropyLoss(g, terms, logProbabilities),
    dOutputs: g.op('Sub', [weighted, terms.weightedTargets!], {}, 'doutputs'),
  };
}

function crossEntropyLoss(g: GraphBuilder, terms: LossTerms, logProbabilities: string): string {
  const picked = g.op('Mul', [logProbabilities, terms.weightedTargets!]);
  return g.op('Neg', [g.reduceSum(picked, [1, 2], false)], {}, 'loss');
}

/**
 * `[B]`: the fraction of each task's own rows whose first arg-max output is the label (the
 * arg-max of the one-hot targets). Classifiers only.
 */
export function accuracy(g: GraphBuilder, terms: LossTerms, logits: string, mask: string) {
  const predicted = g.op('ArgMax', [logits], { axis: 1, keepdims: 0 }, 'predicted');
  const labels = g.op('ArgMax', [terms.targets], { axis: 1, keepdims: 0 }, 'labels');
  const isCorrect = g.op('Cast', [g.op('Equal', [predicted, labels])], {
    to: elementTypeCode.float,
  });
  const correct = g.reduceSum(g.op('Mul', [isCorrect, mask]), [1], false);
  return g.op('Div', [correct, terms.rowCount], {}, 'accuracy');
}
