import {
  initialiseTheta,
  type MappingEngine,
  type MappingSpec,
  parameterCount,
} from '../engine/index.js';
import type { Random } from '../util/random.js';
import type { Gradients, MetaModel, MetaParameters } from './model.js';
import { type Tensor, valuesOf } from './parameters.js';
import { concatRows, type EngineSet, pairRows, splitRows, stackRows } from './sets.js';
import { exp } from './vectors.js';

/** The sizes of a regression family's meta model. */
export interface RegressionModelOptions {
  /** d, the length of the code z. */
  readonly codeDim: number;
  /** Hidden widths of phi's per-pair MLP. */
  readonly encoderHidden: readonly number[];
  /** The learning rate every parameter's adaptation starts from. */
  readonly learningRate: number;
  /**
   * The generator's weights start uniform in `±generatorScale / sqrt(d)`: small, so the
   * first generated mappings stay close to the shared initial mapping.
   */
  readonly generatorScale: number;
}

export const ENCODER = 'encoder';
export const GENERATOR = 'generator';
export const IDEAL_ENCODER = 'idealEncoder';
export const LOG_LEARNING_RATES = 'logLearningRates';

/**
 * The meta model of a regression family (W1): deep sets over (x, y) pairs and a linear
 * generator around a shared initial mapping.
 *
 * - phi: an MLP applied to each support pair `[x, y]`, mean-pooled: `z = mean_i f(x_i, y_i)`.
 *   The mean makes z independent of the order of the pairs and of their number (Zaheer et
 *   al., Deep Sets, 2017).
 * - psi: `theta0 = b + W z`, a linear mapping with no hidden layer whose bias `b` is the
 *   shared initial mapping (what cold start and Reptile would use) and whose weight
 *   moves it per task.
 * - E: `z* = A theta* + c`, linear in the adapted parameters.
 * - Learning rates: one per parameter of theta, stored as logarithms so they stay positive.
 */
export class RegressionMetaModel implements MetaModel {
  readonly codeLength: number;
  readonly encoderSpec: MappingSpec;
  readonly generatorSpec: MappingSpec;
  readonly idealEncoderSpec: MappingSpec;
  private readonly P: number;

  constructor(
    private readonly engine: MappingEngine,
    readonly spec: MappingSpec,
    private readonly options: RegressionModelOptions,
  ) {
    const d = options.codeDim;
    this.P = parameterCount(spec);
    this.codeLength = d;
    this.encoderSpec = linearOutput(spec.inputDim + spec.outputDim, options.encoderHidden, d);
    this.generatorSpec = linearOutput(d, [], this.P);
    this.idealEncoderSpec = linearOutput(this.P, [], d);
  }

  initialParameters(random: Random, theta0: Float32Array): Map<string, Tensor> {
    const generator = new Float32Array(parameterCount(this.generatorSpec));
    const limit = this.options.generatorScale / Math.sqrt(this.options.codeDim);
    const weights = this.options.codeDim * this.P;
    for (let i = 0; i < weights; i++) generator[i] = random.uniform(-limit, limit);
    // The bias follows the weight in the layout: it is the shared initial mapping.
    generator.set(theta0, weights);

    const rates = new Float32Array(this.P).fill(Math.log(this.options.learningRate));
    return new Map([
      tensor(ENCODER, initialiseTheta(this.encoderSpec, random)),
      tensor(GENERATOR, generator),
      tensor(IDEAL_ENCODER, initialiseTheta(this.idealEncoderSpec, random)),
      tensor(LOG_LEARNING_RATES, rates),
    ]);
  }

  async encode(parameters: MetaParameters, supports: readonly EngineSet[]) {
    const d = this.codeLength;
    const pairs = this.pairs(supports);
    const features = await this.engine.predict(
      this.encoderSpec,
      valuesOf(parameters, ENCODER),
      pairs,
    );

    // Mean-pool each task's rows of features.
    let row = 0;
    return supports.map((set) => {
      const code = new Float32Array(d);
      for (let i = 0; i < set.rows; i++, row++) {
        for (let k = 0; k < d; k++) code[k] = code[k]! + features[row * d + k]! / set.rows;
      }
      return code;
    });
  }

