/**
 * The stream's one door into `src/learner`: everything the pipeline asks of the lifelong
 * learner goes through `LearnerPort`, so a change of the learner's API changes this file
 * only. One `Learner` per task family, created when the family is first seen.
 *
 * The learner's own `initialise` runs phi and psi with whatever meta version is in use when
 * it is called. The stream encodes and generates in two stages and must never switch
 * versions between them, so the port runs phi and psi itself, with a meta model built from
 * the same config the learner builds its own from, and the version a batch fixed when it
 * started (`startBatch`).
 */
import {
  type EngineOptions,
  fashionSpec,
  type LearningRate,
  type MappingEngine,
  type MappingSpec,
  type Optimizer,
  sinusoidSpec,
} from '../engine/index.js';
import type { Family } from '../episode/families.js';
import { findFamily } from '../episode/families.js';
import type { BankChange, BankEntry } from '../learner/bank.js';
import { LearnerInputError } from '../learner/errors.js';
import { Learner, type MetaUpdateOutcome, type RememberedTask } from '../learner/learner.js';
import type { MetaVersion } from '../learner/meta-version.js';
import type { MetaModel } from '../learner/model.js';
import { createMetaModel, defaultMetaModelConfig } from '../learner/models.js';
import type { ParameterSet } from '../learner/parameters.js';
import type { EngineSet } from '../learner/sets.js';
import type { UpdatePlacement } from '../learner/update-runner.js';

export type { BankChange, BankEntry } from '../learner/bank.js';
export type { MetaUpdateOutcome, RememberedTask } from '../learner/learner.js';
export type { MetaVersion } from '../learner/meta-version.js';
export { metaVersionFromRecord, metaVersionToRecord } from '../learner/meta-version.js';
export { toEngineSet } from '../learner/sets.js';

/** What the port needs from the config, in the learner's terms. */
export interface LearnerSettings {
  readonly adapt: {
    readonly steps: number;
    /** One rate for every family when set; otherwise each family's `coldStartRate`. */
    readonly learningRate?: number;
    readonly optimizer: 'sgd' | 'adam';
  };
  readonly meta: {
    readonly everyEpisodes: number;
    readonly everySeconds: number;
    readonly codeDim: number;
    readonly bankCapacity: number;
    readonly minBankSize: number;
    readonly stepsPerUpdate: number;
  };
  /** Options of each meta-update worker's own engine. */
  readonly updateEngine: EngineOptions;
  /** Fixes the seeded initialisation, the bank's draws and every meta-update. */
  readonly seed: number;
  /** Default `worker`: meta-updates run off the event loop. */
  readonly placement?: UpdatePlacement;
}

/**
 * The meta version and adaptation settings one micro-batch uses from its first stage to
 * its last, whatever version arrives meanwhile.
 */
export interface BatchContext {
  readonly family: string;
  readonly spec: MappingSpec;
  /** 0 before the first meta version (cold start). */
  readonly metaVersion: number;
  /** The version's phi and psi; absent at cold start. */
  readonly parameters?: ParameterSet;
  /** The shared initial mapping every task starts from at cold start. */
  readonly sharedInit: Float32Array;
  readonly steps: number;
  readonly learningRate: LearningRate;
  readonly optimizer: Optimizer;
}

interface FamilyLearner {
  readonly family: Family;
  readonly learner: Learner;
  /** The same architecture as the learner's own meta model, for phi and psi by version. */
  readonly model: MetaModel;
}

/**
 * Splits a batch's bank changes by task. The bank makes room for a task (drops another)
 * right before it stores it, so the drops since the previous store belong to the next one;
 * a task the bank skipped caused no change.
 */
function attribute(
  tasks: readonly RememberedTask[],
  changes: readonly BankChange[],
): BankChange[][] {
  const byTask = new Map<string, BankChange[]>();
  let pending: BankChange[] = [];
  for (const change of changes) {
    pending.push(change);
    if (change.kind !== 'stored') continue;
    const taskId = change.entry.taskId;
    byTask.set(taskId, [...(byTask.get(taskId) ?? []), ...pending]);
    pending = [];
  }
  return tasks.map((task) => byTask.get(task.episode.taskId) ?? []);
}

/**
 * The plain-SGD rate each kind of family adapts with before its first meta version, unless
 * `adapt.learningRate` sets one rate for all. W1's He-initialised MLP sees inputs in
 * [-5, 5], and the shared initial mapping (the running mean of adapted mappings) keeps
 * steep first-layer weights: at 0.01 the first layer overshoots and adaptation makes the
 * query loss worse on average; 0.0003 lowers it (test/unit/stream-cold-start.test.ts).
 * Fashion-MNIST's cross-entropy adapts well from 0.01 to 0.1.
 */
const COLD_START_RATES: Record<Family['kind'], number> = {
  regression: 0.0003,
  classification: 0.01,
};

/** The adaptation rate a family starts with: `configured` when given, else its default. */
export function coldStartRate(family: Family, configured?: number): number {
  return configured ?? COLD_START_RATES[family.kind];
}

/** The task mapping of a family: the MLP every adapted mapping of it shares. */
export function specOf(family: Family): MappingSpec {
  return family.kind === 'regression' ? sinusoidSpec : fashionSpec(family.classCount);
}

export class LearnerPort {
  private readonly learners = new Map<string, FamilyLearner>();
  /** Bank changes are collected only while the stream itself remembers tasks. */
  private collecting: BankChange[] | undefined;

  constructor(
    private readonly engine: MappingEngine,
    private readonly settings: LearnerSettings,
  ) {}

  /** Families with a learner, in the order they were first seen. */
  families(): string[] {
    return [...this.learners.keys()];
  }

