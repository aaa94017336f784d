/**
 * The adaptation graph: `K` steps of SGD or Adam on the support loss of `B` tasks, every step
 * inside one ONNX Runtime `run`.
 *
 * Two layouts of the steps compute the same thing:
 * - `unrolled`: `K` copies of the step, one after another; `K` is fixed when the graph is built;
 * - `loop`: one ONNX Loop whose body is one step; `K` is an input.
 *
 * `loop` is the default. Measured with bench/engine-adapt.ts (K = 10, 1 intra-op thread, best
 * of 5 whole `adaptBatch` calls, ms, on this project's shared 2-core machine, whose figures
 * vary by up to 2x between runs):
 *
 *   shape                           B = 1    B = 16   B = 256
 *   W1 1-40-40-1, 10 rows  unrolled  0.76     2.05     34.9
 *                          loop      0.57     1.69     21.6
 *   W2 784-128-128-5, 25   unrolled  1.84    27.7     709
 *                          loop      2.42    28.4     643
 *
 * The loop is as fast or faster everywhere but W2 at B = 1, within that noise, and a loop
 * takes `K` as an input, so one session serves every K where the unrolled graph needs one
 * session per K. `unrolled` stays selectable (`EngineOptions.adaptLayout`); both are tested
 * to agree.
 *
 * The parameters enter, travel through the steps and leave as separate per-layer tensors
 * (`[B, out, in]` weights, `[B, out, 1]` biases), one graph input and output each: no step
 * slices a flat vector, and the run copies no `[B, P]` block in or out (the engine packs each
 * tensor of every task directly).
 *
 * SGD with one rate per step (MAML's inner loop) takes a shortcut on the first layer. Its
 * input, the support set `x`, is the same at every step, so each update
 * `W <- W - lr dh x` moves `W` only along the rows of `x`: after `k` steps `W_k = W_0 - S_k x`
 * with `S_k = sum of lr dh`, an `[out, N]` matrix. The bias moves the same way,
 * `b_k = b_0 - S_k 1` (its gradient is the row sum of `dh`). The steps carry only `S` and get
 * the first layer's pre-activation as `(W_0 x^T + b_0) - S (x x^T + 1)`, where both brackets
 * are computed once; `W_K` and `b_K` are formed once after the last step. For W2 (784 inputs,
 * 25 support rows) this turns the per-step work of the largest layer from weight-sized
 * (`[128, 784]`) into support-sized (`[128, 25]`), with no bias to add, sum or update. It
 * pays only when the support set has fewer rows than the layer has inputs (`N < in`), so the
 * engine asks for it only then (`firstLayerSpan`). Adam and per-parameter rates rescale each
 * weight separately, which leaves that span, so they update `W` itself.
 *
 * Without the shortcut the first layer carries its weight and bias as one `[out, in + 1]`
 * tensor, and the support inputs get a last column of ones, so `[W | b] [x | 1]^T` is the
 * pre-activation: the bias add, the bias gradient's sum and the bias update leave the steps
 * (about a tenth of a W1 step). The two are joined once before the steps and split once
 * after.
 */

import { parameterCount } from '../layout.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import type { GraphProto } from '../onnx/proto.js';
import { layerWidths, type MappingSpec } from '../spec.js';
import { type LossTerms, lossAndGradient, lossTerms } from './loss.js';
import { backwardBatch, forwardBatch, type LayerValues, splitTheta, swapLastAxes } from './mlp.js';

export type AdaptLayout = 'loop' | 'unrolled';
export type OptimizerKind = 'sgd' | 'adam';
/** `perStep`: input `learning_rate` is `[K]`; `perParameter`: it is `[P]`, laid out like theta. */
export type RateKind = 'perStep' | 'perParameter';

export interface AdaptGraphOptions {
  readonly layout: AdaptLayout;
  /** `K`; fixed in an unrolled graph, an input (`steps`) of a loop graph. */
  readonly steps: number;
  readonly optimizer: OptimizerKind;
  readonly rate: RateKind;
  /**
   * Whether SGD with per-step rates takes the first-layer shortcut (see the top of this file);
   * other optimizers and rates never do. Default true. It saves work only when the support set
   * has fewer rows than the layer has inputs, so the engine asks for it only then.
   */
  readonly firstLayerSpan?: boolean;
}