  async encodeGradient(
    parameters: MetaParameters,
    supports: readonly EngineSet[],
    dCodes: readonly Float32Array[],
  ): Promise<Gradients> {
    const d = this.codeLength;

    // The mean sends each task's code gradient, divided by its size, to every one of its rows.
    const upstream = supports.flatMap((set, b) =>
      Array.from({ length: set.rows }, () => dCodes[b]!.map((value) => value / set.rows)),
    );
    const [result] = await this.engine.gradient(this.encoderSpec, {
      thetas: [valuesOf(parameters, ENCODER)],
      sets: [this.pairs(supports)],
      upstream: [stackRows(upstream.length > 0 ? upstream : [new Float32Array(d)])],
    });
    return new Map([[ENCODER, result!.dTheta]]);
  }

  async generate(parameters: MetaParameters, codes: readonly Float32Array[]) {
    const inputs = { inputs: stackRows(codes), rows: codes.length };
    const thetas = await this.engine.predict(
      this.generatorSpec,
      valuesOf(parameters, GENERATOR),
      inputs,
    );
    return splitRows(thetas, this.P);
  }

  async generateGradient(
    parameters: MetaParameters,
    codes: readonly Float32Array[],
    dTheta0: readonly Float32Array[],
  ) {
    const [result] = await this.engine.gradient(this.generatorSpec, {
      thetas: [valuesOf(parameters, GENERATOR)],
      sets: [{ inputs: stackRows(codes), rows: codes.length }],
      upstream: [stackRows(dTheta0)],
      wantInputGradient: true,
    });
    return {
      gradients: new Map([[GENERATOR, result!.dTheta]]),
      dCodes: splitRows(result!.dInputs!, this.codeLength),
    };
  }

  async idealCodes(parameters: MetaParameters, thetas: readonly Float32Array[]) {
    const codes = await this.engine.predict(
      this.idealEncoderSpec,
      valuesOf(parameters, IDEAL_ENCODER),
      { inputs: stackRows(thetas), rows: thetas.length },
    );
    return splitRows(codes, this.codeLength);
  }

  async idealCodesGradient(
    parameters: MetaParameters,
    thetas: readonly Float32Array[],
    dCodes: readonly Float32Array[],
  ): Promise<Gradients> {
    const [result] = await this.engine.gradient(this.idealEncoderSpec, {
      thetas: [valuesOf(parameters, IDEAL_ENCODER)],
      sets: [{ inputs: stackRows(thetas), rows: thetas.length }],
      upstream: [stackRows(dCodes)],
    });
    return new Map([[IDEAL_ENCODER, result!.dTheta]]);
  }

  learningRates(parameters: MetaParameters): Float32Array {
    return exp(valuesOf(parameters, LOG_LEARNING_RATES));
  }

  learningRatesGradient(
    _parameters: MetaParameters,
    moves: readonly Float32Array[],
    dLoss: readonly Float32Array[],
  ): Gradients {
    return new Map([[LOG_LEARNING_RATES, logRateGradient(moves, dLoss, this.P)]]);
  }

  private pairs(supports: readonly EngineSet[]) {
    const inputDim = this.spec.inputDim;
    const pairs = supports.map((set) => ({ inputs: pairRows(set, inputDim), rows: set.rows }));
    return concatRows(pairs, this.encoderSpec.inputDim);
  }
}

/**
 * First-order gradient of the query loss with respect to `s = log(rate)` after K steps of
 * SGD, `theta_K = theta_0 - rate * sum_k g_k`: treating the support gradients `g_k` as
 * fixed, `dL/ds = -dL/dtheta_K * (theta_0 - theta_K)`, summed over tasks. Exact for K = 1.
 */
export function logRateGradient(
  moves: readonly Float32Array[],
  dLoss: readonly Float32Array[],
  P: number,
): Float32Array {
  const gradient = new Float32Array(P);
  for (const [b, move] of moves.entries()) {
    const d = dLoss[b]!;
    for (let i = 0; i < P; i++) gradient[i] = gradient[i]! - d[i]! * move[i]!;
  }
  return gradient;
}

/** An MLP spec whose output layer is linear (the engine's rule) and whose loss is unused. */
export function linearOutput(
  inputDim: number,
  hidden: readonly number[],
  outputDim: number,
): MappingSpec {
  return { inputDim, hidden, outputDim, activation: 'relu', loss: 'mse' };
}

export function tensor(name: string, values: Float32Array): [string, Tensor] {
  return [name, { name, shape: [values.length], values }];
}
