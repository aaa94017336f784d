import { AllmapError } from '../errors.js';
import type { Episode, LabelledSet, Targets } from './episode.js';
import { episodeByteSize, rowCount } from './episode.js';
import { type Family, findFamily, outputWidth } from './families.js';

/** Why an episode was refused; the dead-letter topic records this code. */
export type EpisodeValidationReason =
  | 'non-finite'
  | 'wrong-dimensions'
  | 'empty-support'
  | 'empty-query'
  | 'label-out-of-range'
  | 'oversized'
  | 'unknown-family';

export const EPISODE_VALIDATION_REASONS: readonly EpisodeValidationReason[] = [
  'non-finite',
  'wrong-dimensions',
  'empty-support',
  'empty-query',
  'label-out-of-range',
  'oversized',
  'unknown-family',
];

/** An episode that cannot be adapted. Retrying cannot help: the episode itself is wrong. */
export class EpisodeValidationError extends AllmapError {
  constructor(
    readonly reason: EpisodeValidationReason,
    readonly taskId: string,
    /** What was received and what was allowed, without the task id. */
    readonly detail: string,
  ) {
    super(`episode of task ${JSON.stringify(taskId)} refused (${reason}): ${detail}`);
  }
}

/** Bounds that keep one episode from taking an unfair share of memory and time. */
export interface EpisodeLimits {
  readonly maxSupportRows: number;
  readonly maxQueryRows: number;
  /** Bytes of numbers in memory (inputs plus targets of both sets). */
  readonly maxBytes: number;
}

export const defaultEpisodeLimits: EpisodeLimits = Object.freeze({
  maxSupportRows: 10_000,
  maxQueryRows: 10_000,
  maxBytes: 16 * 1024 * 1024,
});

type SetName = 'support' | 'query';

/**
 * Checks that an episode fits its family and the limits, and returns its family.
 * Throws `EpisodeValidationError` naming what was received and what was allowed.
 * Cheap checks (family, sizes, dimensions) run before the scans over every value.
 */
export function validateEpisode(
  episode: Episode,
  limits: EpisodeLimits = defaultEpisodeLimits,
): Family {
  const family = findFamily(episode.family);
  if (!family) {
    const known = 'sinusoid or fashion-mnist-<N>way with N from 2 to 10';
    throw refuser(episode)(
      'unknown-family',
      `family ${JSON.stringify(episode.family)} is not known; allowed: ${known}`,
    );
  }

  if (!Number.isFinite(episode.producedAt)) {
    throw refuser(episode)('non-finite', `producedAt is ${episode.producedAt}; it must be finite`);
  }

  checkSize(episode, limits);
  checkShape(episode, 'support', family);
  checkShape(episode, 'query', family);

  checkValues(episode, 'support');
  checkValues(episode, 'query');
  return family;
}

function checkSize(episode: Episode, limits: EpisodeLimits): void {
  const refuse = refuser(episode);
  const bytes = episodeByteSize(episode);
  if (bytes > limits.maxBytes) {
    throw refuse('oversized', `it holds ${bytes} bytes of values; at most ${limits.maxBytes}`);
  }

  const supportRows = rowCount(episode.support);
  const queryRows = rowCount(episode.query);
  if (supportRows > limits.maxSupportRows) {
    throw refuse(
      'oversized',
      `support set has ${supportRows} rows; at most ${limits.maxSupportRows}`,
    );
  }
  if (queryRows > limits.maxQueryRows) {
    throw refuse('oversized', `query set has ${queryRows} rows; at most ${limits.maxQueryRows}`);
  }
}

function checkShape(episode: Episode, name: SetName, family: Family): void {
  const refuse = refuser(episode);
  const set = episode[name];
  // An empty set says nothing of its width, so emptiness is judged before the dimensions.
  if (set.inputs.length === 0) {
    throw refuse(name === 'support' ? 'empty-support' : 'empty-query', `${name} set has no rows`);
  }
  if (set.inputDim !== family.inputDim) {
    throw refuse(
      'wrong-dimensions',
      `${name} set has ${set.inputDim} inputs per row; family ${family.name} has ${family.inputDim}`,
    );
  }
  if (set.inputs.length % set.inputDim !== 0) {
    throw refuse(
      'wrong-dimensions',
      `${name} set inputs hold ${set.inputs.length} values, not a whole number of rows of ${set.inputDim}`,
    );
  }

  const rows = rowCount(set);
  if (rows === 0) {
    throw refuse(name === 'support' ? 'empty-support' : 'empty-query', `${name} set has no rows`);
  }
  checkTargetShape(episode, name, family, rows);
}

function checkTargetShape(episode: Episode, name: SetName, family: Family, rows: number): void {
  const refuse = refuser(episode);
  const targets = episode[name].targets;
  if (targets.kind !== family.kind) {
    throw refuse(
      'wrong-dimensions',
      `${name} set has ${targets.kind} targets; family ${family.name} is ${family.kind}`,
    );
  }

  const width = targets.kind === 'regression' ? targets.outputDim : targets.classCount;
  const allowed = outputWidth(family);
  if (width !== allowed) {
    const what = targets.kind === 'regression' ? 'outputs per row' : 'classes';
    throw refuse(
      'wrong-dimensions',
      `${name} set has ${width} ${what}; family ${family.name} has ${allowed}`,
    );
  }

  const targetRows = countTargetRows(targets);
  if (targetRows !== rows) {
    throw refuse(
      'wrong-dimensions',
      `${name} set has ${rows} rows of inputs but ${describeTargets(targets)}`,
    );
  }
}

function checkValues(episode: Episode, name: SetName): void {
  const refuse = refuser(episode);
  const set: LabelledSet = episode[name];
  const badInput = firstNonFinite(set.inputs);
  if (badInput >= 0) {
    throw refuse(
      'non-finite',
      `${name} set input ${badInput} (row ${Math.floor(badInput / set.inputDim)}) is ${set.inputs[badInput]}; values must be finite`,
    );
  }

  const targets = set.targets;
  if (targets.kind === 'regression') {
    const badTarget = firstNonFinite(targets.values);
    if (badTarget >= 0) {
      throw refuse(
        'non-finite',
        `${name} set target ${badTarget} is ${targets.values[badTarget]}; values must be finite`,
      );
    }
    return;
  }

  const badLabel = targets.labels.findIndex((label) => label < 0 || label >= targets.classCount);
  if (badLabel >= 0) {
    throw refuse(
      'label-out-of-range',
      `${name} set label of row ${badLabel} is ${targets.labels[badLabel]}; allowed 0 to ${targets.classCount - 1}`,
    );
  }
}

/** The index of the first NaN or infinity, or -1: a plain loop, as this runs on every value. */
function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return i;
  }
  return -1;
}

function countTargetRows(targets: Targets): number {
  if (targets.kind === 'classification') return targets.labels.length;
  return targets.values.length % targets.outputDim === 0
    ? targets.values.length / targets.outputDim
    : Number.NaN;
}

function describeTargets(targets: Targets): string {
  return targets.kind === 'classification'
    ? `${targets.labels.length} labels`
    : `${targets.values.length} target values (${targets.outputDim} per row)`;
}

function refuser(episode: Episode) {
  return (reason: EpisodeValidationReason, detail: string) =>
    new EpisodeValidationError(reason, episode.taskId, detail);
}
