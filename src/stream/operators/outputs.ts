/**
 * Turns what the pipeline computed into the records to write. An adapted episode yields its
 * model, its metrics and its bank records; a diverged one a failed model record (no ONNX
 * bytes), its metrics and a dead letter; a rejected one a dead letter only.
 */
import { map, type OperatorFunction } from 'rxjs';
import type { AvroCodec } from '../../codec/index.js';
import type { TopicNames } from '../../config/topics.js';
import { DivergedError } from '../errors.js';
import {
  type AdaptationSummary,
  adaptedModelRecord,
  deadLetterRecord,
  episodeMetricsRecord,
} from '../records.js';
import type { EpisodeOutcome, Finished, Output, Rejected, RememberedBatch } from '../types.js';

/** The outputs of every episode of a learned batch, in the batch's order. */
export function batchOutputs(
  codec: AvroCodec,
  topics: TopicNames,
): OperatorFunction<RememberedBatch, Finished[]> {
  return map((batch) => batch.items.map((_, i) => episodeOutputs(codec, topics, batch, i)));
}

function episodeOutputs(
  codec: AvroCodec,
  topics: TopicNames,
  batch: RememberedBatch,
  i: number,
): Finished {
  const item = batch.items[i]!;
  const result = batch.adapted[i]!;
  const { metaVersion } = batch.context;
  const isDiverged = result.status === 'diverged';
  const adaptation: AdaptationSummary = {
    before: batch.before[i]!,
    after: batch.after[i]!,
    steps: batch.context.steps,
    isDiverged,
    adaptMs: (batch.stageMs.adapt ?? 0) / batch.items.length,
  };
  const stageMs = { ...item.stageMs, ...batch.stageMs };

  const model = adaptedModelRecord(codec, item, {
    metaVersion,
    onnx: batch.onnx[i],
    z: batch.z[i]!,
    adaptation,
  });
  const metrics = episodeMetricsRecord(codec, item, { metaVersion, adaptation, stageMs });
  const outputs: Output[] = [
    { topic: topics.models, record: model },
    { topic: topics.metrics, record: metrics },
    ...batch.bankRecords[i]!.map((record) => ({ topic: topics.bank, record })),
  ];
  if (isDiverged) {
    const { topic, partition, offset } = item.inbound.record;
    const error = new DivergedError(item.episode.taskId, { topic, partition, offset }, [
      ...result.lossTrace,
    ]);
    outputs.push({
      topic: topics.deadLetter,
      record: deadLetterRecord(item.inbound, 'diverged', error),
    });
  }

  const outcome: EpisodeOutcome = {
    status: isDiverged ? 'diverged' : 'adapted',
    taskId: item.episode.taskId,
    family: item.episode.family,
    metaVersion,
    lossBefore: adaptation.before.loss,
    lossAfter: adaptation.after.loss,
    ...(adaptation.before.accuracy !== undefined && {
      accuracyBefore: adaptation.before.accuracy,
    }),
    ...(adaptation.after.accuracy !== undefined && { accuracyAfter: adaptation.after.accuracy }),
    ...(isDiverged && { reason: 'diverged' as const }),
    ticket: item.inbound.ticket,
  };
  return { inbound: item.inbound, outputs, outcome };
}

/** The dead letter of each rejected episode. */
export function rejectedOutputs(topics: TopicNames): OperatorFunction<Rejected, Finished> {
  return map((item) => deadLetterOf(topics, item));
}

/** The dead letter of one rejected episode: its original record, and why. */
export function deadLetterOf(topics: TopicNames, item: Rejected): Finished {
  const record = deadLetterRecord(item.inbound, item.reason, item.error);
  return {
    inbound: item.inbound,
    outputs: [{ topic: topics.deadLetter, record }],
    outcome: {
      status: 'dead-letter',
      ...(item.family !== undefined && { family: item.family }),
      reason: item.reason,
      ticket: item.inbound.ticket,
    },
  };
}
