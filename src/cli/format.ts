import { createHash } from 'node:crypto';
import type { AvroCodec } from '../codec/codec.js';
import type {
  AdaptationMetricsRecord,
  AdaptedModelRecord,
  EpisodeMetricsRecord,
} from '../codec/records.js';
import { readDeadLetterHeaders } from '../stream/dead-letter-headers.js';
import type { ConsumedRecord } from '../transport/transport.js';

/**
 * How the command line shows allmap's output records: one readable line each, or one JSON
 * object each for scripts. Sizes use SI units (1 kB = 1000 bytes), as rates in MB/s do.
 */

/** The output topics `allmap tail` follows, by the name a person types. */
export const TAIL_TOPICS = ['models', 'metrics', 'dead-letter'] as const;
export type TailTopic = (typeof TAIL_TOPICS)[number];

/** One record, ready to print either way. */
export interface RecordView {
  readonly line: string;
  readonly json: Record<string, unknown>;
}

/** Decodes a consumed record of `kind` and describes it; a bad record is described, not thrown. */
export function viewRecord(kind: TailTopic, record: ConsumedRecord, codec: AvroCodec): RecordView {
  const where = locationOf(record);
  if (record.value === null) {
    return { line: `${kind} ${keyText(record)}: tombstone ${where.tag}`, json: where.json };
  }

  try {
    if (kind === 'models') return viewModel(decode(codec, 'AdaptedModel', record), where);
    if (kind === 'metrics') return viewMetrics(decode(codec, 'EpisodeMetrics', record), where);
    return viewDeadLetter(record, record.value, where);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      line: `${kind} ${keyText(record)}: cannot be read: ${message} ${where.tag}`,
      json: { ...where.json, error: message },
    };
  }
}

interface Location {
  /** `[p2@118]`: where the record sits, at the end of a line. */
  readonly tag: string;
  readonly json: Record<string, unknown>;
}

function locationOf(record: ConsumedRecord): Location {
  return {
    tag: `[p${record.partition}@${record.offset}]`,
    json: {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: Number(record.timestamp),
      key: record.key,
    },
  };
}

function decode<N extends 'AdaptedModel' | 'EpisodeMetrics'>(
  codec: AvroCodec,
  name: N,
  record: ConsumedRecord,
) {
  const { topic, partition, offset } = record;
  return codec.decode(name, record.value ?? Buffer.alloc(0), record.headers, {
    topic,
    partition,
    offset,
  });
}

function viewModel(model: AdaptedModelRecord, where: Location): RecordView {
  const head = `model ${model.taskId} (${model.family}, meta v${model.metaVersion})`;
  const body =
    model.metrics.status === 'failed'
      ? `adaptation failed: ${model.metrics.failure ?? 'no reason given'}`
      : `${describeAdaptation(model.metrics)}, onnx ${formatBytes(model.onnx.length)}`;
  return {
    line: `${head}: ${body} ${where.tag}`,
    json: { ...where.json, value: { ...model, onnx: describeBytes(model.onnx) } },
  };
}

/** `loss 3.214 -> 0.08721` and, for classifiers, `accuracy 20.0% -> 86.7%`. */
export function describeAdaptation(metrics: AdaptationMetricsRecord): string {
  const parts = [`loss ${change(metrics.lossBefore, metrics.lossAfter, formatNumber)}`];
  if (metrics.accuracyBefore !== null && metrics.accuracyAfter !== null) {
    parts.push(`accuracy ${change(metrics.accuracyBefore, metrics.accuracyAfter, formatPercent)}`);
  }
  return `${parts.join(', ')} in ${metrics.steps} steps`;
}

/** `before -> after`, both written by `format`. */
function change(before: number, after: number, format: (value: number) => string): string {
  return `${format(before)} -> ${format(after)}`;
}

function viewMetrics(metrics: EpisodeMetricsRecord, where: Location): RecordView {
  const head = `metrics ${metrics.taskId} (${metrics.family}, meta v${metrics.metaVersion})`;
  const parts = [
    `query loss ${change(metrics.queryLossBefore, metrics.queryLossAfter, formatNumber)}`,
  ];
  const { queryAccuracyBefore: before, queryAccuracyAfter: after } = metrics;
  if (before !== null && after !== null) {
    parts.push(`accuracy ${change(before, after, formatPercent)}`);
  }
  parts.push(`${metrics.steps} steps`);
  parts.push(`support ${metrics.supportSize}, query ${metrics.querySize}`);
  parts.push(`${Math.round(metrics.finishedAt - metrics.producedAt)} ms end to end`);
  return {
    line: `${head}: ${parts.join(', ')} ${where.tag}`,
    json: { ...where.json, value: metrics },
  };
}

function viewDeadLetter(record: ConsumedRecord, value: Buffer, where: Location): RecordView {
  const info = readDeadLetterHeaders(record.headers);
  const source =
    info.sourceTopic === undefined
      ? 'an unknown source'
      : `${info.sourceTopic}/${info.sourcePartition ?? '?'}@${info.sourceOffset ?? '?'}`;
  const line =
    `dead-letter ${keyText(record)}: ${info.reason ?? 'no reason given'} from ${source}, ` +
    `${formatBytes(value.length)}${info.error === undefined ? '' : `: ${info.error}`} ${where.tag}`;
  return { line, json: { ...where.json, deadLetter: info, value: describeBytes(value) } };
}

function keyText(record: ConsumedRecord): string {
  return record.key ?? '(no key)';
}

/** Bytes stand in a JSON line by their size and SHA-256, not their content. */
export function describeBytes(bytes: Buffer): { bytes: number; sha256: string } {
  return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** `812 B`, `6.91 kB`, `251 MB`: three significant digits, SI units. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 'B';
  for (const next of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = next;
  }
  return `${value.toPrecision(3)} ${unit}`;
}

/** Four significant digits, without exponents for everyday magnitudes. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-4 || magnitude >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** `in 4.21 s: 237.5 episodes/s, 59.70 MB/s`. */
export function formatThroughput(episodes: number, bytes: number, seconds: number): string {
  const perSecond = seconds > 0 ? episodes / seconds : 0;
  const megabytesPerSecond = seconds > 0 ? bytes / 1e6 / seconds : 0;
  return (
    `in ${seconds.toFixed(2)} s: ${perSecond.toFixed(1)} episodes/s, ` +
    `${megabytesPerSecond.toFixed(2)} MB/s`
  );
}
