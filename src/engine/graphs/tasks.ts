/**
 * The graphs other than adaptation: prediction with one mapping, evaluation and gradients of a
 * batch of tasks. Input and output names are the contract with engine.ts.
 */

import { parameterCount } from '../layout.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import type { GraphProto } from '../onnx/proto.js';
import { isClassifier, type MappingSpec } from '../spec.js';
import { accuracy, lossAndGradient, lossOnly, lossTerms } from './loss.js';
import {
  backwardBatch,
  concatTheta,
  forwardBatch,
  forwardRows,
  splitTheta,
  swapLastAxes,
} from './mlp.js';

/** Inputs `theta` `[P]` and `x` `[N, in]`; output `y` `[N, out]` (logits for a classifier). */
export function buildPredictGraph(spec: MappingSpec): GraphProto {
  const g = GraphBuilder.create('predict');
  const theta = g.input('theta', 'float', [parameterCount(spec)]);
  const x = g.input('x', 'float', ['N', spec.inputDim]);

  const outputs = forwardRows(g, spec, x, splitTheta(g, spec, theta, false));
  g.output(outputs, 'y', 'float', ['N', spec.outputDim]);
  return g.build();
}

/**
 * Inputs `theta` `[B, P]`, `x` `[B, N, in]`, `targets` `[B, N, out]` (one-hot for a classifier)
 * and `mask` `[B, N]`; outputs `loss` `[B]` and, for a classifier, `accuracy` `[B]`.
 */
export function buildEvaluateGraph(spec: MappingSpec): GraphProto {
  const g = GraphBuilder.create('evaluate');
  const { theta, x } = declareBatch(g, spec);
  const targets = g.input('targets', 'float', ['B', 'N', spec.outputDim]);
  const mask = g.input('mask', 'float', ['B', 'N']);

  const terms = lossTerms(g, spec, targets, mask);
  const layers = splitTheta(g, spec, theta, true);
  const { outputs } = forwardBatch(g, spec, swapLastAxes(g, x), layers);
  g.output(lossOnly(g, spec, terms, outputs), 'loss', 'float', ['B']);
  if (isClassifier(spec)) {
    g.output(accuracy(g, terms, outputs, mask), 'accuracy', 'float', ['B']);
  }
  return g.build();
}

export interface GradientGraphOptions {
  readonly seed: 'loss' | 'upstream';
  readonly wantInputGradient: boolean;
}

/**
 * `seed: 'loss'`: inputs `targets` and `mask` as for evaluation; outputs `loss` `[B]` and the
 * gradient of each task's mean loss.
 * `seed: 'upstream'`: input `upstream` `[B, N, out]`; the gradient of `sum(upstream * y)`.
 * Outputs `dtheta` `[B, P]`, and `dx` `[B, N, in]` when `wantInputGradient`.
 */
export function buildGradientGraph(spec: MappingSpec, options: GradientGraphOptions): GraphProto {
  const g = GraphBuilder.create(`gradient_${options.seed}`);
  const { theta, x } = declareBatch(g, spec);
  const layers = splitTheta(g, spec, theta, true);
  const forwardValues = forwardBatch(g, spec, swapLastAxes(g, x), layers);

  const dOutputs = seedGradient(g, spec, options.seed, forwardValues.outputs);
  const { gradients, dInputs } = backwardBatch(g, spec, forwardValues, layers, dOutputs, {
    xRows: x,
    wantInputGradient: options.wantInputGradient,
  });

  g.output(concatTheta(g, gradients, 'dtheta_concat'), 'dtheta', 'float', [
    'B',
    parameterCount(spec),
  ]);
  if (dInputs) g.output(dInputs, 'dx', 'float', ['B', 'N', spec.inputDim]);
  return g.build();
}

/** The gradient with respect to the outputs that backpropagation starts from. */
function seedGradient(g: GraphBuilder, spec: MappingSpec, seed: 'loss' | 'upstream', y: string) {
  if (seed === 'upstream') {
    return swapLastAxes(g, g.input('upstream', 'float', ['B', 'N', spec.outputDim]));
  }

  const targets = g.input('targets', 'float', ['B', 'N', spec.outputDim]);
  const mask = g.input('mask', 'float', ['B', 'N']);
  const { loss, dOutputs } = lossAndGradient(g, spec, lossTerms(g, spec, targets, mask), y);
  g.output(loss, 'loss', 'float', ['B']);
  return dOutputs;
}

function declareBatch(g: GraphBuilder, spec: MappingSpec) {
  return {
    theta: g.input('theta', 'float', ['B', parameterCount(spec)]),
    x: g.input('x', 'float', ['B', 'N', spec.inputDim]),
  };
}