/**
 * Inputs: `theta0.layer<l>.weight` `[B, out, in]` and `theta0.layer<l>.bias` `[B, out, 1]` for
 * every layer, `x` `[B, N, in]`, `targets` `[B, N, out]` (one-hot for a classifier), `mask`
 * `[B, N]` (1 for a task's own rows, 0 for padding), `learning_rate`; for Adam also `beta1`,
 * `beta2`, `epsilon` (scalars) and `correction1`, `correction2` (`[K]`, `1 / (1 - beta^t)` for
 * `t = 1..K`, computed by the caller in float64); for a loop, `steps`.
 * Outputs: `theta.layer<l>.weight` and `theta.layer<l>.bias` after `K` steps, shaped like the
 * inputs, `loss_trace` `[B, K]`, the support loss before each step's update, and `theta_sum`
 * `[B]`, the sum of each task's adapted parameters, non-finite whenever one of them is (see
 * `parameterSum`).
 */
export function buildAdaptGraph(spec: MappingSpec, options: AdaptGraphOptions): GraphProto {
  const g = GraphBuilder.create(`adapt_${options.layout}_${options.optimizer}`);
  const initialParams = declareLayers(g, spec, 'theta0');
  const context = declareInputs(g, spec, options, initialParams[0]!);
  const initial = initialState(g, context, initialParams);

  const { state, lossTrace } =
    options.layout === 'loop'
      ? runLoop(g, spec, context, initial)
      : runUnrolled(g, spec, context, initial, options.steps);

  const params = context.span
    ? withFirstLayer(g, context, state.params)
    : unfoldFirstBias(g, spec, state.params);
  const outputs = outputLayers(g, spec, params, 'theta');
  g.output(lossTrace, 'loss_trace', 'float', [
    'B',
    options.layout === 'loop' ? 'K' : options.steps,
  ]);
  // Summed from the outputs themselves, named in place: a second reader of a value behind an
  // Identity would make ONNX Runtime copy the whole value into its output.
  g.output(parameterSum(g, outputs), 'theta_sum', 'float', ['B']);
  return g.build();
}

/**
 * `[B]`: the sum of every adapted parameter of each task. NaN and infinities propagate through
 * ONNX Runtime's ReduceSum (unlike ReduceMax, which drops NaN), so a finite sum proves every
 * parameter of the task finite without the engine reading them; a non-finite sum means a
 * non-finite parameter or, rarely, finite ones whose sum overflows, which the engine tells
 * apart by reading that task's parameters.
 */
function parameterSum(g: GraphBuilder, params: readonly LayerValues[]): string {
  const sums = params.flatMap(({ weight, bias }) => [
    g.reduceSum(weight, [1, 2], false),
    g.reduceSum(bias, [1, 2], false),
  ]);
  return sums.length === 1 ? sums[0]! : g.op('Sum', sums, {}, 'parameter_sum');
}

/** One graph input per parameter tensor, `<prefix>.layer<l>.weight` and `.bias`. */
function declareLayers(g: GraphBuilder, spec: MappingSpec, prefix: string): LayerValues[] {
  return layerShapes(spec).map(({ weight, bias }, l) => ({
    weight: g.input(`${prefix}.layer${l}.weight`, 'float', weight),
    bias: g.input(`${prefix}.layer${l}.bias`, 'float', bias),
  }));
}

function outputLayers(
  g: GraphBuilder,
  spec: MappingSpec,
  layers: readonly LayerValues[],
  prefix: string,
): LayerValues[] {
  return layerShapes(spec).map(({ weight, bias }, l) => {
    const names = { weight: `${prefix}.layer${l}.weight`, bias: `${prefix}.layer${l}.bias` };
    g.outputInPlace(layers[l]!.weight, names.weight, 'float', weight);
    g.outputInPlace(layers[l]!.bias, names.bias, 'float', bias);
    return names;
  });
}

/** The batched shapes of each layer's tensors: `[B, out, in]` and `[B, out, 1]`. */
function layerShapes(spec: MappingSpec) {
  const widths = layerWidths(spec);
  return widths.slice(1).map((out, l) => ({ weight: ['B', out, widths[l]!], bias: ['B', out, 1] }));
}

