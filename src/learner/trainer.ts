import { isClassifier, type MappingEngine } from '../engine/index.js';
import type { Random } from '../util/random.js';
import { Adam } from './adam.js';
import type { Gradients, MetaModel, MetaParameters } from './model.js';
import { cloneParameters, type Tensor } from './parameters.js';
import { LOG_LEARNING_RATES } from './regression-model.js';
import { type EngineSet, sampleRows } from './sets.js';
import { addScaled, scaled, sumGradients } from './vectors.js';

/** One remembered task as meta-training sees it. */
export interface TrainingTask {
  readonly taskId: string;
  readonly support: EngineSet;
  /** The set the generated mapping is judged on after adaptation. */
  readonly query: EngineSet;
  /** theta*, the mapping the live service adapted: what E encodes. */
  readonly theta: Float32Array;
}

export interface TrainerOptions {
  /** Tasks per meta-training step. */
  readonly batchSize: number;
  /**
   * The adaptation lengths K a step may use, one drawn per step. Training over several
   * lengths (including 0) keeps the generated mapping good before any step and makes the
   * learned rates safe for longer adaptations: steps should never make it worse.
   */
  readonly adaptSteps: readonly number[];
  /** Adam's step size for the meta parameters. */
  readonly outerLearningRate: number;
  /** Steps over which Adam's step size decays (see `AdamOptions`); constant when absent. */
  readonly outerDecaySteps?: number;
  /**
   * Weight of the ideal-code losses (`L_psi` and `L_phi`) next to the end-to-end loss.
   * They are scaffolding: the end-to-end loss is what quality comes from, so keep it small.
   */
  readonly idealCodeWeight: number;
  /** The ideal-code losses are computed every this many steps (they cost a second pass). */
  readonly idealCodeEvery: number;
  /** Query rows per task in a training step, drawn at random; the full set when larger. */
  readonly maxQueryRows: number;
  /** Bounds on the learned learning rates, so that no adaptation can be made to diverge. */
  readonly learningRateBounds: readonly [number, number];
  /** Global gradient-norm clip for the outer Adam step. */
  readonly maxGradientNorm: number;
  /**
   * Decay of the running average of the meta parameters that candidates are taken from
   * (Polyak averaging): single Adam iterates are noisy, and the judge would reject many.
   */
  readonly averageDecay: number;
}

/** What one run of `train` did. */
export interface TrainingReport {
  readonly steps: number;
  /** Mean end-to-end query loss over the last half of the steps. */
  readonly loss: number;
  /** Mean generator loss `L_psi` over the steps that computed it (NaN when none did). */
  readonly generatorLoss: number;
  /** Mean encoder loss `L_phi` over the steps that computed it (NaN when none did). */
  readonly encoderLoss: number;
  /** Adaptations the engine reported as diverged (each then counted with K = 0). */
  readonly diverged: number;
}

interface StepLosses {
  readonly endToEnd: number;
  readonly generator?: number;
  readonly encoder?: number;
  readonly diverged: number;
}

/**
 * Meta-training of one family's meta model, first-order and end to end.
 *
 * One step on a batch of remembered tasks:
 * 1. `z = phi(support)`, `theta0 = psi(z)`, `theta_K = omega(theta0, support)` (K steps of
 *    SGD with the learned per-parameter rates; K drawn from `adaptSteps`);
 * 2. `L = loss(theta_K, query)`; its gradient at theta_K stands in for its gradient at
 *    theta0 (first-order MAML: `d theta_K / d theta0 = prod_k (I - rate H_k)`, close to
 *    the identity for few small steps; dropping it saves a second-order pass the engine
 *    does not build, and Finn et al. 2017 and Nichol et al. 2018 measured little loss);
 * 3. that gradient flows back through psi and phi (engine gradients with an upstream),
 *    and to the log learning rates (`-dL/dtheta_K * (theta0 - theta_K)`);
 * 4. every `idealCodeEvery` steps, the ideal-code losses are added with a small weight:
 *    `L_psi = d(theta*, psi(E(theta*)))` in function space, the task loss of the
 *    reconstructed mapping against theta*'s own outputs on the task's inputs, and
 *    `L_phi = ||phi(support) - z*||^2` with z* held fixed;
 * 5. one Adam step on all meta parameters.
 *
 * Why function space for `d`: a ReLU network's output depends very unevenly on its
 * parameters (and not at all on some), so parameter-space squared error spends the
 * generator's capacity on directions that change nothing; judging both mappings' outputs
 * where the task lives measures what a user of the mapping sees.
 */
export class MetaTrainer {
  private readonly adam: Adam;
  private average?: ParameterAverage;
  /** theta*'s outputs on each task's inputs, the targets of `L_psi`; cached by task id. */
  private readonly probeTargets = new Map<string, EngineSet>();

  constructor(
    private readonly engine: MappingEngine,
    private readonly model: MetaModel,
    private readonly options: TrainerOptions,
  ) {
    this.adam = new Adam({
      learningRate: options.outerLearningRate,
      maxGradientNorm: options.maxGradientNorm,
      ...(options.outerDecaySteps && { decaySteps: options.outerDecaySteps }),
    });
  }

