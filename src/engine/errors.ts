import { AllmapError } from '../errors.js';

/**
 * An argument the engine refuses before running anything: a NaN, a wrong dimension, an
 * empty support set, a label out of range. Retrying the same call cannot help.
 */
export class EngineInputError extends AllmapError {
  constructor(
    /** The argument's path, as the caller wrote it: `support[3].targets[7]`. */
    readonly argument: string,
    readonly received: string,
    readonly allowed: string,
  ) {
    super(`${argument}: received ${received}; allowed ${allowed}`);
  }
}

/** ONNX Runtime failed on a graph the engine built and validated: a defect, not bad input. */
export class EngineRuntimeError extends AllmapError {}
