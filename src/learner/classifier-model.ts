import {
  initialiseTheta,
  type MappingEngine,
  type MappingSpec,
  parameterCount,
  parameterLayout,
} from '../engine/index.js';
import type { Random } from '../util/random.js';
import type { Gradients, MetaModel, MetaParameters } from './model.js';
import { type Tensor, valuesOf } from './parameters.js';
import {
  ENCODER,
  GENERATOR,
  IDEAL_ENCODER,
  LOG_LEARNING_RATES,
  linearOutput,
  tensor,
} from './regression-model.js';
import { concatRows, type EngineSet, splitRows, stackRows } from './sets.js';
import { exp } from './vectors.js';

export const GENERATOR_BODY = 'generator.body';

export interface ClassifierModelOptions {
  /** d, the length of one class's code; a task's code z holds one per class. */
  readonly codeDim: number;
  /** Hidden widths of phi's per-example MLP. */
  readonly encoderHidden: readonly number[];
  /** The learning rate every parameter's adaptation starts from. */
  readonly learningRate: number;
  /** The head generator's weights start uniform in `±generatorScale / sqrt(d)`. */
  readonly generatorScale: number;
}

/**
 * The meta model of an N-way classification family (W2, W3): label-aware deep sets and a
 * generator that writes one output unit per class from that class's summary.
 *
 * - phi: an MLP `f` applied to each support image; the code of class j is the mean of
 *   `f(x)` over the support images labelled j, and the task's code z is the N class codes
 *   one after the other. Reordering examples leaves z unchanged; relabelling the classes
 *   reorders its N parts the same way.
 * - psi: the body (every layer before the output layer) is a shared initial mapping; the
 *   output layer's column j (the weights into output unit j, and its bias) is
 *   `G z_j + g`, one linear map shared by all classes. So the head for label j is made
 *   from class j's summary alone, as a prototype head is (Snell et al., 2017;
 *   Triantafillou et al., 2020), and a relabelled task gets the same head relabelled.
 * - E: the ideal code of class j is `A c_j + a`, where `c_j` is the adapted mapping's
 *   output column j: the autoencoder over mappings works column by column.
 * - Learning rates: one per body parameter, and one per output-column position shared by
 *   every class (a per-class rate would break the symmetry between labels).
 */
export class ClassifierMetaModel implements MetaModel {
  readonly codeLength: number;
  readonly encoderSpec: MappingSpec;
  readonly generatorSpec: MappingSpec;
  readonly idealEncoderSpec: MappingSpec;
  private readonly ways: number;
  /** Width of the last hidden layer: the output layer's fan-in. */
  private readonly fanIn: number;
  /** Offset in theta of the output layer's weight `[fanIn, ways]`; its bias follows it. */
  private readonly headOffset: number;
  private readonly P: number;

  constructor(
    private readonly engine: MappingEngine,
    readonly spec: MappingSpec,
    private readonly options: ClassifierModelOptions,
  ) {
    const d = options.codeDim;
    this.ways = spec.outputDim;
    this.fanIn = spec.hidden.at(-1) ?? spec.inputDim;
    this.P = parameterCount(spec);
    this.headOffset = parameterLayout(spec).tensors.at(-2)!.offset;
    this.codeLength = this.ways * d;
    this.encoderSpec = linearOutput(spec.inputDim, options.encoderHidden, d);
    this.generatorSpec = linearOutput(d, [], this.fanIn + 1);
    this.idealEncoderSpec = linearOutput(this.fanIn + 1, [], d);
  }

  initialParameters(random: Random, theta0: Float32Array): Map<string, Tensor> {
    const generator = new Float32Array(parameterCount(this.generatorSpec));
    const limit = this.options.generatorScale / Math.sqrt(this.options.codeDim);
    const weights = this.options.codeDim * (this.fanIn + 1);
    for (let i = 0; i < weights; i++) generator[i] = random.uniform(-limit, limit);

    const rateCount = this.headOffset + this.fanIn + 1;
    const rates = new Float32Array(rateCount).fill(Math.log(this.options.learningRate));
    return new Map([
      tensor(ENCODER, initialiseTheta(this.encoderSpec, random)),
      tensor(GENERATOR, generator),
      tensor(GENERATOR_BODY, theta0.slice(0, this.headOffset)),
      tensor(IDEAL_ENCODER, initialiseTheta(this.idealEncoderSpec, random)),
      tensor(LOG_LEARNING_RATES, rates),
    ]);
  }

  async encode(parameters: MetaParameters, supports: readonly EngineSet[]) {
    const d = this.options.codeDim;
    const features = await this.features(parameters, supports);

    // Per task, the mean feature of each class's support images.
    let row = 0;
    return supports.map((set) => {
      const labels = set.targets as Int32Array;
      const counts = classCounts(labels, this.ways);
      const code = new Float32Array(this.ways * d);
      for (let i = 0; i < set.rows; i++, row++) {
        const j = labels[i]!;
        for (let k = 0; k < d; k++) {
          code[j * d + k] = code[j * d + k]! + features[row * d + k]! / counts[j]!;
        }
      }
      return code;
    });
  }

  async encodeGradient(
    parameters: MetaParameters,
    supports: readonly EngineSet[],
    dCodes: readonly Float32Array[],
  ): Promise<Gradients> {
    const d = this.options.codeDim;

    // A class mean sends its gradient, divided by the class's size, to each of its images.
    const upstream = supports.flatMap((set, b) => {
      const labels = set.targets as Int32Array;
      const counts = classCounts(labels, this.ways);
      return Array.from(labels, (j) =>
        dCodes[b]!.subarray(j * d, (j + 1) * d).map((value) => value / counts[j]!),
      );
    });
    const [result] = await this.engine.gradient(this.encoderSpec, {
      thetas: [valuesOf(parameters, ENCODER)],
      sets: [concatRows(supports, this.spec.inputDim)],
      upstream: [stackRows(upstream)],
    });
    return new Map([[ENCODER, result!.dTheta]]);
  }

