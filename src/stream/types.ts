/**
 * What travels through the learner's pipeline, stage by stage. Each stage adds what it
 * computed to a new object and leaves what it received untouched, so any stage can be
 * run and tested on its own with hand-made input.
 */
import type { AdaptResult, EvaluateResult, MappingSpec } from '../engine/index.js';
import type { Episode } from '../episode/episode.js';
import type { Family } from '../episode/families.js';
import type { DeadLetterReason, PipelineStage } from '../observability/metrics.js';
import type { ConsumedRecord, ProducerRecord } from '../transport/index.js';
import type { BatchContext } from './learner-port.js';

/** Milliseconds spent in each pipeline stage, as the metrics topic records them. */
export type StageTimes = Readonly<Partial<Record<PipelineStage, number>>>;

/**
 * Where an episode came from, and which assignment of its partition took it. A partition
 * revoked and assigned again starts a new epoch: work still in flight from the older epoch
 * is abandoned, never published or committed.
 */
export interface Ticket {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly epoch: number;
}

/** A record taken from the episodes topic. */
export interface Inbound {
  readonly record: ConsumedRecord;
  readonly ticket: Ticket;
  /** `performance.now()` when the record was taken: where end-to-end latency starts. */
  readonly consumedAt: number;
}

/** An episode that cannot be adapted: it goes to the dead-letter topic. */
export interface Rejected {
  readonly kind: 'rejected';
  readonly inbound: Inbound;
  readonly reason: DeadLetterReason;
  readonly error: Error;
  /** The family the episode named, when it could be read at all. */
  readonly family?: string;
  readonly stageMs: StageTimes;
}

/** An episode read from its Avro bytes, not yet checked. */
export interface Decoded {
  readonly kind: 'decoded';
  readonly inbound: Inbound;
  readonly episode: Episode;
  readonly stageMs: StageTimes;
}

/** An episode that fits its family and the limits: ready to be batched and adapted. */
export interface Accepted {
  readonly kind: 'accepted';
  readonly inbound: Inbound;
  readonly episode: Episode;
  readonly family: Family;
  /** `performance.now()` when accepted: where the wait for a micro-batch starts. */
  readonly acceptedAt: number;
  readonly stageMs: StageTimes;
}

export type Checked = Rejected | Decoded | Accepted;

/** Episodes of one family adapted together in one engine run. */
export interface EpisodeBatch {
  readonly family: Family;
  readonly spec: MappingSpec;
  readonly items: readonly Accepted[];
  /** Time each stage took for the whole batch. */
  readonly stageMs: StageTimes;
}

/** A batch with its meta version fixed and each task's code z from the encoder phi. */
export interface EncodedBatch extends EpisodeBatch {
  readonly context: BatchContext;
  /** Empty codes before the first meta version: there is no encoder yet. */
  readonly z: readonly Float32Array[];
}

/** ... with each task's initial mapping theta0 from the generator psi. */
export interface GeneratedBatch extends EncodedBatch {
  readonly theta0: readonly Float32Array[];
}

/** ... with each task's adapted mapping theta* (or its theta0 where adaptation diverged). */
export interface AdaptedBatch extends GeneratedBatch {
  readonly adapted: readonly AdaptResult[];
}

/** ... with each task's query loss (and accuracy) before and after adaptation. */
export interface EvaluatedBatch extends AdaptedBatch {
  readonly before: readonly EvaluateResult[];
  readonly after: readonly EvaluateResult[];
}

/** ... with each adapted mapping as a standalone ONNX model; none where it diverged. */
export interface ExportedBatch extends EvaluatedBatch {
  readonly onnx: readonly (Uint8Array | undefined)[];
}

/** ... with the bank records each task's remembering caused (entries and tombstones). */
export interface RememberedBatch extends ExportedBatch {
  readonly bankRecords: readonly (readonly ProducerRecord[])[];
}

/** One record to write, and the topic it goes to. */
export interface Output {
  readonly topic: string;
  readonly record: ProducerRecord;
}

/** What became of one episode, in a form a progress line or a test can read. */
export interface EpisodeOutcome {
  readonly status: 'adapted' | 'diverged' | 'dead-letter';
  readonly taskId?: string;
  readonly family?: string;
  readonly metaVersion?: number;
  readonly lossBefore?: number;
  readonly lossAfter?: number;
  readonly accuracyBefore?: number;
  readonly accuracyAfter?: number;
  /** Why it went to the dead-letter topic. */
  readonly reason?: DeadLetterReason;
  readonly ticket: Ticket;
}

/** An episode whose outputs are ready to publish, and then its offset to commit. */
export interface Finished {
  readonly inbound: Inbound;
  readonly outputs: readonly Output[];
  readonly outcome: EpisodeOutcome;
}
