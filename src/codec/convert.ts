import { endianness } from 'node:os';
import type { Episode, LabelledSet, Targets } from '../episode/episode.js';
import {
  CLASSIFICATION_BRANCH,
  type EpisodeRecord,
  type LabelledSetRecord,
  REGRESSION_BRANCH,
  type TargetsRecord,
  type TensorRecord,
} from './records.js';

/**
 * Conversions between Avro records and allmap's domain types. Records hold float32
 * values as little-endian bytes and labels as number arrays; the domain holds typed
 * arrays. Neither direction validates shapes: `validateEpisode` judges the result.
 */

export function episodeToRecord(episode: Episode): EpisodeRecord {
  return {
    taskId: episode.taskId,
    family: episode.family,
    support: labelledSetToRecord(episode.support),
    query: labelledSetToRecord(episode.query),
    producedAt: episode.producedAt,
    metadata: episode.metadata ? { ...episode.metadata } : null,
  };
}

export function episodeFromRecord(record: EpisodeRecord): Episode {
  const episode = {
    taskId: record.taskId,
    family: record.family,
    support: labelledSetFromRecord(record.support, 'support'),
    query: labelledSetFromRecord(record.query, 'query'),
    producedAt: record.producedAt,
  };
  return record.metadata ? { ...episode, metadata: { ...record.metadata } } : episode;
}

export function labelledSetToRecord(set: LabelledSet): LabelledSetRecord {
  return {
    inputDim: set.inputDim,
    inputs: float32ToBytes(set.inputs),
    targets: targetsToRecord(set.targets),
  };
}

/** `name` (support, query) labels the error when a float32 field has a broken length. */
export function labelledSetFromRecord(record: LabelledSetRecord, name = 'set'): LabelledSet {
  return {
    inputs: floatsOf(record.inputs, `${name}.inputs`),
    inputDim: record.inputDim,
    targets: targetsFromRecord(record.targets, name),
  };
}

function targetsToRecord(targets: Targets): TargetsRecord {
  if (targets.kind === 'regression') {
    const branch = { outputDim: targets.outputDim, values: float32ToBytes(targets.values) };
    return { [REGRESSION_BRANCH]: branch };
  }
  const branch = { classCount: targets.classCount, labels: Array.from(targets.labels) };
  return { [CLASSIFICATION_BRANCH]: branch };
}

function targetsFromRecord(record: TargetsRecord, name: string): Targets {
  if (REGRESSION_BRANCH in record) {
    const { outputDim, values } = record[REGRESSION_BRANCH];
    return { kind: 'regression', outputDim, values: floatsOf(values, `${name}.targets.values`) };
  }
  const { classCount, labels } = record[CLASSIFICATION_BRANCH];
  return { kind: 'classification', classCount, labels: Int32Array.from(labels) };
}

function floatsOf(bytes: Uint8Array, field: string): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new RangeError(`${field} holds ${bytes.byteLength} bytes, not whole float32 values`);
  }
  return bytesToFloat32(bytes);
}

const isLittleEndian = endianness() === 'LE';

/** float32 values as little-endian bytes (the layout of `bytes` fields holding tensors). */
export function float32ToBytes(values: Float32Array): Buffer {
  if (isLittleEndian) {
    return Buffer.from(
      values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength),
    );
  }
  const bytes = Buffer.alloc(values.byteLength);
  for (const [i, value] of values.entries()) bytes.writeFloatLE(value, i * 4);
  return bytes;
}

/** Little-endian float32 bytes as a new Float32Array (copied: Buffers are rarely aligned). */
export function bytesToFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new RangeError(`float32 bytes must come in fours; received ${bytes.byteLength} bytes`);
  }
  const values = new Float32Array(bytes.byteLength / 4);
  if (isLittleEndian) {
    new Uint8Array(values.buffer).set(bytes);
    return values;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
  return values;
}

/** A named parameter tensor in the domain: float32 values with their shape. */
export interface Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export function tensorToRecord(tensor: Tensor): TensorRecord {
  checkTensorSize(tensor.name, tensor.shape, tensor.values.length);
  return { name: tensor.name, shape: [...tensor.shape], data: float32ToBytes(tensor.values) };
}

export function tensorFromRecord(record: TensorRecord): Tensor {
  const values = bytesToFloat32(record.data);
  checkTensorSize(record.name, record.shape, values.length);
  return { name: record.name, shape: [...record.shape], values };
}

function checkTensorSize(name: string, shape: readonly number[], length: number): void {
  const expected = shape.reduce((product, size) => product * size, 1);
  if (expected !== length) {
    throw new RangeError(
      `tensor ${name} of shape [${shape.join(', ')}] needs ${expected} values; received ${length}`,
    );
  }
}