  async generate(parameters: MetaParameters, codes: readonly Float32Array[]) {
    const columns = await this.engine.predict(
      this.generatorSpec,
      valuesOf(parameters, GENERATOR),
      this.classCodeRows(codes),
    );
    const body = valuesOf(parameters, GENERATOR_BODY);
    const width = this.fanIn + 1;

    return codes.map((_, b) => {
      const theta = new Float32Array(this.P);
      theta.set(body);
      this.writeHead(theta, columns.subarray(b * this.ways * width, (b + 1) * this.ways * width));
      return theta;
    });
  }

  async generateGradient(
    parameters: MetaParameters,
    codes: readonly Float32Array[],
    dTheta0: readonly Float32Array[],
  ) {
    // The body is shared: its gradient is the sum over tasks.
    const dBody = new Float32Array(this.headOffset);
    for (const gradient of dTheta0) {
      for (let i = 0; i < this.headOffset; i++) dBody[i] = dBody[i]! + gradient[i]!;
    }

    const [result] = await this.engine.gradient(this.generatorSpec, {
      thetas: [valuesOf(parameters, GENERATOR)],
      sets: [this.classCodeRows(codes)],
      upstream: [stackRows(dTheta0.map((gradient) => this.readHead(gradient)))],
      wantInputGradient: true,
    });
    return {
      gradients: new Map([
        [GENERATOR, result!.dTheta],
        [GENERATOR_BODY, dBody],
      ]),
      dCodes: splitRows(result!.dInputs!, this.codeLength),
    };
  }

  async idealCodes(parameters: MetaParameters, thetas: readonly Float32Array[]) {
    const codes = await this.engine.predict(
      this.idealEncoderSpec,
      valuesOf(parameters, IDEAL_ENCODER),
      this.headRows(thetas),
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
      sets: [this.headRows(thetas)],
      upstream: [stackRows(dCodes)],
    });
    return new Map([[IDEAL_ENCODER, result!.dTheta]]);
  }

  learningRates(parameters: MetaParameters): Float32Array {
    const logs = valuesOf(parameters, LOG_LEARNING_RATES);
    const rates = new Float32Array(this.P);
    rates.set(exp(logs.subarray(0, this.headOffset)));

    // Every class's column shares the rates of its positions.
    const column = exp(logs.subarray(this.headOffset));
    const columns = Array.from({ length: this.ways }, () => column);
    this.writeHead(rates, stackRows(columns));
    return rates;
  }

  learningRatesGradient(
    _parameters: MetaParameters,
    moves: readonly Float32Array[],
    dLoss: readonly Float32Array[],
  ): Gradients {
    const width = this.fanIn + 1;
    const gradient = new Float32Array(this.headOffset + width);

    for (const [b, move] of moves.entries()) {
      const product = move.map((value, i) => -value * dLoss[b]![i]!);
      for (let i = 0; i < this.headOffset; i++) gradient[i] = gradient[i]! + product[i]!;

      // A shared rate collects the gradient of every class's column.
      const head = this.readHead(product);
      for (let j = 0; j < this.ways; j++) {
        for (let r = 0; r < width; r++) {
          const i = this.headOffset + r;
          gradient[i] = gradient[i]! + head[j * width + r]!;
        }
      }
    }
    return new Map([[LOG_LEARNING_RATES, gradient]]);
  }

  private features(parameters: MetaParameters, supports: readonly EngineSet[]) {
    const rows = concatRows(supports, this.spec.inputDim);
    return this.engine.predict(this.encoderSpec, valuesOf(parameters, ENCODER), rows);
  }

  /** Each task's N class codes as rows: the generator's and E's batch of inputs. */
  private classCodeRows(codes: readonly Float32Array[]) {
    return { inputs: stackRows(codes), rows: codes.length * this.ways };
  }

  /** Each task's N output columns as rows (`fanIn` weights then the bias). */
  private headRows(thetas: readonly Float32Array[]) {
    return {
      inputs: stackRows(thetas.map((theta) => this.readHead(theta))),
      rows: thetas.length * this.ways,
    };
  }

  /** The output layer as `ways` rows of `fanIn + 1`: column j's weights, then bias j. */
  private readHead(theta: Float32Array): Float32Array {
    const width = this.fanIn + 1;
    const head = new Float32Array(this.ways * width);
    const biasOffset = this.headOffset + this.fanIn * this.ways;
    for (let j = 0; j < this.ways; j++) {
      for (let r = 0; r < this.fanIn; r++) {
        head[j * width + r] = theta[this.headOffset + r * this.ways + j]!;
      }
      head[j * width + this.fanIn] = theta[biasOffset + j]!;
    }
    return head;
  }

  /** Writes `ways` rows of `fanIn + 1` into theta's output layer (the inverse of readHead). */
  private writeHead(theta: Float32Array, head: Float32Array): void {
    const width = this.fanIn + 1;
    const biasOffset = this.headOffset + this.fanIn * this.ways;
    for (let j = 0; j < this.ways; j++) {
      for (let r = 0; r < this.fanIn; r++) {
        theta[this.headOffset + r * this.ways + j] = head[j * width + r]!;
      }
      theta[biasOffset + j] = head[j * width + this.fanIn]!;
    }
  }
}

/** How many rows carry each label; at least 1 so an absent class's code stays zero. */
function classCounts(labels: Int32Array, ways: number): number[] {
  const counts = new Array<number>(ways).fill(0);
  for (const label of labels) counts[label] = counts[label]! + 1;
  return counts.map((count) => Math.max(count, 1));
}
