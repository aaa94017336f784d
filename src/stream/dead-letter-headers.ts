/**
 * The headers of a dead-letter record. The learner writes an episode it cannot use to the
 * dead-letter topic with its original bytes as the value, its original key, and these
 * headers saying why and where it came from; `allmap tail dead-letter` reads them back.
 * Both sides take the names from here so that they cannot drift apart.
 */

/** Why the episode was refused: a dead-letter reason such as `decode` or `non-finite`. */
export const DEAD_LETTER_REASON_HEADER = 'allmap-dead-letter-reason';
/** The topic the refused episode was read from. */
export const DEAD_LETTER_SOURCE_TOPIC_HEADER = 'allmap-source-topic';
/** Its partition, as a decimal string. */
export const DEAD_LETTER_SOURCE_PARTITION_HEADER = 'allmap-source-partition';
/** Its offset, as a decimal string (offsets are 64-bit). */
export const DEAD_LETTER_SOURCE_OFFSET_HEADER = 'allmap-source-offset';
/** The error's message: what was received and what was allowed. */
export const DEAD_LETTER_ERROR_HEADER = 'allmap-error';

/** What a dead-letter record says about the episode it holds. */
export interface DeadLetterInfo {
  readonly reason: string;
  readonly sourceTopic: string;
  readonly sourcePartition: number;
  readonly sourceOffset: string;
  readonly error: string;
}

/** The headers to send with a dead-letter record. */
export function deadLetterHeaders(info: DeadLetterInfo): Record<string, string> {
  return {
    [DEAD_LETTER_REASON_HEADER]: info.reason,
    [DEAD_LETTER_SOURCE_TOPIC_HEADER]: info.sourceTopic,
    [DEAD_LETTER_SOURCE_PARTITION_HEADER]: String(info.sourcePartition),
    [DEAD_LETTER_SOURCE_OFFSET_HEADER]: info.sourceOffset,
    [DEAD_LETTER_ERROR_HEADER]: info.error,
  };
}

/**
 * Reads the headers of a consumed dead-letter record. A header that is missing (a record
 * written by hand, or by an older writer) reads as `undefined` rather than failing, so a
 * reader can still show what is there.
 */
export function readDeadLetterHeaders(
  headers: Readonly<Record<string, Buffer | string | undefined>>,
): Partial<DeadLetterInfo> {
  const text = (name: string) => headers[name]?.toString('utf8');
  const partition = text(DEAD_LETTER_SOURCE_PARTITION_HEADER);
  const parsed = partition === undefined ? Number.NaN : Number(partition);

  return {
    reason: text(DEAD_LETTER_REASON_HEADER),
    sourceTopic: text(DEAD_LETTER_SOURCE_TOPIC_HEADER),
    sourcePartition: Number.isInteger(parsed) ? parsed : undefined,
    sourceOffset: text(DEAD_LETTER_SOURCE_OFFSET_HEADER),
    error: text(DEAD_LETTER_ERROR_HEADER),
  };
}
