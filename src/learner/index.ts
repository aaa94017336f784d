/**
 * The lifelong learner: the mapping encoder phi, the generator psi and the ideal-code
 * encoder E of each task family, the mapping bank, and meta-updates off the event loop.
 * See docs/learner.md.
 */
export {
  type AdaptationMetrics,
  type BankChange,
  type BankEntry,
  type BankOptions,
  MappingBank,
  type RememberOutcome,
} from './bank.js';
export { FomamlInit, type FomamlOptions, SharedInit } from './baselines.js';
export { LearnerInputError, MetaUpdateError } from './errors.js';
export {
  type Initialised,
  Learner,
  type LearnerOptions,
  type MetaUpdateOutcome,
  type RememberedTask,
  type UpdateSchedule,
} from './learner.js';
export { type MetaVersion, metaVersionFromRecord, metaVersionToRecord } from './meta-version.js';
export type { Gradients, MetaModel, MetaParameters } from './model.js';
export { createMetaModel, defaultMetaModelConfig, type MetaModelConfig } from './models.js';
export { type ParameterSet, parameterSet, type Tensor } from './parameters.js';
export { type EngineSet, toEngineSet } from './sets.js';
export { distanceRankCorrelation, type Estimate, estimateMean } from './stats.js';
export type { TrainerOptions, TrainingReport } from './trainer.js';
export type { UpdatePlacement } from './update-runner.js';
