/**
 * The first two stages: read an episode from its record, then check it fits its family.
 * Neither ever throws for bad input: what cannot be used becomes a `Rejected` item with the
 * dead-letter reason, and the stream goes on.
 */
import { map, type OperatorFunction } from 'rxjs';
import {
  type AvroCodec,
  DecodeError,
  type DecodeReason,
  decodeEpisode,
} from '../../codec/index.js';
import {
  type EpisodeLimits,
  EpisodeValidationError,
  validateEpisode,
} from '../../episode/validate.js';
import type { DeadLetterReason, LearnerMetrics } from '../../observability/metrics.js';
import { TombstoneError } from '../errors.js';
import type { Accepted, Checked, Decoded, Inbound, Rejected } from '../types.js';

/** Decode reasons that mean "cannot find or use the writer schema", not "broken bytes". */
const SCHEMA_REASONS: ReadonlySet<DecodeReason> = new Set([
  'missing-schema-header',
  'malformed-schema-header',
  'wrong-schema',
  'unknown-schema',
  'unresolvable-schema',
]);

/** The dead-letter reason of a decode failure. */
export function decodeReasonOf(error: DecodeError): DeadLetterReason {
  return SCHEMA_REASONS.has(error.reason) ? 'schema' : 'decode';
}

/** decode: Avro bytes (with their schema header) into an episode. */
export function decodeEpisodes(
  codec: AvroCodec,
  metrics?: LearnerMetrics,
): OperatorFunction<Inbound, Decoded | Rejected> {
  return map((inbound) => {
    const stop = metrics?.startStage('decode') ?? startClock();
    const checked = decodeOne(codec, inbound);
    const ms = stop() * 1000;
    metrics?.recordConsumed(checked.kind === 'decoded' ? checked.episode.family : 'unknown');
    return { ...checked, stageMs: { decode: ms } };
  });
}

function decodeOne(codec: AvroCodec, inbound: Inbound): Decoded | Rejected {
  const { record } = inbound;
  const position = { topic: record.topic, partition: record.partition, offset: record.offset };
  if (record.value === null) {
    return reject(inbound, 'tombstone', new TombstoneError(position));
  }

  try {
    const episode = decodeEpisode(record.value, record.headers, position, codec);
    return { kind: 'decoded', inbound, episode, stageMs: {} };
  } catch (error) {
    if (error instanceof DecodeError) return reject(inbound, decodeReasonOf(error), error);
    throw error;
  }
}

/** validate: the episode against its family and the size limits. */
export function validateEpisodes(
  limits: EpisodeLimits,
  metrics?: LearnerMetrics,
): OperatorFunction<Decoded | Rejected, Checked> {
  return map((item) => {
    if (item.kind === 'rejected') return item;

    const stop = metrics?.startStage('validate') ?? startClock();
    const checked = validateOne(item, limits);
    return { ...checked, stageMs: { ...item.stageMs, validate: stop() * 1000 } };
  });
}

function validateOne(item: Decoded, limits: EpisodeLimits): Accepted | Rejected {
  try {
    const family = validateEpisode(item.episode, limits);
    const acceptedAt = performance.now();
    return { ...item, kind: 'accepted', family, acceptedAt };
  } catch (error) {
    if (!(error instanceof EpisodeValidationError)) throw error;
    // Validation reasons and dead-letter reasons share their names.
    return { ...reject(item.inbound, error.reason, error), family: item.episode.family };
  }
}

function reject(inbound: Inbound, reason: DeadLetterReason, error: Error): Rejected {
  return { kind: 'rejected', inbound, reason, error, stageMs: {} };
}

/** A stopwatch like `LearnerMetrics.startStage` that records nowhere. */
export function startClock(): () => number {
  const started = performance.now();
  return () => (performance.now() - started) / 1000;
}