  /** Forgets what was cached for a task the bank dropped. */
  forget(taskId: string): void {
    this.probeTargets.delete(taskId);
  }

  /**
   * The running average of the parameters `train` has updated, bias-corrected; a copy of
   * `parameters` when there is none yet.
   */
  averaged(parameters: MetaParameters): Map<string, Tensor> {
    return this.average?.values() ?? cloneParameters(parameters);
  }

  /** Drops the running average, e.g. when training restarts from other parameters. */
  resetAverage(): void {
    this.average = undefined;
  }

  /** `steps` meta-training steps on batches drawn from `tasks`; updates `parameters` in place. */
  async train(
    parameters: Map<string, Tensor>,
    tasks: readonly TrainingTask[],
    steps: number,
    random: Random,
  ): Promise<TrainingReport> {
    const losses: StepLosses[] = [];
    for (let step = 0; step < steps; step++) {
      const batch = drawBatch(tasks, this.options.batchSize, random);
      const K = this.options.adaptSteps[random.int(this.options.adaptSteps.length)]!;
      const withIdealCodes = (step + 1) % this.options.idealCodeEvery === 0;
      losses.push(await this.step(parameters, batch, K, withIdealCodes, random));
      this.average ??= new ParameterAverage(this.options.averageDecay);
      this.average.update(parameters);
    }
    return summarise(losses);
  }

  /** The mean query loss of `tasks` after `K` adaptation steps from `psi(phi(support))`. */
  async evaluate(parameters: MetaParameters, tasks: readonly TrainingTask[], K: number) {
    const supports = tasks.map((task) => task.support);
    const codes = await this.model.encode(parameters, supports);
    const theta0 = await this.model.generate(parameters, codes);
    const thetaK = await this.adapt(parameters, theta0, supports, K);
    const results = await this.engine.evaluateBatch(
      this.model.spec,
      thetaK.map((result) => result.theta),
      tasks.map((task) => task.query),
    );
    return results.reduce((sum, result) => sum + result.loss, 0) / results.length;
  }

  private async step(
    parameters: Map<string, Tensor>,
    batch: readonly TrainingTask[],
    K: number,
    withIdealCodes: boolean,
    random: Random,
  ): Promise<StepLosses> {
    const supports = batch.map((task) => task.support);
    const queries = batch.map((task) =>
      sampleRows(task.query, this.model.spec.inputDim, this.options.maxQueryRows, random),
    );

    // Forward: encode, generate, adapt, judge on the query set.
    const codes = await this.model.encode(parameters, supports);
    const theta0 = await this.model.generate(parameters, codes);
    const adapted = await this.adapt(parameters, theta0, supports, K);
    const thetaK = adapted.map((result) => result.theta);
    const judged = await this.engine.gradient(this.model.spec, { thetas: thetaK, sets: queries });

    // Backward, first-order: the query gradient at theta_K is taken as the one at theta0.
    const dTheta0 = judged.map((result) => scaled(result.dTheta, 1 / batch.length));
    const moves = theta0.map((initial, b) => initial.map((value, i) => value - thetaK[b]![i]!));
    const rates = this.model.learningRatesGradient(parameters, moves, dTheta0);
    const generated = await this.model.generateGradient(parameters, codes, dTheta0);

    const idealCodes = withIdealCodes
      ? await this.idealCodeTerms(parameters, batch, codes)
      : undefined;
    if (idealCodes) {
      for (const [b, dCode] of idealCodes.dCodes.entries()) addScaled(generated.dCodes[b]!, dCode);
    }
    const encoded = await this.model.encodeGradient(parameters, supports, generated.dCodes);

    const gradients = sumGradients(
      rates,
      generated.gradients,
      encoded,
      ...(idealCodes ? [idealCodes.gradients] : []),
    );
    this.adam.update(parameters, gradients);
    this.clampLearningRates(parameters);

    return {
      endToEnd: judged.reduce((sum, result) => sum + result.loss!, 0) / batch.length,
      ...(idealCodes && { generator: idealCodes.generatorLoss, encoder: idealCodes.encoderLoss }),
      diverged: adapted.filter((result) => result.status === 'diverged').length,
    };
  }

  /**
   * The weighted gradients of `L_psi` (to psi and E) and of `L_phi` (to phi, returned as a
   * gradient on the codes so that it joins the end-to-end one in a single encoder pass).
   */
  private async idealCodeTerms(
    parameters: MetaParameters,
    batch: readonly TrainingTask[],
    codes: readonly Float32Array[],
  ) {
    const weight = this.options.idealCodeWeight / batch.length;
    const thetaStar = batch.map((task) => task.theta);
    const probes = await Promise.all(batch.map((task) => this.probeTargetsOf(task)));

    // L_psi: reconstruct theta* through E and psi, judge it against theta*'s outputs.
    const idealCodes = await this.model.idealCodes(parameters, thetaStar);
    const reconstructed = await this.model.generate(parameters, idealCodes);
    const judged = await this.engine.gradient(this.model.spec, {
      thetas: reconstructed,
      sets: probes,
    });
    const dReconstructed = judged.map((result) => scaled(result.dTheta, weight));
    const generated = await this.model.generateGradient(parameters, idealCodes, dReconstructed);
    const ideal = await this.model.idealCodesGradient(parameters, thetaStar, generated.dCodes);

    // L_phi: pull each code toward its task's ideal code (a fixed target here).
    let encoderLoss = 0;
    const dCodes = codes.map((code, b) => {
      const difference = code.map((value, k) => value - idealCodes[b]![k]!);
      encoderLoss += difference.reduce((sum, value) => sum + value * value, 0) / batch.length;
      return scaled(difference, 2 * weight);
    });

    return {
      gradients: sumGradients(generated.gradients, ideal),
      dCodes,
      generatorLoss: judged.reduce((sum, result) => sum + result.loss!, 0) / batch.length,
      encoderLoss,
    };
  }