/** Values every step reads: the support set, the loss terms and the optimizer settings. */
interface StepContext {
  /**
   * The support inputs as rows `[B, N, in]`, read by the first layer's `dW = dh x`; without
   * the shortcut they have a last column of ones, `[B, N, in + 1]` (see the top of this file).
   */
  readonly x: string;
  /** The same as columns, transposed once for every step's forward pass. */
  readonly xColumns: string;
  readonly terms: LossTerms;
  readonly optimizer: OptimizerKind;
  readonly rate: RateKind;
  /** `[K]` per-step rates, or `[P]` per-parameter rates. */
  readonly learningRate: string;
  /** Per-parameter rates split like the parameters (`[1, out, in]`, `[1, out, 1]`). */
  readonly rateTensors?: readonly LayerValues[];
  readonly adam?: AdamValues;
  /** A loop's trip count; absent when unrolled. */
  readonly steps?: string;
  /** SGD with per-step rates: the first layer's update stays in the span of `x`. */
  readonly span?: FirstLayerSpan;
}

/** What the first-layer shortcut (see the top of this file) computes once, before the steps. */
interface FirstLayerSpan {
  /** `W_0`, `[B, out, in]`, and `b_0`, `[B, out, 1]`. */
  readonly weight0: string;
  readonly bias0: string;
  /** `W_0 x^T + b_0`, `[B, out, N]`: the pre-activation before any step. */
  readonly base: string;
  /** `x x^T + 1`, `[B, N, N]`: how `S` moves the pre-activation, bias included. */
  readonly gram: string;
}

interface AdamValues {
  readonly beta1: string;
  readonly beta2: string;
  readonly oneMinusBeta1: string;
  readonly oneMinusBeta2: string;
  readonly epsilon: string;
  readonly correction1: string;
  readonly correction2: string;
}

/** The values carried from one step to the next. */
interface OptimizerState {
  readonly params: readonly LayerValues[];
  /** Adam's moment estimates, shaped like `params`. */
  readonly firstMoments?: readonly LayerValues[];
  readonly secondMoments?: readonly LayerValues[];
}

function declareInputs(
  g: GraphBuilder,
  spec: MappingSpec,
  options: AdaptGraphOptions,
  first: LayerValues,
): StepContext {
  const P = parameterCount(spec);
  const inputs = g.input('x', 'float', ['B', 'N', spec.inputDim]);
  const targets = g.input('targets', 'float', ['B', 'N', spec.outputDim]);
  const mask = g.input('mask', 'float', ['B', 'N']);
  const K = options.layout === 'loop' ? 'K' : options.steps;
  const learningRate = g.input('learning_rate', 'float', [options.rate === 'perStep' ? K : P]);
  const isSpan =
    options.optimizer === 'sgd' && options.rate === 'perStep' && (options.firstLayerSpan ?? true);
  const x = isSpan ? inputs : withOnes(g, inputs);
  const xColumns = swapLastAxes(g, x);

  return {
    x,
    xColumns,
    terms: lossTerms(g, spec, targets, mask),
    optimizer: options.optimizer,
    rate: options.rate,
    learningRate,
    ...(options.rate === 'perParameter' && {
      rateTensors: foldFirstBias(g, splitRates(g, spec, learningRate)),
    }),
    ...(options.optimizer === 'adam' && { adam: declareAdam(g, K) }),
    ...(options.layout === 'loop' && { steps: g.input('steps', 'int64', []) }),
    ...(isSpan && { span: declareSpan(g, first, x, xColumns) }),
  };
}

function declareSpan(g: GraphBuilder, first: LayerValues, x: string, xColumns: string) {
  const product = g.op('MatMul', [first.weight, xColumns]);
  return {
    weight0: first.weight,
    bias0: first.bias,
    base: g.op('Add', [product, first.bias], {}, 'span_base'),
    gram: g.op('Add', [g.op('MatMul', [x, xColumns]), g.float(1)], {}, 'span_gram'),
  };
}

function declareAdam(g: GraphBuilder, K: number | string): AdamValues {
  const beta1 = g.input('beta1', 'float', []);
  const beta2 = g.input('beta2', 'float', []);
  return {
    beta1,
    beta2,
    oneMinusBeta1: g.op('Sub', [g.float(1), beta1], {}, 'one_minus_beta1'),
    oneMinusBeta2: g.op('Sub', [g.float(1), beta2], {}, 'one_minus_beta2'),
    epsilon: g.input('epsilon', 'float', []),
    correction1: g.input('correction1', 'float', [K]),
    correction2: g.input('correction2', 'float', [K]),
  };
}

