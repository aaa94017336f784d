import {
  type EngineOptions,
  initialiseTheta,
  type LearningRate,
  type MappingEngine,
  type MappingSpec,
} from '../engine/index.js';
import type { Episode } from '../episode/episode.js';
import { getLogger } from '../log/logger.js';
import { Random } from '../util/random.js';
import {
  type AdaptationMetrics,
  type BankChange,
  type BankEntry,
  MappingBank,
  type RememberOutcome,
} from './bank.js';
import { SharedInit } from './baselines.js';
import { LearnerInputError } from './errors.js';
import type { MetaVersion } from './meta-version.js';
import type { MetaModel } from './model.js';
import { createMetaModel, defaultMetaModelConfig, type MetaModelConfig } from './models.js';
import { checkCompatible, type ParameterSet, parameterSet } from './parameters.js';
import { toEngineSet } from './sets.js';
import type { TrainerOptions, TrainingReport } from './trainer.js';
import type { TrainingEntry, UpdateCoreOptions, UpdateResult } from './update-core.js';
import { startUpdateRunner, type UpdatePlacement, type UpdateRunner } from './update-runner.js';

/** When a meta-update is due: after this many new episodes, or this many seconds. */
export interface UpdateSchedule {
  readonly everyEpisodes: number;
  /** `Infinity` for an episode-count schedule alone (what makes a run repeatable). */
  readonly everySeconds: number;
  /** No update before the bank holds this many entries. */
  readonly minBankSize: number;
  /** Meta-training steps in one update. */
  readonly stepsPerUpdate: number;
}

export interface LearnerOptions {
  readonly family: string;
  readonly spec: MappingSpec;
  /** Runs phi and psi for `initialise`, on the caller's thread. */
  readonly engine: MappingEngine;
  /** Fixes the seeded initialisation, the bank's draws and every meta-update. */
  readonly seed: number;
  /** The adaptation the stream runs before the first meta version (and baselines use). */
  readonly adapt: { readonly steps: number; readonly learningRate: number };
  readonly schedule: UpdateSchedule;
  readonly bankCapacity: number;
  /** Groups for the bank's quotas; the family unless given (see MappingBank). */
  readonly bankGroupOf?: (entry: BankEntry) => string;
  /**
   * Sizes of phi, psi and E (defaults per kind of family, see models.ts), and the rate the
   * learned per-parameter rates start from (the adaptation's rate unless given).
   */
  readonly model?: Partial<Omit<MetaModelConfig, 'spec'>>;
  readonly trainer?: Partial<TrainerOptions>;
  /**
   * Initial mappings before the first meta version: `seeded` (one seeded initialisation
   * for every task) or `shared` (that initialisation, moved toward every remembered
   * theta*: Reptile's running move). Default `shared`.
   */
  readonly coldStart?: 'seeded' | 'shared';
  /** The shared initialisation's step toward each batch's mean theta*; default 0.1. */
  readonly sharedRate?: number;
  /** Default `worker`. */
  readonly placement?: UpdatePlacement;
  /** Options of the meta-update worker's own engine. */
  readonly updateEngine?: EngineOptions;
  /** Percent of the bank held out to judge candidates; default 10. */
  readonly heldOutPercent?: number;
  /** Milliseconds since the Unix epoch; `Date.now` unless given (give one to repeat a run). */
  readonly clock?: () => number;
}

/** An adapted task handed back to the learner after the stream published its model. */
export interface RememberedTask {
  readonly episode: Episode;
  /** theta*, the adapted mapping. */
  readonly theta: Float32Array;
  readonly metrics: AdaptationMetrics;
  /** The meta version whose initial mapping was adapted (0 at cold start). */
  readonly metaVersion: number;
}

