import type { Random } from '../util/random.js';
import { layerWidths, type MappingSpec } from './spec.js';

/**
 * Where each named tensor of a mapping lives in its flat parameter vector `theta`.
 *
 * Tensors are stored layer by layer, weight then bias: `layer0.weight` `[out, in]` row-major
 * (the convention of torch.nn.Linear and of ONNX Gemm with `transB = 1`), `layer0.bias`
 * `[out]`, `layer1.weight`, ... Layer `l` computes `h = a W^T + b`, so a weight's rows index
 * its output units. The engine's batched graphs work in this orientation throughout (see
 * graphs/mlp.ts), which keeps every large weight-sized tensor out of MatMul packing.
 */
export interface ParameterTensor {
  /** `layer<l>.weight` or `layer<l>.bias`. */
  readonly name: string;
  readonly layer: number;
  readonly role: 'weight' | 'bias';
  /** `[out, in]` for a weight, `[out]` for a bias. */
  readonly shape: readonly number[];
  /** First index in `theta`. */
  readonly offset: number;
  readonly size: number;
}

export interface ParameterLayout {
  readonly tensors: readonly ParameterTensor[];
  /** `P`, the length of `theta`. */
  readonly size: number;
}

/** The layout of `theta` for a spec. */
export function parameterLayout(spec: MappingSpec): ParameterLayout {
  const widths = layerWidths(spec);
  const tensors: ParameterTensor[] = [];
  let offset = 0;

  for (let layer = 0; layer < widths.length - 1; layer++) {
    const fanIn = widths[layer]!;
    const fanOut = widths[layer + 1]!;
    for (const role of ['weight', 'bias'] as const) {
      const shape = role === 'weight' ? [fanOut, fanIn] : [fanOut];
      const size = role === 'weight' ? fanIn * fanOut : fanOut;
      tensors.push({ name: `layer${layer}.${role}`, layer, role, shape, offset, size });
      offset += size;
    }
  }
  return { tensors, size: offset };
}

/** `P` for a spec. */
export function parameterCount(spec: MappingSpec): number {
  return parameterLayout(spec).size;
}

/** Copies of each named tensor of `theta` (views would alias the caller's vector). */
export function unflatten(layout: ParameterLayout, theta: Float32Array): Map<string, Float32Array> {
  const tensors = new Map<string, Float32Array>();
  for (const tensor of layout.tensors) {
    tensors.set(tensor.name, theta.slice(tensor.offset, tensor.offset + tensor.size));
  }
  return tensors;
}

/** A new `theta` from named tensors; every tensor of the layout must be present and sized. */
export function flatten(
  layout: ParameterLayout,
  tensors: ReadonlyMap<string, Float32Array>,
): Float32Array {
  const theta = new Float32Array(layout.size);
  for (const tensor of layout.tensors) {
    const values = tensors.get(tensor.name);
    if (values?.length !== tensor.size) {
      throw new RangeError(
        `tensor '${tensor.name}': expected ${tensor.size} values, received ${values?.length ?? 'none'}`,
      );
    }
    theta.set(values, tensor.offset);
  }
  return theta;
}

/**
 * A freshly initialised `theta`, the same for the same seed:
 * - ReLU: He-uniform, `W ~ U(-sqrt(6 / fanIn), +sqrt(6 / fanIn))` (He et al., 2015), which
 *   keeps the variance of pre-activations constant through ReLU layers;
 * - tanh: Xavier-uniform, `W ~ U(-sqrt(6 / (fanIn + fanOut)), +...)` (Glorot and Bengio, 2010);
 * - every bias zero.
 * The output layer uses the same rule as the hidden ones.
 */
export function initialiseTheta(spec: MappingSpec, random: Random): Float32Array {
  const layout = parameterLayout(spec);
  const theta = new Float32Array(layout.size);

  for (const tensor of layout.tensors) {
    if (tensor.role === 'bias') continue;
    const [fanOut, fanIn] = tensor.shape as [number, number];
    const limit =
      spec.activation === 'relu' ? Math.sqrt(6 / fanIn) : Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < tensor.size; i++) {
      theta[tensor.offset + i] = random.uniform(-limit, limit);
    }
  }
  return theta;
}