/** `x` `[B, N, in]` with a last column of ones, `[B, N, in + 1]`. */
function withOnes(g: GraphBuilder, x: string): string {
  const rows = g.op('Shape', [x], { start: 0, end: 2 });
  const onesShape = g.op('Concat', [rows, g.int64([1])], { axis: 0 });
  const ones = g.op('Expand', [g.float(1), onesShape], {}, 'ones_column');
  return g.op('Concat', [x, ones], { axis: 2 }, 'x_with_ones');
}

/** The first layer's weight and bias as one `[B, out, in + 1]` tensor (bias '' after). */
function foldFirstBias(g: GraphBuilder, layers: readonly LayerValues[]): LayerValues[] {
  const { weight, bias } = layers[0]!;
  const folded = g.op('Concat', [weight, bias], { axis: 2 }, 'layer0.weight_bias');
  return [{ weight: folded, bias: '' }, ...layers.slice(1)];
}

/** The inverse of `foldFirstBias`, once after the steps. */
function unfoldFirstBias(g: GraphBuilder, spec: MappingSpec, layers: readonly LayerValues[]) {
  const sizes = g.int64([spec.inputDim, 1]);
  const [weight, bias] = g.opMulti(
    'Split',
    [layers[0]!.weight, sizes],
    ['layer0.weight.adapted', 'layer0.bias.adapted'],
    { axis: 2 },
  );
  return [{ weight: weight!, bias: bias! }, ...layers.slice(1)];
}

/** Per-parameter rates as `[1, out, in]` and `[1, out, 1]`, to broadcast over the tasks. */
function splitRates(g: GraphBuilder, spec: MappingSpec, learningRate: string): LayerValues[] {
  const batchOfOne = g.op('Unsqueeze', [learningRate, g.int64([0])], {}, 'learning_rate_row');
  return splitTheta(g, spec, batchOfOne, true);
}

/** The state before the first step; Adam's moments and the span coefficients start at 0. */
function initialState(
  g: GraphBuilder,
  context: StepContext,
  params: readonly LayerValues[],
): OptimizerState {
  const zerosLike = (value: string, hint: string) =>
    g.op('ConstantOfShape', [g.op('Shape', [value])], {}, hint);

  if (context.span) {
    // The first layer's slot carries S alone (its bias follows from S, see the top).
    const coefficients = zerosLike(context.span.base, 'span_coefficients');
    return { params: [{ weight: coefficients, bias: '' }, ...params.slice(1)] };
  }
  const folded = foldFirstBias(g, params);
  if (context.optimizer === 'sgd') return { params: folded };

  const zeros = (name: string) =>
    mapLayers(folded, (value, l, role) => zerosLike(value, `layer${l}.${role}.${name}`));
  return { params: folded, firstMoments: zeros('m'), secondMoments: zeros('v') };
}

/** `W_K = W_0 - S_K x` and `b_K = b_0 - S_K 1`: the first layer from its span coefficients. */
function withFirstLayer(g: GraphBuilder, context: StepContext, params: readonly LayerValues[]) {
  const { weight0, bias0 } = context.span!;
  const coefficients = params[0]!.weight;
  const moved = g.op('MatMul', [coefficients, context.x]);
  const weight = g.op('Sub', [weight0, moved], {}, 'layer0.weight.adapted');
  const biasMoved = g.reduceSum(coefficients, [2], true);
  const bias = g.op('Sub', [bias0, biasMoved], {}, 'layer0.bias.adapted');
  return [{ weight, bias }, ...params.slice(1)];
}

// ---- one step ---------------------------------------------------------------------------

/**
 * One step for every task: forward pass, loss and its gradient, backward pass, update.
 * `step` is the int64 scalar index of the step (`0..K-1`), used to pick per-step rates.
 */
