/**
 * The learner's pipeline, in stream order:
 *
 *   decode -> validate -> batch -> encode -> generate -> adapt -> evaluate -> export
 *          -> remember -> publish -> commit
 *
 * Episodes that cannot be decoded or validated leave after `validate` for the dead-letter
 * topic and rejoin at `publish`. Micro-batches run through the learning stages one at a
 * time (a batch is formed when the stages are free for it, see `learnInBatches`), so a new
 * meta version only ever takes effect between batches. A batch the engine
 * fails on is retried one episode at a time, and an episode that fails alone goes to the
 * dead-letter topic: no input is retried forever.
 */
import {
  bufferTime,
  catchError,
  concatMap,
  filter,
  from,
  merge,
  type Observable,
  type OperatorFunction,
  of,
  share,
  tap,
} from 'rxjs';
import type { AvroCodec } from '../codec/index.js';
import type { TopicNames } from '../config/topics.js';
import type { MappingEngine } from '../engine/index.js';
import type { EpisodeLimits } from '../episode/validate.js';
import type { Logger } from '../log/logger.js';
import type { LearnerMetrics } from '../observability/metrics.js';
import type { Delivery } from './delivery.js';
import { AdaptationError } from './errors.js';
import type { LearnerPort } from './learner-port.js';
import { type BatchOptions, learnInBatches } from './operators/batch.js';
import { decodeEpisodes, validateEpisodes } from './operators/checks.js';
import { commitOffsets, publishOutputs } from './operators/deliver.js';
import {
  adaptMappings,
  encodeTasks,
  evaluateMappings,
  exportModels,
  generateMappings,
  rememberTasks,
} from './operators/learn.js';
import { batchOutputs, deadLetterOf, rejectedOutputs } from './operators/outputs.js';
import type { Accepted, Checked, EpisodeBatch, Finished, Inbound, Rejected } from './types.js';

export interface PipelineParts {
  readonly codec: AvroCodec;
  readonly engine: MappingEngine;
  readonly port: LearnerPort;
  readonly delivery: Delivery;
  readonly topics: TopicNames;
  readonly limits: EpisodeLimits;
  readonly batch: BatchOptions;
  /** Headers of every bank record this instance writes. */
  readonly bankHeaders: Record<string, string>;
  readonly logger: Logger;
  readonly metrics?: LearnerMetrics;
  /** Called after each batch has been learned (where meta-updates get their chance). */
  readonly afterBatch?: (family: string) => void;
}

/** The whole pipeline: records of the episodes topic in, committed episodes out. */
export function learnerPipeline(parts: PipelineParts): OperatorFunction<Inbound, Finished[]> {
  const { codec, topics, limits, batch, delivery, metrics } = parts;
  return (inbound$) => {
    const checked$ = inbound$.pipe(
      decodeEpisodes(codec, metrics),
      validateEpisodes(limits, metrics),
      share(),
    );

    const learned$ = checked$.pipe(
      filter(isAccepted),
      learnInBatches(batch, (episodes) => learnBatch(parts, episodes), metrics),
    );
    const refused$ = checked$.pipe(
      filter(isRejected),
      rejectedOutputs(topics),
      // Dead letters of a burst of bad records go out together, not one request each.
      bufferTime(Math.max(batch.windowMs, 5), null, batch.size),
      filter((finished) => finished.length > 0),
    );

    return merge(learned$, refused$).pipe(
      publishOutputs(delivery, metrics),
      commitOffsets(delivery, metrics),
    );
  };
}

/** The learning stages for one micro-batch; on failure, each episode alone. */
function learnBatch(parts: PipelineParts, batch: EpisodeBatch): Observable<Finished[]> {
  return learnStages(parts, batch).pipe(
    catchError((error: unknown) => {
      if (batch.items.length === 1) return of([adaptationFailed(parts, batch.items[0]!, error)]);
      parts.logger.warn(
        { err: error, family: batch.family.name, episodes: batch.items.length },
        'adapting a batch failed; adapting its episodes one at a time',
      );
      return from(batch.items).pipe(
        concatMap((item) =>
          learnStages(parts, { ...batch, items: [item] }).pipe(
            catchError((alone: unknown) => of([adaptationFailed(parts, item, alone)])),
          ),
        ),
      );
    }),
  );
}

function learnStages(parts: PipelineParts, batch: EpisodeBatch): Observable<Finished[]> {
  const { codec, engine, port, topics, bankHeaders, metrics } = parts;
  return of(batch).pipe(
    encodeTasks(port, metrics),
    generateMappings(port, metrics),
    adaptMappings(engine, metrics),
    evaluateMappings(engine, metrics),
    exportModels(engine, metrics),
    rememberTasks(port, codec, bankHeaders, metrics),
    tap((learned) => parts.afterBatch?.(learned.family.name)),
    batchOutputs(codec, topics),
  );
}

/** An episode the engine could not adapt even alone: a dead letter, never a model. */
function adaptationFailed(parts: PipelineParts, item: Accepted, cause: unknown): Finished {
  const { topic, partition, offset } = item.inbound.record;
  const error = new AdaptationError(item.episode.taskId, { topic, partition, offset }, cause);
  parts.logger.error(
    { err: error, topic, partition, offset },
    'episode sent to the dead-letter topic',
  );

  const rejected: Rejected = {
    kind: 'rejected',
    inbound: item.inbound,
    reason: 'diverged',
    error,
    family: item.episode.family,
    stageMs: item.stageMs,
  };
  return deadLetterOf(parts.topics, rejected);
}

function isAccepted(item: Checked): item is Accepted {
  return item.kind === 'accepted';
}

function isRejected(item: Checked): item is Rejected {
  return item.kind === 'rejected';
}
