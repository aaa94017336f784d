import { isClassifier, type MappingEngine, type MappingSpec } from '../engine/index.js';
import { ClassifierMetaModel } from './classifier-model.js';
import type { MetaModel } from './model.js';
import { RegressionMetaModel } from './regression-model.js';

/**
 * Everything needed to build a family's meta model, as plain data: it travels to the
 * meta-update worker, and a restarted service rebuilds the same architecture from it.
 */
export interface MetaModelConfig {
  /** The task mapping of the family. */
  readonly spec: MappingSpec;
  /** d: the code length (per class for a classifier). */
  readonly codeDim: number;
  /** Hidden widths of phi's per-example MLP. */
  readonly encoderHidden: readonly number[];
  /** The adaptation rate every learned rate starts from. */
  readonly learningRate: number;
  /** Scale of the generator's initial weights (see the models). */
  readonly generatorScale: number;
}

/** The meta model of the family `config.spec` describes: classifier or regression. */
export function createMetaModel(engine: MappingEngine, config: MetaModelConfig): MetaModel {
  return isClassifier(config.spec)
    ? new ClassifierMetaModel(engine, config.spec, config)
    : new RegressionMetaModel(engine, config.spec, config);
}

/** The defaults the evaluations measured, per kind of family. */
export function defaultMetaModelConfig(
  spec: MappingSpec,
  overrides: Partial<Omit<MetaModelConfig, 'spec'>> = {},
): MetaModelConfig {
  const defaults = isClassifier(spec)
    ? { codeDim: 64, encoderHidden: [128], learningRate: 0.01, generatorScale: 0.1 }
    : { codeDim: 32, encoderHidden: [64, 64], learningRate: 0.01, generatorScale: 0.1 };
  return { spec, ...defaults, ...overrides };
}