function buildStep(
  g: GraphBuilder,
  spec: MappingSpec,
  context: StepContext,
  state: OptimizerState,
  step: string,
): { state: OptimizerState; loss: string } {
  const { span } = context;
  const first = state.params[0]!;
  // With the shortcut, the first weight slot holds the span coefficients S.
  const firstPreActivation = span && spanPreActivation(g, span, first);
  const forwardValues = forwardBatch(g, spec, context.xColumns, state.params, firstPreActivation);
  const { loss, dOutputs } = lossAndGradient(g, spec, context.terms, forwardValues.outputs);

  // SGD with one rate per step folds the rate into the backward pass (see gradientScale).
  const isScaled = context.optimizer === 'sgd' && context.rate === 'perStep';
  const { gradients, firstLayerDelta } = backwardBatch(
    g,
    spec,
    forwardValues,
    state.params,
    dOutputs,
    {
      xRows: context.x,
      wantInputGradient: false,
      ...(isScaled && { gradientScale: g.op('Gather', [context.learningRate, step]) }),
      ...(span && { wantFirstLayerGradients: false }),
    },
  );

  if (context.optimizer === 'adam') {
    return { state: adamUpdate(g, context, state, gradients, step), loss };
  }
  const params = sgdUpdate(g, context, state.params, gradients);
  if (!span) return { state: { params }, loss };

  const coefficients = g.op('Add', [first.weight, firstLayerDelta], {}, 'span_coefficients');
  return { state: { params: [{ weight: coefficients, bias: '' }, ...params.slice(1)] }, loss };
}

/** `(W_0 x^T + b_0) - S (x x^T + 1)`: the first layer's pre-activation from S. */
function spanPreActivation(g: GraphBuilder, span: FirstLayerSpan, first: LayerValues): string {
  const moved = g.op('MatMul', [first.weight, span.gram]);
  return g.op('Sub', [span.base, moved], {}, 'layer0.h');
}

/**
 * `theta -= rate * gradient`, per tensor. Per-step rates are already in the gradients; the
 * first layer is skipped under the shortcut (its gradients are left out).
 */
function sgdUpdate(
  g: GraphBuilder,
  context: StepContext,
  params: readonly LayerValues[],
  gradients: readonly LayerValues[],
): LayerValues[] {
  return mapLayers(params, (param, l, role) => {
    const gradient = gradients[l]![role];
    if (!gradient) return param;
    const rates = context.rateTensors;
    const delta = rates ? g.op('Mul', [gradient, rates[l]![role]]) : gradient;
    return g.op('Sub', [param, delta], {}, `layer${l}.${role}`);
  });
}

/** Adam's update (Kingma and Ba, 2015, Algorithm 1), per tensor. */
function adamUpdate(
  g: GraphBuilder,
  context: StepContext,
  state: OptimizerState,
  gradients: readonly LayerValues[],
  step: string,
): OptimizerState {
  const adam = context.adam!;
  const correction1 = g.op('Gather', [adam.correction1, step]);
  const correction2 = g.op('Gather', [adam.correction2, step]);
  const stepRate =
    context.rate === 'perStep'
      ? g.op('Mul', [g.op('Gather', [context.learningRate, step]), correction1])
      : '';

  const firstMoments = mapLayers(state.firstMoments!, (m, l, role) => {
    const decayed = g.op('Mul', [m, adam.beta1]);
    const fresh = g.op('Mul', [gradients[l]![role], adam.oneMinusBeta1]);
    return g.op('Add', [decayed, fresh], {}, `layer${l}.${role}.m`);
  });
  const secondMoments = mapLayers(state.secondMoments!, (v, l, role) => {
    const gradient = gradients[l]![role];
    const decayed = g.op('Mul', [v, adam.beta2]);
    const fresh = g.op('Mul', [g.op('Mul', [gradient, gradient]), adam.oneMinusBeta2]);
    return g.op('Add', [decayed, fresh], {}, `layer${l}.${role}.v`);
  });

  const params = mapLayers(state.params, (param, l, role) => {
    const rate = context.rateTensors
      ? g.op('Mul', [context.rateTensors[l]![role], correction1])
      : stepRate;
    const scale = g.op('Sqrt', [g.op('Mul', [secondMoments[l]![role], correction2])]);
    const direction = g.op('Div', [firstMoments[l]![role], g.op('Add', [scale, adam.epsilon])]);
    return g.op('Sub', [param, g.op('Mul', [direction, rate])], {}, `layer${l}.${role}`);
  });
  return { params, firstMoments, secondMoments };
}

