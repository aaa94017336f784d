/**
 * The records of allmap's Avro schemas (`schemas/*.avsc`) as avsc reads and writes
 * them: `long` as a number (safe up to 2^53), `bytes` as a Buffer, timestamp-millis as
 * milliseconds since the Unix epoch, and an optional field as `null` when absent.
 */

export interface RegressionTargetsRecord {
  outputDim: number;
  /** float32, little-endian, row-major. */
  values: Buffer;
}

export interface ClassificationTargetsRecord {
  classCount: number;
  labels: number[];
}

export const REGRESSION_BRANCH = 'allmap.v1.RegressionTargets';
export const CLASSIFICATION_BRANCH = 'allmap.v1.ClassificationTargets';

/**
 * A union of two records, which avsc wraps in an object keyed by the branch's full
 * name: two record branches cannot be told apart by the value's JavaScript type.
 */
export type TargetsRecord =
  | { [REGRESSION_BRANCH]: RegressionTargetsRecord }
  | { [CLASSIFICATION_BRANCH]: ClassificationTargetsRecord };

export interface LabelledSetRecord {
  inputDim: number;
  /** float32, little-endian, row-major. */
  inputs: Buffer;
  targets: TargetsRecord;
}

export interface EpisodeRecord {
  taskId: string;
  family: string;
  support: LabelledSetRecord;
  query: LabelledSetRecord;
  producedAt: number;
  metadata: Record<string, string> | null;
}

export type AdaptationStatus = 'ok' | 'failed';

export interface AdaptationMetricsRecord {
  lossBefore: number;
  lossAfter: number;
  accuracyBefore: number | null;
  accuracyAfter: number | null;
  steps: number;
  status: AdaptationStatus;
  failure: string | null;
  adaptMs: number;
}

export interface AdaptedModelRecord {
  taskId: string;
  family: string;
  metaVersion: number;
  /** A serialised ONNX ModelProto; empty when `metrics.status` is `failed`. */
  onnx: Buffer;
  z: number[];
  metrics: AdaptationMetricsRecord;
  adaptedAt: number;
}

export interface EpisodeMetricsRecord {
  taskId: string;
  family: string;
  metaVersion: number;
  queryLossBefore: number;
  queryLossAfter: number;
  queryAccuracyBefore: number | null;
  queryAccuracyAfter: number | null;
  steps: number;
  supportSize: number;
  querySize: number;
  /** Milliseconds per pipeline stage, keyed by stage name. */
  stageMs: Record<string, number>;
  producedAt: number;
  finishedAt: number;
}

export interface TensorRecord {
  name: string;
  shape: number[];
  /** float32, little-endian, row-major. */
  data: Buffer;
}

export interface MetaVersionRecord {
  family: string;
  metaVersion: number;
  createdAt: number;
  trainingLoss: number;
  heldOutLoss: number | null;
  bankSize: number;
  parameters: TensorRecord[];
}

export interface BankEntryRecord {
  taskId: string;
  family: string;
  metaVersion: number;
  support: LabelledSetRecord;
  /** Added in version 2; null when written by version 1 or when the bank had none. */
  query: LabelledSetRecord | null;
  /** theta*, float32 little-endian. */
  theta: Buffer;
  metrics: AdaptationMetricsRecord;
  rememberedAt: number;
}

/** Every schema allmap writes, by name, with the record type of its current version. */
export interface AllmapRecords {
  Episode: EpisodeRecord;
  AdaptedModel: AdaptedModelRecord;
  EpisodeMetrics: EpisodeMetricsRecord;
  MetaVersion: MetaVersionRecord;
  BankEntry: BankEntryRecord;
}

export type SchemaName = keyof AllmapRecords;

export const SCHEMA_NAMES: readonly SchemaName[] = [
  'Episode',
  'AdaptedModel',
  'EpisodeMetrics',
  'MetaVersion',
  'BankEntry',
];
