import {
  initialiseTheta,
  isClassifier,
  type MappingEngine,
  type MappingSpec,
} from '../../engine/index.js';
import type { Episode } from '../../episode/episode.js';
import type { Logger } from '../../log/logger.js';
import { Random } from '../../util/random.js';
import type { BankEntry } from '../bank.js';
import { FomamlInit, SharedInit } from '../baselines.js';
import { Learner, type MetaUpdateOutcome } from '../learner.js';
import type { TrainerOptions } from '../trainer.js';
import { type EvalTask, evalTask, type InitMethod } from './meta-test.js';
import type { UpdateRecord } from './report.js';

/** What the stream runs on: the same settings the live service would use. */
export interface StreamerOptions {
  readonly family: string;
  readonly spec: MappingSpec;
  readonly seed: number;
  readonly adapt: { readonly steps: number; readonly learningRate: number };
  readonly bankCapacity: number;
  readonly everyEpisodes: number;
  readonly stepsPerUpdate: number;
  readonly codeDim: number;
  readonly initialRate: number;
  readonly trainer: Partial<TrainerOptions>;
  readonly sharedRate: number;
  /** First-order MAML baseline settings; no such baseline when absent. */
  readonly fomaml?: ConstructorParameters<typeof FomamlInit>[3];
  readonly bankGroupOf?: (entry: BankEntry) => string;
  readonly log: Logger;
}

/**
 * Streams meta-training episodes through allmap's learner as the live service would
 * (initialise, adapt, judge on the query set, remember, meta-update on schedule), and
 * through the baselines beside it, on one engine.
 *
 * Meta-updates run in the learner's worker thread while the stream goes on. For a run to
 * be repeatable, an update's candidate is applied at a fixed point: when the next update
 * is due (`everyEpisodes` later), the stream waits for the one in flight, applies it if
 * it was adopted, and starts the next. The live service applies as soon as one is ready.
 */
export class Streamer {
  readonly learner: Learner;
  readonly shared: SharedInit;
  readonly fomaml?: FomamlInit;
  readonly seeded: Float32Array;
  readonly updates: UpdateRecord[] = [];
  private pending?: { promise: Promise<MetaUpdateOutcome>; atEpisode: number };
  private tick = 0;
  episodesSeen = 0;
  waitMs = 0;

  constructor(
    private readonly engine: MappingEngine,
    private readonly options: StreamerOptions,
  ) {
    this.seeded = initialiseTheta(options.spec, new Random(options.seed));
    this.learner = new Learner({
      family: options.family,
      spec: options.spec,
      engine,
      seed: options.seed,
      adapt: options.adapt,
      schedule: {
        everyEpisodes: options.everyEpisodes,
        everySeconds: Number.POSITIVE_INFINITY,
        minBankSize: 32,
        stepsPerUpdate: options.stepsPerUpdate,
      },
      bankCapacity: options.bankCapacity,
      model: { codeDim: options.codeDim, learningRate: options.initialRate },
      trainer: options.trainer,
      coldStart: 'shared',
      sharedRate: options.sharedRate,
      ...(options.bankGroupOf && { bankGroupOf: options.bankGroupOf }),
      // A counter, not the wall clock: entries and versions then carry the same stamps
      // in every run with the same seed.
      clock: () => this.tick++,
    });
    this.shared = new SharedInit(this.seeded, options.sharedRate);
    if (options.fomaml) {
      this.fomaml = new FomamlInit(engine, options.spec, this.seeded, options.fomaml);
    }
  }

  /** The compared initialisations as they stand now. */
  methods(): InitMethod[] {
    const { learningRate } = this.options.adapt;
    const fixed = (name: string, theta: () => Float32Array): InitMethod => ({
      name,
      learningRate,
      initialise: async (tasks) => tasks.map(() => theta()),
    });
    const learner = this.learner;
    const allmap: InitMethod = {
      name: 'allmap',
      get learningRate() {
        return learner.adaptation().learningRate;
      },
      initialise: async (tasks) =>
        (await learner.initialise(tasks.map((task) => task.episode))).theta0,
    };
    return [
      fixed('random', () => this.seeded),
      fixed('shared', () => this.shared.theta),
      ...(this.fomaml ? [fixed('fomaml', () => this.fomaml!.theta)] : []),
      allmap,
    ];
  }