// ---- the two layouts --------------------------------------------------------------------

function runUnrolled(
  g: GraphBuilder,
  spec: MappingSpec,
  context: StepContext,
  initial: OptimizerState,
  steps: number,
) {
  let state = initial;
  const losses: string[] = [];

  for (let k = 0; k < steps; k++) {
    const result = buildStep(g, spec, context, state, g.int64(k));
    state = result.state;
    losses.push(g.op('Unsqueeze', [result.loss, g.int64([1])]));
  }
  const lossTrace = losses.length === 1 ? losses[0]! : g.op('Concat', losses, { axis: 1 });
  return { state, lossTrace };
}

/**
 * An ONNX Loop carrying the state; its body reads the support set and the settings from the
 * outer graph by name. The per-step losses come out as a scan output `[K, B]`.
 */
function runLoop(
  g: GraphBuilder,
  spec: MappingSpec,
  context: StepContext,
  initial: OptimizerState,
) {
  const body = g.subgraph('adapt_step');
  const step = body.input('step', 'int64', []);
  const condition = body.input('condition', 'bool', []);

  const carried = carriedValues(spec, initial, context.span !== undefined);
  const stateIn = rebuildState(
    initial,
    carried.map((c) => body.input(`${c.name}.in`, 'float', c.dims)),
  );
  const result = buildStep(body, spec, context, stateIn, step);

  body.output(condition, 'condition.out', 'bool', []);
  const resultValues = carriedValues(spec, result.state, context.span !== undefined);
  for (const [i, c] of carried.entries()) {
    body.output(resultValues[i]!.value, `${c.name}.out`, 'float', c.dims);
  }
  body.output(result.loss, 'step_loss', 'float', ['B']);

  const outputs = g.opMulti(
    'Loop',
    [context.steps!, '', ...carried.map((c) => c.value)],
    [...carried.map((c) => `${c.name}.final`), 'loss_steps'],
    { body: { graph: body.build() } },
  );
  const state = rebuildState(initial, outputs.slice(0, carried.length));
  return { state, lossTrace: g.transpose(outputs.at(-1)!, [1, 0], 'loss_trace_loop') };
}

/**
 * The state as a flat list (the order Loop carries it in), with names and shapes. Empty slots
 * (the first bias under the shortcut) are left out.
 */
function carriedValues(spec: MappingSpec, state: OptimizerState, isSpan: boolean) {
  const widths = layerWidths(spec);
  // The first weight slot holds the span coefficients, `[B, out, N]`, or the weight with the
  // bias folded in, `[B, out, in + 1]`.
  const firstColumns = isSpan ? 'N' : widths[0]! + 1;
  const groups = [
    ['', state.params],
    ['.m', state.firstMoments ?? []],
    ['.v', state.secondMoments ?? []],
  ] as const;
  return groups
    .flatMap(([suffix, layers]) =>
      layers.flatMap((layer, l) => [
        {
          name: `carried.layer${l}.weight${suffix}`,
          value: layer.weight,
          dims: ['B', widths[l + 1]!, l === 0 ? firstColumns : widths[l]!],
        },
        {
          name: `carried.layer${l}.bias${suffix}`,
          value: layer.bias,
          dims: ['B', widths[l + 1]!, 1],
        },
      ]),
    )
    .filter((carried) => carried.value !== '');
}

/** The inverse of `carriedValues`: puts a flat list back into the state's shape. */
function rebuildState(template: OptimizerState, values: readonly string[]): OptimizerState {
  let next = 0;
  const take = (layers: readonly LayerValues[]) =>
    layers.map((layer) => ({
      weight: layer.weight && values[next++]!,
      bias: layer.bias && values[next++]!,
    }));
  const params = take(template.params);
  if (!template.firstMoments) return { params };
  return {
    params,
    firstMoments: take(template.firstMoments),
    secondMoments: take(template.secondMoments!),
  };
}

function mapLayers(
  layers: readonly LayerValues[],
  update: (value: string, layer: number, role: 'weight' | 'bias') => string,
): LayerValues[] {
  // An empty slot (a folded or implied first bias) stays empty.
  return layers.map((layer, l) => ({
    weight: layer.weight && update(layer.weight, l, 'weight'),
    bias: layer.bias && update(layer.bias, l, 'bias'),
  }));
}
