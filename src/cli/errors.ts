import { AllmapError } from '../errors.js';

/**
 * Failures of the command line that the person typing it can fix. `main` prints their
 * message as one line and exits with status 2.
 */

/** Options or arguments that cannot go together, or a file that cannot be read. */
export class UsageError extends AllmapError {}

/** `allmap models get` found no usable model for the task. */
export class NoModelError extends AllmapError {
  constructor(
    readonly taskId: string,
    readonly topic: string,
    detail: string,
  ) {
    super(`no model of task ${JSON.stringify(taskId)} on topic '${topic}': ${detail}`);
  }
}
