/**
 * The forward and backward pass of a mapping as ONNX nodes.
 *
 * One mapping (prediction, export) runs on rows: `x` is `[N, in]` and each layer is one Gemm
 * with its `[out, in]` weight transposed (`transB = 1`).
 *
 * A batch of `B` tasks, each with its own parameters, runs on columns: activations are
 * `[B, width, N]`, weights `[B, out, in]` and biases `[B, out, 1]`, so a layer is one batched
 * MatMul `h = W a + b`. This orientation is chosen for speed: ONNX Runtime's GEMM (MLAS) packs
 * its right operand on every call, and here the right operand is always the small one
 * (activations, `N` columns), never a weight-sized tensor. Likewise the weight gradient
 * `dW = dh a^T` is written once as the MatMul's output, already in the weight's layout.
 */

import { parameterLayout } from '../layout.js';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import type { MappingSpec } from '../spec.js';

/** The graph values holding one layer's parameters (or their gradients). */
export interface LayerValues {
  readonly weight: string;
  readonly bias: string;
}

/** Splits `theta` (`[P]`, or `[B, P]` when batched) into per-layer weights and biases. */
export function splitTheta(
  g: GraphBuilder,
  spec: MappingSpec,
  theta: string,
  isBatched: boolean,
): LayerValues[] {
  const tensors = parameterLayout(spec).tensors;
  const sizes = tensors.map((t) => t.size);
  const hints = tensors.map((t) => `${t.name}.flat`);
  const parts = g.opMulti('Split', [theta, g.int64(sizes)], hints, { axis: isBatched ? 1 : 0 });

  // Reshape's 0 copies the batch dimension from the flat part.
  return Array.from({ length: tensors.length / 2 }, (_, l) => {
    const [fanOut, fanIn] = tensors[2 * l]!.shape as [number, number];
    return {
      weight: g.reshape(
        parts[2 * l]!,
        isBatched ? [0, fanOut, fanIn] : [fanOut, fanIn],
        `layer${l}.weight`,
      ),
      bias: g.reshape(parts[2 * l + 1]!, isBatched ? [0, fanOut, 1] : [fanOut], `layer${l}.bias`),
    };
  });
}

/** Concatenates per-layer tensors of a batch back into `[B, P]`, laid out like `theta`. */
export function concatTheta(g: GraphBuilder, layers: readonly LayerValues[], hint: string) {
  const flat = layers.flatMap((layer) => [
    g.reshape(layer.weight, [0, -1]),
    g.reshape(layer.bias, [0, -1]),
  ]);
  return g.op('Concat', flat, { axis: 1 }, hint);
}

/** One mapping on rows `[N, in]`: a Gemm per layer, the activation between layers. */
export function forwardRows(
  g: GraphBuilder,
  spec: MappingSpec,
  x: string,
  layers: readonly LayerValues[],
): string {
  let a = x;
  for (const [l, { weight, bias }] of layers.entries()) {
    const h = g.op('Gemm', [a, weight, bias], { transB: 1 }, `layer${l}.h`);
    if (l === layers.length - 1) return h;
    a = activate(g, spec, h, l);
  }
  throw new Error('a mapping has at least one layer');
}

/** What the backward pass of a batch reuses from its forward pass. */
export interface ForwardValues {
  /** `inputs[l]` is the input of layer `l` as columns: `x^T`, then each hidden activation. */
  readonly inputs: readonly string[];
  /** The linear outputs of the last layer, `[B, out, N]`. */
  readonly outputs: string;
}

/**
 * A batch on columns (`xColumns` is `[B, in, N]`): `h = W a + b` per layer. A caller that
 * has the first layer's pre-activation by other means passes it as `firstPreActivation`.
 */
export function forwardBatch(
  g: GraphBuilder,
  spec: MappingSpec,
  xColumns: string,
  layers: readonly LayerValues[],
  firstPreActivation?: string,
): ForwardValues {
  const inputs = [xColumns];
  for (const [l, { weight, bias }] of layers.entries()) {
    const h =
      l === 0 && firstPreActivation
        ? firstPreActivation
        : g.op('Add', [g.op('MatMul', [weight, inputs[l]!]), bias], {}, `layer${l}.h`);
    if (l === layers.length - 1) return { inputs, outputs: h };
    inputs.push(activate(g, spec, h, l));
  }
  throw new Error('a mapping has at least one layer');
}

