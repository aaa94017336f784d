import { AllmapError } from '../errors.js';

/**
 * An argument the learner refuses: a bank capacity below one, an episode of another
 * family, a meta version that does not fit the family's architecture. Retrying the same
 * call cannot help.
 */
export class LearnerInputError extends AllmapError {
  constructor(
    /** What was wrong, as the caller would name it: `bank capacity`, `episodes[2].family`. */
    readonly argument: string,
    readonly received: string,
    readonly allowed: string,
  ) {
    super(`${argument}: received ${received}; allowed ${allowed}`);
  }
}

/**
 * A meta-update that could not finish: its worker died or reported a failure. The
 * current meta version stays in use; a later update may succeed, so it is retriable.
 */
export class MetaUpdateError extends AllmapError {
  constructor(
    readonly family: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(`meta-update of family ${family} failed: ${message}`, {
      cause: options.cause,
      isRetriable: true,
    });
  }
}
