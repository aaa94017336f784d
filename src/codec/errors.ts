import { AllmapError } from '../errors.js';

/** Where a message was read from: Kafka's coordinates, also used by the embedded log. */
export interface MessageLocation {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** Why a message could not be decoded; the dead-letter topic records this code. */
export type DecodeReason =
  | 'missing-schema-header'
  | 'malformed-schema-header'
  | 'wrong-schema'
  | 'unknown-schema'
  | 'unresolvable-schema'
  | 'truncated'
  | 'trailing-bytes'
  | 'invalid-union-branch'
  | 'invalid-bytes';

export interface DecodeErrorDetails {
  readonly reason: DecodeReason;
  /** The schema the reader expected (`Episode`, ...). */
  readonly schema: string;
  readonly location: MessageLocation;
  /** The message's schema header as received, when it had one. */
  readonly header?: string;
  readonly byteLength: number;
  readonly detail: string;
  readonly cause?: unknown;
}

/**
 * A message whose bytes cannot become a record. Not retriable: the same bytes fail the
 * same way, so the message belongs on the dead-letter topic with its original bytes.
 */
export class DecodeError extends AllmapError {
  readonly reason: DecodeReason;
  readonly schema: string;
  readonly location: MessageLocation;
  readonly header: string | undefined;
  readonly byteLength: number;

  constructor(details: DecodeErrorDetails) {
    const { topic, partition, offset } = details.location;
    super(
      `cannot decode ${details.schema} from topic ${topic} partition ${partition} offset ${offset} ` +
        `(${details.reason}, ${details.byteLength} bytes): ${details.detail}`,
      { cause: details.cause },
    );
    this.reason = details.reason;
    this.schema = details.schema;
    this.location = details.location;
    this.header = details.header;
    this.byteLength = details.byteLength;
  }
}

/** A record that does not match its schema: a programming error on the writing side. */
export class EncodeError extends AllmapError {
  constructor(
    readonly schema: string,
    readonly path: string,
    readonly received: unknown,
    expected: string,
  ) {
    super(
      `cannot encode ${schema}: field ${path || '(root)'} expected ${expected}, received ${show(received)}`,
    );
  }
}

/** A schema file or a learned writer schema that allmap cannot use. */
export class SchemaError extends AllmapError {}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of ${value.byteLength} bytes`;
  const text = (() => {
    try {
      return JSON.stringify(value) ?? String(value);
    } catch {
      return String(value);
    }
  })();
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
