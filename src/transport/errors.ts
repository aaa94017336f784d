import { AllmapError } from '../errors.js';

/**
 * Codes a `TransportError` carries. Kafka's own error names where Kafka has one; the rest
 * name what this project's transports check themselves.
 */
export type TransportErrorCode =
  /** Another producer took over the transactional id; this one can never write again. */
  | 'PRODUCER_FENCED'
  /** The topic does not exist, or the partition is outside it. */
  | 'UNKNOWN_TOPIC_OR_PARTITION'
  /** A transaction call out of order: `begin` twice, `send` after `commit`. */
  | 'INVALID_TXN_STATE'
  /** A record or topic that cannot be written as given. */
  | 'INVALID_REQUEST'
  /** A commit or seek for a partition that is not assigned to this consumer. */
  | 'PARTITION_NOT_ASSIGNED'
  /** The transport, producer or consumer was closed. */
  | 'CLOSED'
  /** Any other error the Kafka client reports, by its Kafka name. */
  | (string & {});

/** A failure talking to the log; `code` says which, `isRetriable` whether trying again can help. */
export class TransportError extends AllmapError {
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options: { cause?: unknown; isRetriable?: boolean } = {},
  ) {
    super(message, options);
  }
}