/** What a meta-update produced; `adopted` says whether the candidate should be applied. */
export interface MetaUpdateOutcome {
  readonly adopted: boolean;
  readonly candidate: MetaVersion;
  /** Held-out loss of the version in use (or of cold start) on the same slice. */
  readonly currentHeldOutLoss?: number;
  readonly report: TrainingReport;
  /** Milliseconds the worker spent training, and judging on the held-out slice. */
  readonly trainMs: number;
  readonly judgeMs: number;
  /** Milliseconds from the request to the result, as the caller's thread saw it. */
  readonly wallMs: number;
}

/** Initial mappings for a batch of episodes, and the code z each was generated from. */
export interface Initialised {
  readonly theta0: Float32Array[];
  /** Empty arrays before the first meta version: no encoder has been trained yet. */
  readonly z: Float32Array[];
}

const defaultTrainer: TrainerOptions = {
  batchSize: 32,
  adaptSteps: [0, 1, 5, 10],
  outerLearningRate: 1e-3,
  idealCodeWeight: 0.05,
  idealCodeEvery: 4,
  maxQueryRows: 32,
  learningRateBounds: [1e-4, 1],
  maxGradientNorm: 10,
  averageDecay: 0.99,
};

/**
 * The lifelong learner of one task family: generates initial mappings for episodes,
 * remembers adapted ones in the mapping bank, and refits its meta parameters off the
 * event loop on a schedule.
 *
 * How the stream drives it, batch after batch:
 * ```ts
 * const { theta0, z } = await learner.initialise(episodes);
 * const { steps, learningRate } = learner.adaptation();
 * // adapt with the engine, evaluate, export and publish ...
 * learner.remember(results);
 * if (learner.shouldUpdate()) learner.update().then((outcome) => (next = outcome));
 * // between batches:
 * if (next?.adopted) learner.apply(next.candidate);
 * ```
 * No method mutates its arguments. `update` never applies its candidate: the caller
 * chooses the moment (between batches), and instances that follow the meta topic apply
 * versions another instance published.
 */
export class Learner {
  readonly family: string;
  readonly spec: MappingSpec;
  readonly bank: MappingBank;
  private readonly log = getLogger('learner.meta');
  private readonly model: MetaModel;
  private readonly modelConfig: MetaModelConfig;
  private readonly runner: UpdateRunner;
  private readonly shared: SharedInit;
  private readonly clock: () => number;
  private version?: MetaVersion;
  private changes: { stored: TrainingEntry[]; dropped: string[] } = { stored: [], dropped: [] };
  private episodesSinceUpdate = 0;
  private lastUpdateAt: number;
  private updatesStarted = 0;
  private inFlight = false;
  /** Parameters of the right names and shapes, to check versions against. */
  private expectedParameters?: ParameterSet;

  constructor(private readonly options: LearnerOptions) {
    this.family = options.family;
    this.spec = options.spec;
    this.clock = options.clock ?? Date.now;
    this.lastUpdateAt = this.clock();

    const seeded = initialiseTheta(options.spec, new Random(options.seed));
    this.shared = new SharedInit(
      seeded,
      options.coldStart === 'seeded' ? 0 : (options.sharedRate ?? 0.1),
    );
    this.modelConfig = defaultMetaModelConfig(options.spec, {
      learningRate: options.adapt.learningRate,
      ...options.model,
    });
    this.model = createMetaModel(options.engine, this.modelConfig);

    this.bank = new MappingBank({
      capacity: options.bankCapacity,
      seed: options.seed + 1,
      ...(options.bankGroupOf && { groupOf: options.bankGroupOf }),
    });
    this.bank.onChange((change) => this.follow(change));
    this.runner = startUpdateRunner(
      options.family,
      this.coreOptions(),
      options.placement ?? 'worker',
    );
  }

  /** The meta version in use; 0 before the first one (cold start). */
  get metaVersion(): number {
    return this.version?.metaVersion ?? 0;
  }

  /** The meta version in use, with its parameters; undefined at cold start. */
  get current(): MetaVersion | undefined {
    return this.version;
  }

