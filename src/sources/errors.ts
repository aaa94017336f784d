import type { EpisodeValidationReason } from '../episode/validate.js';
import { AllmapError } from '../errors.js';

/** Why a dataset file could not be used. */
export type DatasetReason = 'missing' | 'unreadable' | 'bad-magic' | 'wrong-size' | 'mismatch';

/** A dataset that is absent or damaged. Not retriable: the files must be fixed first. */
export class DatasetError extends AllmapError {
  constructor(
    readonly reason: DatasetReason,
    readonly path: string,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(`${path}: ${detail}`, options);
  }
}

/** Why a line of a JSON Lines episode file was refused. */
export type JsonlEpisodeReason = 'invalid-json' | 'invalid-format' | EpisodeValidationReason;

/** A line of a JSON Lines episode file that is not a valid episode; names the line. */
export class JsonlEpisodeError extends AllmapError {
  constructor(
    readonly reason: JsonlEpisodeReason,
    readonly source: string,
    readonly line: number,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(`${source} line ${line} (${reason}): ${detail}`, options);
  }
}