  /**
   * One micro-batch of the stream through the learner and the baselines. `remembered`
   * rewrites what the bank stores (W3 gives every episode of a task its own entry).
   */
  async streamBatch(
    episodes: readonly Episode[],
    remembered: (episode: Episode) => Episode = (episode) => episode,
  ): Promise<void> {
    const tasks = episodes.map(evalTask);
    await this.learn(tasks, remembered);
    await this.learnShared(tasks);
    if (this.fomaml) await this.fomaml.observe(tasks);

    this.episodesSeen += episodes.length;
    await this.schedule();
  }

  /** Waits for the update in flight and applies it: the stream's end, or a checkpoint. */
  async settle(): Promise<void> {
    if (!this.pending) return;
    const started = performance.now();
    const { promise, atEpisode } = this.pending;
    this.pending = undefined;
    this.record(await promise, atEpisode);
    this.waitMs += performance.now() - started;
  }

  close(): Promise<void> {
    return this.learner.close();
  }

  private async learn(tasks: readonly EvalTask[], remembered: (episode: Episode) => Episode) {
    const started = performance.now();
    const { theta0 } = await this.learner.initialise(tasks.map((task) => task.episode));
    const { steps, learningRate } = this.learner.adaptation();
    const adapted = await this.engine.adaptBatch(this.options.spec, {
      theta0,
      support: tasks.map((task) => task.support),
      steps,
      learningRate,
    });
    const queries = tasks.map((task) => task.query);
    const before = await this.engine.evaluateBatch(this.options.spec, theta0, queries);
    const thetas = adapted.map((result) => result.theta);
    const after = await this.engine.evaluateBatch(this.options.spec, thetas, queries);
    const adaptMs = (performance.now() - started) / tasks.length;

    const metaVersion = this.learner.metaVersion;
    this.learner.remember(
      tasks.map((task, b) => ({
        episode: remembered(task.episode),
        theta: thetas[b]!,
        metaVersion,
        metrics: {
          lossBefore: before[b]!.loss,
          lossAfter: after[b]!.loss,
          ...(before[b]!.accuracy !== undefined && { accuracyBefore: before[b]!.accuracy }),
          ...(after[b]!.accuracy !== undefined && { accuracyAfter: after[b]!.accuracy }),
          steps,
          status: adapted[b]!.status === 'adapted' ? 'ok' : 'failed',
          adaptMs,
        },
      })),
    );
  }

  /** Reptile: adapt from the shared init itself, then move it toward the results. */
  private async learnShared(tasks: readonly EvalTask[]): Promise<void> {
    const theta = this.shared.theta;
    const adapted = await this.engine.adaptBatch(this.options.spec, {
      theta0: tasks.map(() => theta),
      support: tasks.map((task) => task.support),
      steps: this.options.adapt.steps,
      learningRate: this.options.adapt.learningRate,
    });
    this.shared.observe(
      adapted.filter((result) => result.status === 'adapted').map((result) => result.theta),
    );
  }

  private async schedule(): Promise<void> {
    const isDue =
      this.pending && this.episodesSeen - this.pending.atEpisode >= this.options.everyEpisodes;
    if (isDue) await this.settle();
    if (!this.pending && this.learner.shouldUpdate()) {
      this.pending = { promise: this.learner.update(), atEpisode: this.episodesSeen };
    }
  }

  private record(outcome: MetaUpdateOutcome, atEpisode: number): void {
    if (outcome.adopted) this.learner.apply(outcome.candidate);
    const { candidate, report } = outcome;
    this.updates.push({
      metaVersion: candidate.metaVersion,
      adopted: outcome.adopted,
      atEpisode,
      trainingLoss: candidate.trainingLoss,
      ...(candidate.heldOutLoss !== undefined && { heldOutLoss: candidate.heldOutLoss }),
      ...(outcome.currentHeldOutLoss !== undefined && {
        currentHeldOutLoss: outcome.currentHeldOutLoss,
      }),
      bankSize: candidate.bankSize,
      steps: report.steps,
      trainMs: outcome.trainMs,
      judgeMs: outcome.judgeMs,
      wallMs: outcome.wallMs,
    });
    this.options.log.info(
      {
        episodes: this.episodesSeen,
        metaVersion: this.learner.metaVersion,
        heldOutLoss: candidate.heldOutLoss,
        classifier: isClassifier(this.options.spec),
      },
      outcome.adopted ? 'eval: meta version applied' : 'eval: candidate not adopted',
    );
  }
}
