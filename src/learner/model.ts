import type { MappingSpec } from '../engine/index.js';
import type { Random } from '../util/random.js';
import type { Tensor } from './parameters.js';
import type { EngineSet } from './sets.js';

/** Gradients by meta-parameter name, laid out like the tensors' values. */
export type Gradients = Map<string, Float32Array>;

/**
 * The three learned maps of one task family, as the method defines them (DESIGN.md §1):
 * - phi, the mapping encoder: support set -> code z (`encode`);
 * - psi, the mapping generator: code z -> initial mapping theta0 (`generate`);
 * - E, the ideal-code encoder: adapted mapping theta* -> ideal code z* (`idealCodes`);
 * plus the per-parameter learning rates of the adaptation (Meta-SGD, Li et al., 2017).
 *
 * Each map is itself an MLP run by the engine; a meta model only lays out their inputs
 * and outputs. Meta parameters are passed in, never held: one model serves the current
 * meta version and a candidate alike. Every `...Gradient` method is the backward pass of
 * the method of the same name, given the gradient of some loss with respect to its result.
 */
export interface MetaModel {
  /** The task mapping: the MLP every theta of the family belongs to. */
  readonly spec: MappingSpec;
  /** The length of one task's code z. */
  readonly codeLength: number;

  /** Fresh meta parameters; `theta0` is the generator's shared initial mapping. */
  initialParameters(random: Random, theta0: Float32Array): Map<string, Tensor>;

  /** phi: one code per support set. */
  encode(parameters: MetaParameters, supports: readonly EngineSet[]): Promise<Float32Array[]>;

  /** psi: one initial mapping per code. */
  generate(parameters: MetaParameters, codes: readonly Float32Array[]): Promise<Float32Array[]>;

  /** E: one ideal code per adapted mapping. */
  idealCodes(parameters: MetaParameters, thetas: readonly Float32Array[]): Promise<Float32Array[]>;

  /** The adaptation's per-parameter learning rates, laid out like theta. */
  learningRates(parameters: MetaParameters): Float32Array;

  encodeGradient(
    parameters: MetaParameters,
    supports: readonly EngineSet[],
    dCodes: readonly Float32Array[],
  ): Promise<Gradients>;

  generateGradient(
    parameters: MetaParameters,
    codes: readonly Float32Array[],
    dTheta0: readonly Float32Array[],
  ): Promise<{ gradients: Gradients; dCodes: Float32Array[] }>;

  idealCodesGradient(
    parameters: MetaParameters,
    thetas: readonly Float32Array[],
    dCodes: readonly Float32Array[],
  ): Promise<Gradients>;

  /**
   * The gradient with respect to the learning rates' logarithms, given `dLoss`, the query
   * loss's gradient at the adapted mapping, and the total move `theta0 - thetaK` of SGD.
   */
  learningRatesGradient(
    parameters: MetaParameters,
    moves: readonly Float32Array[],
    dLoss: readonly Float32Array[],
  ): Gradients;
}

export type MetaParameters = ReadonlyMap<string, Tensor>;
