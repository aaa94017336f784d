import { AllmapError } from '../errors.js';

/** Where a record was read from, as every stream error names it. */
export interface RecordPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

function where({ topic, partition, offset }: RecordPosition): string {
  return `topic ${topic} partition ${partition} offset ${offset}`;
}

/**
 * A record of the episodes topic with no value: a tombstone, which deletes a key on a
 * compacted topic but carries no episode. Not retriable: the record stays empty.
 */
export class TombstoneError extends AllmapError {
  constructor(readonly position: RecordPosition) {
    super(
      `record at ${where(position)} has a null value (a tombstone); an episode needs ` +
        'Avro bytes of the Episode schema',
    );
  }
}

/**
 * The engine could not adapt an episode even in a batch of its own; the episode goes to the
 * dead-letter topic rather than being retried forever.
 */
export class AdaptationError extends AllmapError {
  constructor(
    readonly taskId: string,
    readonly position: RecordPosition,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`adapting task ${JSON.stringify(taskId)} from ${where(position)} failed: ${reason}`, {
      cause,
    });
  }
}

/** An adaptation whose loss went non-finite or exploded: no model of it is published. */
export class DivergedError extends AllmapError {
  constructor(
    readonly taskId: string,
    readonly position: RecordPosition,
    readonly lossTrace: readonly number[],
  ) {
    const trace = lossTrace.map((loss) => loss.toPrecision(3)).join(', ');
    super(
      `adaptation of task ${JSON.stringify(taskId)} from ${where(position)} diverged: ` +
        `support loss per step [${trace}]; the model is not published`,
    );
  }
}

/**
 * Outputs that could not be delivered after the producer's retries and ours. The learner
 * stops without committing them; on restart they are read and delivered again.
 */
export class DeliveryError extends AllmapError {
  constructor(message: string, options: { cause?: unknown; isRetriable?: boolean } = {}) {
    super(message, options);
  }
}