  /** The meta version a family adapts with now; 0 at cold start or when never seen. */
  metaVersion(family: string): number {
    return this.learners.get(family)?.learner.metaVersion ?? 0;
  }

  bankSize(family: string): number {
    return this.learners.get(family)?.learner.bank.size ?? 0;
  }

  /** Fixes the meta version and settings of a batch that starts now. */
  startBatch(family: Family): BatchContext {
    const { learner, model } = this.learnerOf(family);
    const version = learner.current;
    const { steps } = this.settings.adapt;
    const optimizer: Optimizer = { kind: this.settings.adapt.optimizer };
    const base = { family: family.name, spec: learner.spec, steps, optimizer };

    if (version === undefined) {
      const learningRate = coldStartRate(family, this.settings.adapt.learningRate);
      return { ...base, metaVersion: 0, sharedInit: learner.sharedInit, learningRate };
    }
    // Meta-SGD's learned per-parameter rates travel inside the meta version.
    const perParameter = model.learningRates(version.parameters);
    return {
      ...base,
      metaVersion: version.metaVersion,
      parameters: version.parameters,
      sharedInit: learner.sharedInit,
      learningRate: { perParameter },
    };
  }

  /** phi: one code z per support set; empty codes at cold start. */
  async encode(context: BatchContext, supports: readonly EngineSet[]): Promise<Float32Array[]> {
    if (context.parameters === undefined) return supports.map(() => new Float32Array(0));
    return this.learners.get(context.family)!.model.encode(context.parameters, supports);
  }

  /** psi: one initial mapping theta0 per code; the shared initial mapping at cold start. */
  async generate(context: BatchContext, z: readonly Float32Array[]): Promise<Float32Array[]> {
    if (context.parameters === undefined) return z.map(() => context.sharedInit);
    return this.learners.get(context.family)!.model.generate(context.parameters, z);
  }

  /**
   * Offers adapted tasks to the family's bank; returns, per task, the bank changes its
   * remembering caused (itself stored, and any task it displaced), for the bank topic.
   */
  remember(family: Family, tasks: readonly RememberedTask[]): BankChange[][] {
    const { learner } = this.learnerOf(family);
    const changes: BankChange[] = [];
    this.collecting = changes;
    try {
      // One call per batch: the learner forwards the bank's changes to its worker at once.
      learner.remember(tasks);
    } finally {
      this.collecting = undefined;
    }
    return attribute(tasks, changes);
  }

  /**
   * Switches a family to `version` for every batch that starts after this call; a version
   * no newer than the one in use is ignored (returns false). Throws `LearnerInputError`
   * for a version of an unknown family or another architecture.
   */
  apply(version: MetaVersion): boolean {
    return this.learnerOf(this.familyNamed(version.family)).learner.apply(version);
  }

  /** Refills the banks from entries read back from the bank topic, whatever their family. */
  restore(entries: readonly BankEntry[]): void {
    const byFamily = new Map<string, BankEntry[]>();
    for (const entry of entries) {
      byFamily.set(entry.family, [...(byFamily.get(entry.family) ?? []), entry]);
    }
    for (const [name, familyEntries] of byFamily) {
      const family = findFamily(name);
      if (family !== undefined) this.learnerOf(family).learner.restore(familyEntries);
    }
  }

  /** True when the family's schedule calls for a meta-update and none is running. */
  isUpdateDue(family: string): boolean {
    return this.learners.get(family)?.learner.shouldUpdate() ?? false;
  }

  /** Runs one meta-update off the event loop; the candidate is not applied. */
  update(family: string): Promise<MetaUpdateOutcome> {
    return this.learnerOf(this.familyNamed(family)).learner.update();
  }

  /** Stops every meta-update worker. */
  async close(): Promise<void> {
    await Promise.all([...this.learners.values()].map(({ learner }) => learner.close()));
  }

  private familyNamed(name: string): Family {
    const family = findFamily(name);
    if (family !== undefined) return family;
    throw new LearnerInputError('family', JSON.stringify(name), 'a known task family');
  }

  private learnerOf(family: Family): FamilyLearner {
    const known = this.learners.get(family.name);
    if (known !== undefined) return known;

    const created = this.createLearner(family);
    this.learners.set(family.name, created);
    return created;
  }

  private createLearner(family: Family): FamilyLearner {
    const { adapt, meta } = this.settings;
    const spec = specOf(family);
    const learningRate = coldStartRate(family, adapt.learningRate);
    // Meta-SGD's learned rates start where they always did unless a rate is configured: the
    // meta-update learns them, so the cold-start rate need not constrain them.
    const modelOverrides = {
      codeDim: meta.codeDim,
      learningRate: adapt.learningRate ?? defaultMetaModelConfig(spec).learningRate,
    };
    const learner = new Learner({
      family: family.name,
      spec,
      engine: this.engine,
      seed: this.settings.seed,
      adapt: { steps: adapt.steps, learningRate },
      schedule: {
        everyEpisodes: meta.everyEpisodes,
        everySeconds: meta.everySeconds,
        minBankSize: meta.minBankSize,
        stepsPerUpdate: meta.stepsPerUpdate,
      },
      bankCapacity: meta.bankCapacity,
      model: modelOverrides,
      updateEngine: this.settings.updateEngine,
      ...(this.settings.placement && { placement: this.settings.placement }),
    });
    learner.bank.onChange((change) => this.collecting?.push(change));

    // Built exactly as the learner builds its own (see Learner's constructor).
    const config = defaultMetaModelConfig(spec, modelOverrides);
    return { family, learner, model: createMetaModel(this.engine, config) };
  }
}
