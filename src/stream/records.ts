/**
 * The records the learner writes, built from what the pipeline computed: the adapted model
 * (models topic), the episode's metrics (metrics topic), bank entries and their tombstones
 * (bank topic), and dead letters. Keys follow the topics' contracts: task id for models,
 * metrics and bank; the original key for a dead letter.
 */
import {
  type AdaptationMetricsRecord,
  type AvroCodec,
  type BankEntryRecord,
  bytesToFloat32,
  float32ToBytes,
  labelledSetFromRecord,
  labelledSetToRecord,
} from '../codec/index.js';
import type { EvaluateResult } from '../engine/index.js';
import { rowCount } from '../episode/episode.js';
import type { DeadLetterReason } from '../observability/metrics.js';
import type { ProducerRecord } from '../transport/index.js';
import { deadLetterHeaders } from './dead-letter-headers.js';
import type { BankChange, BankEntry } from './learner-port.js';
import type { Accepted, Inbound, StageTimes } from './types.js';

/** How one adaptation went; `lossAfter` is NaN when there is no adapted mapping. */
export interface AdaptationSummary {
  readonly before: EvaluateResult;
  readonly after: EvaluateResult;
  readonly steps: number;
  readonly isDiverged: boolean;
  readonly adaptMs: number;
}

/** The standalone model of one task, or its failure, for the models topic. */
export function adaptedModelRecord(
  codec: AvroCodec,
  item: Accepted,
  input: {
    metaVersion: number;
    onnx: Uint8Array | undefined;
    z: Float32Array;
    adaptation: AdaptationSummary;
  },
): ProducerRecord {
  const { episode } = item;
  const encoded = codec.encode('AdaptedModel', {
    taskId: episode.taskId,
    family: episode.family,
    metaVersion: input.metaVersion,
    onnx: input.onnx === undefined ? Buffer.alloc(0) : Buffer.from(input.onnx),
    z: Array.from(input.z),
    metrics: adaptationMetricsRecord(input.adaptation),
    adaptedAt: Date.now(),
  });
  return { key: episode.taskId, ...encoded };
}

/** What happened to one episode, for the metrics topic. */
export function episodeMetricsRecord(
  codec: AvroCodec,
  item: Accepted,
  input: { metaVersion: number; adaptation: AdaptationSummary; stageMs: StageTimes },
): ProducerRecord {
  const { episode } = item;
  const { before, after, steps } = input.adaptation;
  const encoded = codec.encode('EpisodeMetrics', {
    taskId: episode.taskId,
    family: episode.family,
    metaVersion: input.metaVersion,
    queryLossBefore: before.loss,
    queryLossAfter: after.loss,
    queryAccuracyBefore: before.accuracy ?? null,
    queryAccuracyAfter: after.accuracy ?? null,
    steps,
    supportSize: rowCount(episode.support),
    querySize: rowCount(episode.query),
    stageMs: stageRecord(input.stageMs),
    producedAt: episode.producedAt,
    finishedAt: Date.now(),
  });
  return { key: episode.taskId, ...encoded };
}

/** A bank change as a bank-topic record: the entry, or a tombstone for a dropped task. */
export function bankRecord(
  codec: AvroCodec,
  change: BankChange,
  headers: Record<string, string>,
): ProducerRecord {
  if (change.kind === 'dropped') return { key: change.taskId, value: null, headers };

  const { entry } = change;
  const encoded = codec.encode('BankEntry', {
    taskId: entry.taskId,
    family: entry.family,
    metaVersion: entry.metaVersion,
    support: labelledSetToRecord(entry.support),
    query: entry.query === undefined ? null : labelledSetToRecord(entry.query),
    theta: float32ToBytes(entry.theta),
    metrics: adaptationMetricsRecord({
      before: { loss: entry.metrics.lossBefore, accuracy: entry.metrics.accuracyBefore },
      after: { loss: entry.metrics.lossAfter, accuracy: entry.metrics.accuracyAfter },
      steps: entry.metrics.steps,
      isDiverged: entry.metrics.status === 'failed',
      adaptMs: entry.metrics.adaptMs,
    }),
    rememberedAt: entry.rememberedAt,
  });
  return { key: entry.taskId, value: encoded.value, headers: { ...encoded.headers, ...headers } };
}

/**
 * A bank entry read back from its record. A record without a query set (written by schema
 * version 1) gives an entry without one, which the learner judges on its support set.
 */
export function bankEntryFromRecord(record: BankEntryRecord): BankEntry {
  const { metrics } = record;
  return {
    taskId: record.taskId,
    family: record.family,
    metaVersion: record.metaVersion,
    support: labelledSetFromRecord(record.support, 'support'),
    ...(record.query !== null && { query: labelledSetFromRecord(record.query, 'query') }),
    theta: bytesToFloat32(record.theta),
    metrics: {
      lossBefore: metrics.lossBefore,
      lossAfter: metrics.lossAfter,
      ...(metrics.accuracyBefore !== null && { accuracyBefore: metrics.accuracyBefore }),
      ...(metrics.accuracyAfter !== null && { accuracyAfter: metrics.accuracyAfter }),
      steps: metrics.steps,
      status: metrics.status,
      ...(metrics.failure !== null && { failure: metrics.failure }),
      adaptMs: metrics.adaptMs,
    },
    rememberedAt: record.rememberedAt,
  };
}

/** Header values are kept short: the error names what was received and what was allowed. */
const MAX_ERROR_HEADER = 2_000;

/**
 * The episode as it arrived (original key, bytes and headers), with headers saying why it
 * was refused and where it came from.
 */
export function deadLetterRecord(
  inbound: Inbound,
  reason: DeadLetterReason,
  error: Error,
): ProducerRecord {
  const { record } = inbound;
  const message = error.message.slice(0, MAX_ERROR_HEADER);
  return {
    key: record.key ?? `${record.topic}/${record.partition}/${record.offset}`,
    value: record.value,
    headers: {
      ...record.headers,
      ...deadLetterHeaders({
        reason,
        sourceTopic: record.topic,
        sourcePartition: record.partition,
        sourceOffset: record.offset,
        error: message,
      }),
    },
  };
}

function adaptationMetricsRecord(adaptation: AdaptationSummary): AdaptationMetricsRecord {
  const { before, after, isDiverged } = adaptation;
  return {
    lossBefore: before.loss,
    lossAfter: after.loss,
    accuracyBefore: before.accuracy ?? null,
    accuracyAfter: after.accuracy ?? null,
    steps: adaptation.steps,
    status: isDiverged ? 'failed' : 'ok',
    failure: isDiverged ? 'adaptation diverged: a step loss was not finite or exploded' : null,
    adaptMs: adaptation.adaptMs,
  };
}

function stageRecord(stageMs: StageTimes): Record<string, number> {
  const record: Record<string, number> = {};
  for (const [stage, ms] of Object.entries(stageMs)) {
    if (ms !== undefined) record[stage] = ms;
  }
  return record;
}