  /** The shared initial mapping (cold start, and the fallback if a version is withdrawn). */
  get sharedInit(): Float32Array {
    return this.shared.theta;
  }

  /** How the stream should adapt: the learned per-parameter rates once a version exists. */
  adaptation(): { steps: number; learningRate: LearningRate } {
    const steps = this.options.adapt.steps;
    if (!this.version) return { steps, learningRate: this.options.adapt.learningRate };
    return {
      steps,
      learningRate: { perParameter: this.model.learningRates(this.version.parameters) },
    };
  }

  /** theta0 = psi(phi(support)) for each episode, or the cold-start mapping before version 1. */
  async initialise(episodes: readonly Episode[]): Promise<Initialised> {
    for (const [i, episode] of episodes.entries()) this.checkFamily(`episodes[${i}]`, episode);
    if (episodes.length === 0) return { theta0: [], z: [] };

    if (!this.version) {
      const theta = this.shared.theta;
      return {
        theta0: episodes.map(() => theta.slice()),
        z: episodes.map(() => new Float32Array(0)),
      };
    }
    const supports = episodes.map((episode) => toEngineSet(episode.support));
    const z = await this.model.encode(this.version.parameters, supports);
    const theta0 = await this.model.generate(this.version.parameters, z);
    return { theta0, z };
  }

  /** Offers adapted tasks to the bank and moves the shared initialisation toward them. */
  remember(results: readonly RememberedTask[]): RememberOutcome[] {
    const outcomes = results.map((result, i) => {
      this.checkFamily(`results[${i}].episode`, result.episode);
      return this.bank.remember(this.entryOf(result));
    });
    const adapted = results.filter((result) => result.metrics.status === 'ok');
    this.shared.observe(adapted.map((result) => result.theta));
    this.episodesSinceUpdate += results.length;
    this.flushChanges();
    return outcomes;
  }

  /** True when an update is due and none is running. */
  shouldUpdate(now = this.clock()): boolean {
    if (this.inFlight || this.bank.size < this.options.schedule.minBankSize) return false;
    if (this.episodesSinceUpdate === 0) return false;

    const { everyEpisodes, everySeconds } = this.options.schedule;
    const isDueByCount = this.episodesSinceUpdate >= everyEpisodes;
    const isDueByTime = (now - this.lastUpdateAt) / 1000 >= everySeconds;
    return isDueByCount || isDueByTime;
  }

  /**
   * Runs one meta-update on the bank as it is now, off the event loop. Resolves with the
   * candidate and whether it beat the version in use on the held-out slice; never applies it.
   */
  async update(): Promise<MetaUpdateOutcome> {
    this.inFlight = true;
    this.episodesSinceUpdate = 0;
    this.lastUpdateAt = this.clock();
    const started = performance.now();
    const nextVersion = this.metaVersion + 1;

    try {
      const result = await this.runner.run({
        nextVersion,
        ...(this.version && { current: [...this.version.parameters.values()] }),
        coldStart: { theta0: this.shared.theta, learningRate: this.options.adapt.learningRate },
        steps: this.options.schedule.stepsPerUpdate,
        seed: this.options.seed * 7919 + ++this.updatesStarted,
      });
      return this.decide(nextVersion, result, performance.now() - started);
    } finally {
      this.inFlight = false;
    }
  }

  /**
   * Switches to `version` for every later `initialise`. A version no newer than the one in
   * use is ignored (returns false): a follower may see a version twice.
   */
  apply(version: MetaVersion): boolean {
    if (version.family !== this.family) {
      throw new LearnerInputError('meta version family', version.family, this.family);
    }
    this.expectedParameters ??= this.model.initialParameters(new Random(0), this.shared.theta);
    checkCompatible(version.parameters, this.expectedParameters);
    if (version.metaVersion <= this.metaVersion) return false;

    this.version = version;
    this.log.info(
      { family: this.family, metaVersion: version.metaVersion },
      'meta version applied',
    );
    return true;
  }