  /** theta*'s outputs on the task's support and query inputs, as a labelled set. */
  private async probeTargetsOf(task: TrainingTask): Promise<EngineSet> {
    const cached = this.probeTargets.get(task.taskId);
    if (cached) return cached;

    const inputDim = this.model.spec.inputDim;
    const rows = task.support.rows + task.query.rows;
    const inputs = new Float32Array(rows * inputDim);
    inputs.set(task.support.inputs.subarray(0, task.support.rows * inputDim));
    inputs.set(
      task.query.inputs.subarray(0, task.query.rows * inputDim),
      task.support.rows * inputDim,
    );

    const outputs = await this.engine.predict(this.model.spec, task.theta, { inputs, rows });
    const targets = isClassifier(this.model.spec) ? argmaxRows(outputs, rows) : outputs;
    const probes = { inputs, rows, targets };
    this.probeTargets.set(task.taskId, probes);
    return probes;
  }

  private async adapt(
    parameters: MetaParameters,
    theta0: readonly Float32Array[],
    supports: readonly EngineSet[],
    K: number,
  ) {
    if (K === 0) return theta0.map((theta) => ({ theta, status: 'adapted' as const }));

    const learningRate = { perParameter: this.model.learningRates(parameters) };
    return this.engine.adaptBatch(this.model.spec, {
      theta0,
      support: supports,
      steps: K,
      learningRate,
    });
  }

  private clampLearningRates(parameters: Map<string, Tensor>): void {
    const logs = parameters.get(LOG_LEARNING_RATES)!.values;
    const [low, high] = this.options.learningRateBounds.map(Math.log) as [number, number];
    for (let i = 0; i < logs.length; i++) logs[i] = Math.min(high, Math.max(low, logs[i]!));
  }
}

/**
 * An exponential moving average of named tensors with Adam's bias correction, so that its
 * first values are not pulled toward zero.
 */
class ParameterAverage {
  private readonly sums = new Map<string, Float32Array>();
  private readonly shapes = new Map<string, readonly number[]>();
  private weight = 0;

  constructor(private readonly decay: number) {}

  update(parameters: MetaParameters): void {
    this.weight = this.decay * this.weight + (1 - this.decay);
    for (const [name, tensor] of parameters) {
      let sum = this.sums.get(name);
      if (!sum) {
        sum = new Float32Array(tensor.values.length);
        this.sums.set(name, sum);
        this.shapes.set(name, tensor.shape);
      }
      for (let i = 0; i < sum.length; i++) {
        sum[i] = this.decay * sum[i]! + (1 - this.decay) * tensor.values[i]!;
      }
    }
  }

  values(): Map<string, Tensor> {
    const averaged = new Map<string, Tensor>();
    for (const [name, sum] of this.sums) {
      const values = sum.map((value) => value / this.weight);
      averaged.set(name, { name, shape: this.shapes.get(name)!.slice(), values });
    }
    return averaged;
  }
}

/** `size` tasks drawn uniformly with replacement (the bank may hold fewer than a batch). */
function drawBatch<T>(tasks: readonly T[], size: number, random: Random): T[] {
  return Array.from({ length: size }, () => tasks[random.int(tasks.length)]!);
}

function argmaxRows(outputs: Float32Array, rows: number): Int32Array {
  const width = outputs.length / rows;
  const labels = new Int32Array(rows);
  for (let row = 0; row < rows; row++) {
    let best = 0;
    for (let j = 1; j < width; j++) {
      if (outputs[row * width + j]! > outputs[row * width + best]!) best = j;
    }
    labels[row] = best;
  }
  return labels;
}

function summarise(losses: readonly StepLosses[]): TrainingReport {
  const lastHalf = losses.slice(Math.floor(losses.length / 2));
  const mean = (values: number[]) =>
    values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
  return {
    steps: losses.length,
    loss: mean(lastHalf.map((step) => step.endToEnd)),
    generatorLoss: mean(
      losses.flatMap((step) => (step.generator === undefined ? [] : [step.generator])),
    ),
    encoderLoss: mean(losses.flatMap((step) => (step.encoder === undefined ? [] : [step.encoder]))),
    diverged: losses.reduce((sum, step) => sum + step.diverged, 0),
  };
}

export type { Gradients };