export interface BackwardOptions {
  /** `x` as rows `[B, N, in]`: the first layer's `dW = dh x` reads it without a transpose. */
  readonly xRows: string;
  /** Also return the gradient with respect to `x`, as rows; otherwise layer 0 skips it. */
  readonly wantInputGradient: boolean;
  /**
   * A scalar that multiplies the returned parameter gradients (SGD's step size). It is
   * applied to the small `dh` before the weight-gradient MatMul, which saves a pass over
   * every weight-sized gradient; the backpropagated gradients stay unscaled.
   */
  readonly gradientScale?: string;
  /** Default true; false leaves the first layer's weight gradient out (`gradients[0].weight` is ''). */
  readonly wantFirstWeightGradient?: boolean;
}

export interface BackwardValues {
  /** Shaped like the parameters: `[B, out, in]` and `[B, out, 1]`. */
  readonly gradients: LayerValues[];
  /** `[B, N, in]`, when asked for. */
  readonly dInputs?: string;
  /** `[B, out, N]`: the first layer's `dh`, multiplied by `gradientScale` when given. */
  readonly firstLayerDelta: string;
}

/**
 * Backpropagation through a batch, from `dOutputs` `[B, out, N]` (the gradient of the
 * objective with respect to the linear outputs). Per layer, for every task at once:
 * `dW = dh a^T`, `db = sum over columns of dh`, `da = W^T dh`. Activation derivatives reuse
 * the forward activations (`a > 0` for ReLU, `1 - a^2` for tanh). Each Transpose feeding a
 * MatMul is standard ONNX; ONNX Runtime fuses the pair into one MatMul with a transposed
 * operand, and every transposed operand here is activation-sized or a small hidden weight.
 */
export function backwardBatch(
  g: GraphBuilder,
  spec: MappingSpec,
  forwardValues: ForwardValues,
  layers: readonly LayerValues[],
  dOutputs: string,
  options: BackwardOptions,
): BackwardValues {
  const gradients: LayerValues[] = [];
  let dH = dOutputs;

  for (let l = layers.length - 1; l >= 0; l--) {
    const dHScaled = options.gradientScale ? g.op('Mul', [dH, options.gradientScale]) : dH;
    const isWeightSkipped = l === 0 && options.wantFirstWeightGradient === false;
    const aRows = l === 0 ? options.xRows : swapLastAxes(g, forwardValues.inputs[l]!);
    gradients[l] = {
      weight: isWeightSkipped ? '' : g.op('MatMul', [dHScaled, aRows], {}, `layer${l}.dweight`),
      bias: g.reduceSum(dHScaled, [2], true, `layer${l}.dbias`),
    };

    if (l === 0) {
      const values = { gradients, firstLayerDelta: dHScaled };
      if (!options.wantInputGradient) return values;
      // dx as rows: dh^T W, so that x's gradient comes out in x's own layout.
      const dInputs = g.op('MatMul', [swapLastAxes(g, dH), layers[0]!.weight], {}, 'dx_rows');
      return { ...values, dInputs };
    }
    const dA = g.op('MatMul', [swapLastAxes(g, layers[l]!.weight), dH], {}, `layer${l}.da`);
    dH = activationBackward(g, spec, forwardValues.inputs[l]!, dA, l - 1);
  }
  throw new Error('a mapping has at least one layer');
}

function activate(g: GraphBuilder, spec: MappingSpec, h: string, l: number): string {
  return g.op(spec.activation === 'relu' ? 'Relu' : 'Tanh', [h], {}, `layer${l}.a`);
}

/** `dh` from `da` and the activation's own output `a`, for hidden layer `l`. */
function activationBackward(g: GraphBuilder, spec: MappingSpec, a: string, dA: string, l: number) {
  if (spec.activation === 'relu') {
    const isActive = g.op('Greater', [a, g.float(0)]);
    return g.op('Where', [isActive, dA, g.float(0)], {}, `layer${l}.dh`);
  }
  const slope = g.op('Sub', [g.float(1), g.op('Mul', [a, a])]);
  return g.op('Mul', [dA, slope], {}, `layer${l}.dh`);
}

/** Swaps the last two axes of a `[B, rows, cols]` tensor (rows to columns and back). */
export function swapLastAxes(g: GraphBuilder, x: string): string {
  return g.transpose(x, [0, 2, 1]);
}