  /** Refills the bank from persisted entries (e.g. the bank topic after a restart). */
  restore(entries: readonly BankEntry[]): void {
    for (const entry of MappingBank.fromEntries(entries, {
      capacity: this.bank.capacity,
      seed: 0,
    }).toEntries()) {
      this.bank.remember(entry);
    }
    this.flushChanges();
  }

  /** Stops the meta-update worker; the learner cannot update after. */
  close(): Promise<void> {
    return this.runner.close();
  }

  private decide(version: number, result: UpdateResult, wallMs: number): MetaUpdateOutcome {
    const candidate: MetaVersion = {
      family: this.family,
      metaVersion: version,
      createdAt: this.clock(),
      trainingLoss: result.report.loss,
      ...(result.candidateHeldOutLoss !== undefined && {
        heldOutLoss: result.candidateHeldOutLoss,
      }),
      bankSize: result.bankSize,
      parameters: parameterSet(result.candidate),
    };
    const current = result.currentHeldOutLoss;
    const isWorse =
      candidate.heldOutLoss !== undefined &&
      current !== undefined &&
      candidate.heldOutLoss > current;

    const context = {
      family: this.family,
      metaVersion: version,
      trainingLoss: result.report.loss,
      heldOutLoss: candidate.heldOutLoss,
      currentHeldOutLoss: current,
      heldOutSize: result.heldOutSize,
      bankSize: result.bankSize,
      steps: result.report.steps,
      diverged: result.report.diverged,
      trainMs: Math.round(result.trainMs),
      judgeMs: Math.round(result.judgeMs),
      wallMs: Math.round(wallMs),
    };
    if (isWorse)
      this.log.warn(context, 'meta-update not adopted: worse on the held-out bank slice');
    else this.log.info(context, 'meta-update adopted');

    return {
      adopted: !isWorse,
      candidate,
      ...(current !== undefined && { currentHeldOutLoss: current }),
      report: result.report,
      trainMs: result.trainMs,
      judgeMs: result.judgeMs,
      wallMs,
    };
  }

  private entryOf(result: RememberedTask): BankEntry {
    const { episode } = result;
    return {
      taskId: episode.taskId,
      family: episode.family,
      metaVersion: result.metaVersion,
      support: episode.support,
      query: episode.query,
      theta: result.theta.slice(),
      metrics: result.metrics,
      rememberedAt: this.clock(),
    };
  }

  /** Collects bank changes; `flushChanges` forwards them to the meta-update worker at once. */
  private follow(change: BankChange): void {
    if (change.kind === 'dropped') {
      this.changes.dropped.push(change.taskId);
      return;
    }
    const { entry } = change;
    const support = toEngineSet(entry.support);
    this.changes.stored.push({
      taskId: entry.taskId,
      support,
      query: entry.query ? toEngineSet(entry.query) : support,
      theta: entry.theta,
      rememberedAt: entry.rememberedAt,
    });
  }

  private flushChanges(): void {
    const { stored, dropped } = this.changes;
    if (stored.length === 0 && dropped.length === 0) return;
    // A task stored and then dropped within one flush need not travel at all.
    const droppedIds = new Set(dropped);
    this.runner.sync(
      stored.filter((entry) => !droppedIds.has(entry.taskId)),
      dropped,
    );
    this.changes = { stored: [], dropped: [] };
  }

  private coreOptions(): UpdateCoreOptions {
    const judgeSteps = [...new Set([0, 1, this.options.adapt.steps])];
    return {
      model: this.modelConfig,
      trainer: { ...defaultTrainer, ...this.options.trainer },
      engine: this.options.updateEngine ?? {},
      heldOutPercent: this.options.heldOutPercent ?? 10,
      maxHeldOut: 256,
      judgeSteps,
    };
  }

  private checkFamily(argument: string, episode: Episode): void {
    if (episode.family !== this.family) {
      throw new LearnerInputError(`${argument}.family`, episode.family, this.family);
    }
  }
}
