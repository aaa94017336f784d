import { type EngineOptions, MappingEngine } from '../engine/index.js';
import { Random } from '../util/random.js';
import type { MetaModel } from './model.js';
import { createMetaModel, type MetaModelConfig } from './models.js';
import { cloneParameters, parameterSet, type Tensor } from './parameters.js';
import {
  MetaTrainer,
  type TrainerOptions,
  type TrainingReport,
  type TrainingTask,
} from './trainer.js';

/** A bank entry as the meta-update sees it: engine sets, theta*, and when it was remembered. */
export interface TrainingEntry extends TrainingTask {
  readonly rememberedAt: number;
}

/** How a meta-update runs, fixed for the life of its worker. */
export interface UpdateCoreOptions {
  readonly model: MetaModelConfig;
  readonly trainer: TrainerOptions;
  readonly engine: EngineOptions;
  /** Percent of the bank (by task id hash) held out of training to judge candidates. */
  readonly heldOutPercent: number;
  /** The most held-out tasks judged (the first by task id). */
  readonly maxHeldOut: number;
  /** Adaptation lengths K the judge averages the held-out query loss over. */
  readonly judgeSteps: readonly number[];
}

export interface UpdateRequest {
  readonly nextVersion: number;
  /** The meta parameters in use; absent before the first meta version (cold start). */
  readonly current?: readonly Tensor[];
  /**
   * The initial mapping and rate the stream uses while there is no meta version: the
   * generator of the first version starts from it, and the judge compares against it.
   */
  readonly coldStart: { readonly theta0: Float32Array; readonly learningRate: number };
  /** Meta-training steps for this update. */
  readonly steps: number;
  /** Fixes every draw of this update. */
  readonly seed: number;
}

/** What an update computed; the caller decides and records adoption from it. */
export interface UpdateResult {
  readonly candidate: Tensor[];
  readonly report: TrainingReport;
  readonly bankSize: number;
  /** Held-out loss of the candidate; absent when no entry was held out. */
  readonly candidateHeldOutLoss?: number;
  /** Held-out loss of the meta parameters (or cold start) in use, on the same tasks. */
  readonly currentHeldOutLoss?: number;
  readonly heldOutSize: number;
  readonly trainMs: number;
  readonly judgeMs: number;
}

/**
 * The meta-update itself, where the engine runs: a mirror of the bank, the meta model and
 * its trainer (whose Adam moments carry over from one update to the next). It runs inside
 * the meta-update worker, or inline where no worker is wanted.
 */
export class UpdateCore {
  private readonly engine: MappingEngine;
  private readonly model: MetaModel;
  private readonly trainer: MetaTrainer;
  private readonly entries = new Map<string, TrainingEntry>();
  /** The meta parameters being trained: the raw iterate, carried from update to update. */
  private training?: Map<string, Tensor>;

  constructor(private readonly options: UpdateCoreOptions) {
    this.engine = MappingEngine.create(options.engine);
    this.model = createMetaModel(this.engine, options.model);
    this.trainer = new MetaTrainer(this.engine, this.model, options.trainer);
  }

  get bankSize(): number {
    return this.entries.size;
  }

  /** Follows the bank: stores and drops entries as the stream's bank did. */
  sync(stored: readonly TrainingEntry[], dropped: readonly string[]): void {
    for (const taskId of dropped) {
      this.entries.delete(taskId);
      this.trainer.forget(taskId);
    }
    for (const entry of stored) {
      this.entries.set(entry.taskId, entry);
      this.trainer.forget(entry.taskId);
    }
  }

  async run(request: UpdateRequest): Promise<UpdateResult> {
    const random = new Random(request.seed);
    const { training, heldOut } = this.split();

    // Train on, from where the last update left off (adopted or not).
    const started = performance.now();
    const parameters = this.trainingParameters(request, random);
    const report = await this.trainer.train(parameters, training, request.steps, random);
    const candidate = this.trainer.averaged(parameters);
    const trainMs = performance.now() - started;

    // Judge candidate and current on the same held-out tasks.
    const judged = performance.now();
    const candidateHeldOutLoss = await this.judge(heldOut, (K) =>
      this.trainer.evaluate(candidate, heldOut, K),
    );
    const currentHeldOutLoss = await this.judge(heldOut, (K) =>
      request.current
        ? this.trainer.evaluate(parameterSet(request.current), heldOut, K)
        : this.evaluateColdStart(request.coldStart, heldOut, K),
    );

    return {
      candidate: [...candidate.values()],
      report,
      bankSize: this.entries.size,
      ...(candidateHeldOutLoss !== undefined && { candidateHeldOutLoss }),
      ...(currentHeldOutLoss !== undefined && { currentHeldOutLoss }),
      heldOutSize: heldOut.length,
      trainMs,
      judgeMs: performance.now() - judged,
    };
  }

  /**
   * The parameters meta-training goes on with. A rejected candidate is not thrown away:
   * training continues from the worker's own iterate, and only what is published must
   * beat the version in use. A fresh worker (a restarted service) starts from the version
   * in use, or from fresh parameters at cold start.
   */
  private trainingParameters(request: UpdateRequest, random: Random): Map<string, Tensor> {
    if (!this.training) {
      this.training = request.current
        ? cloneParameters(parameterSet(request.current))
        : this.model.initialParameters(random.fork(), request.coldStart.theta0);
      this.trainer.resetAverage();
    }
    return this.training;
  }

  dispose(): Promise<void> {
    return this.engine.dispose();
  }

  /**
   * Held-out tasks are chosen by a hash of their task id, so a task stays on the same side
   * across updates: the judge never scores a candidate on tasks it was trained on.
   */
  private split(): { training: TrainingEntry[]; heldOut: TrainingEntry[] } {
    const ordered = [...this.entries.values()].sort(
      (a, b) => a.rememberedAt - b.rememberedAt || (a.taskId < b.taskId ? -1 : 1),
    );
    const isHeldOut = (entry: TrainingEntry) =>
      hashId(entry.taskId) % 100 < this.options.heldOutPercent;

    const heldOut = ordered
      .filter(isHeldOut)
      .sort((a, b) => (a.taskId < b.taskId ? -1 : 1))
      .slice(0, this.options.maxHeldOut);
    const held = new Set(heldOut.map((entry) => entry.taskId));
    const training = ordered.filter((entry) => !held.has(entry.taskId));
    return { training: training.length > 0 ? training : ordered, heldOut };
  }

  private async judge(
    heldOut: readonly TrainingEntry[],
    evaluate: (K: number) => Promise<number>,
  ): Promise<number | undefined> {
    if (heldOut.length === 0) return undefined;
    let total = 0;
    for (const K of this.options.judgeSteps) total += await evaluate(K);
    return total / this.options.judgeSteps.length;
  }

  private async evaluateColdStart(
    coldStart: UpdateRequest['coldStart'],
    tasks: readonly TrainingEntry[],
    K: number,
  ): Promise<number> {
    const theta0 = tasks.map(() => coldStart.theta0);
    const thetas =
      K === 0
        ? theta0
        : (
            await this.engine.adaptBatch(this.model.spec, {
              theta0,
              support: tasks.map((task) => task.support),
              steps: K,
              learningRate: coldStart.learningRate,
            })
          ).map((result) => result.theta);
    const results = await this.engine.evaluateBatch(
      this.model.spec,
      thetas,
      tasks.map((task) => task.query),
    );
    return results.reduce((sum, result) => sum + result.loss, 0) / results.length;
  }
}

/** FNV-1a, 32 bits: a stable, well-spread hash of a task id. */
export function hashId(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
