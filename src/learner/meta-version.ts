import { type MetaVersionRecord, tensorFromRecord, tensorToRecord } from '../codec/index.js';
import { LearnerInputError } from './errors.js';
import { type ParameterSet, parameterSet } from './parameters.js';

/**
 * One family's meta parameters after a meta-update. Versions of a family grow by one with
 * every adopted update and are never reused; version 0 is the cold start (no generator
 * yet: initial mappings come from the seeded or shared initialisation).
 *
 * Tensors are flat vectors, one per learned map, each laid out as the engine lays out an
 * MLP's theta (layer by layer, weight `[in, out]` row-major, then bias):
 * `encoder` (phi), `generator` (psi), `generator.body` (classifiers: psi's shared body),
 * `idealEncoder` (E) and `logLearningRates` (the adaptation's rates, as logarithms).
 */
export interface MetaVersion {
  readonly family: string;
  readonly metaVersion: number;
  /** Milliseconds since the Unix epoch. */
  readonly createdAt: number;
  /** End-to-end query loss on the bank over the update's last steps. */
  readonly trainingLoss: number;
  /** Query loss on the bank's held-out slice; absent when the slice was empty. */
  readonly heldOutLoss?: number;
  /** Bank entries the update trained and judged on. */
  readonly bankSize: number;
  readonly parameters: ParameterSet;
}

/** The Avro `MetaVersion` record of a meta version (tensors as little-endian bytes). */
export function metaVersionToRecord(version: MetaVersion): MetaVersionRecord {
  return {
    family: version.family,
    metaVersion: version.metaVersion,
    createdAt: version.createdAt,
    trainingLoss: version.trainingLoss,
    heldOutLoss: version.heldOutLoss ?? null,
    bankSize: version.bankSize,
    parameters: [...version.parameters.values()].map(tensorToRecord),
  };
}

/** A meta version read back from its Avro record. */
export function metaVersionFromRecord(record: MetaVersionRecord): MetaVersion {
  if (!Number.isInteger(record.metaVersion) || record.metaVersion < 1) {
    throw new LearnerInputError('metaVersion', String(record.metaVersion), 'an integer >= 1');
  }
  return {
    family: record.family,
    metaVersion: record.metaVersion,
    createdAt: record.createdAt,
    trainingLoss: record.trainingLoss,
    ...(record.heldOutLoss !== null && { heldOutLoss: record.heldOutLoss }),
    bankSize: record.bankSize,
    parameters: parameterSet(record.parameters.map(tensorFromRecord)),
  };
}
