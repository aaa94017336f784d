/**
 * Where records of the episodes topic enter the pipeline. The intake takes records from the
 * consumer's batches, gives each a ticket from the offset tracker, and pushes it into the
 * pipeline's source; it returns at once, so the consumer keeps heartbeating while the engine
 * works.
 *
 * Backpressure: episodes in flight (taken, not yet committed) never exceed `maxInFlight`.
 * A batch that does not fit is cut: the consumer is sought back to the first record left out
 * and every partition is paused; they resume once the count falls to half the bound.
 */
import { Subject } from 'rxjs';
import type { Logger } from '../log/logger.js';
import type { LearnerMetrics } from '../observability/metrics.js';
import type { Consumer, ConsumerOptions, RecordBatch, TopicPartition } from '../transport/index.js';
import type { Delivery } from './delivery.js';
import { keyOf, type OffsetTracker } from './offsets.js';
import type { Inbound } from './types.js';

export interface IntakeOptions {
  readonly maxInFlight: number;
  readonly tracker: OffsetTracker;
  readonly delivery: Delivery;
  readonly logger: Logger;
  readonly metrics?: LearnerMetrics;
  /** Told of every assignment and revocation, after the intake has handled it. */
  readonly onAssigned?: (partitions: TopicPartition[]) => void;
  readonly onRevoked?: (partitions: TopicPartition[]) => void;
  /** A partition that could not be prepared stops the learner. */
  readonly onFailure: (error: unknown) => void;
}

type Handlers = Pick<ConsumerOptions, 'eachBatch' | 'onPartitionsAssigned' | 'onPartitionsRevoked'>;

export class Intake {
  /** The pipeline's source: completes when the intake stops. */
  readonly inbound$ = new Subject<Inbound>();
  private consumer: Consumer | undefined;
  private readonly ready: Promise<Consumer>;
  private attachConsumer!: (consumer: Consumer) => void;
  /** Partitions whose delivery is being prepared: nothing of them is taken meanwhile. */
  private readonly preparing = new Map<string, Promise<Set<string>>>();
  private isPaused = false;
  private isStopped = false;

  constructor(private readonly options: IntakeOptions) {
    this.ready = new Promise((resolve) => {
      this.attachConsumer = resolve;
    });
    options.tracker.onRelease((inFlight) => {
      options.metrics?.setEpisodesInFlight(inFlight);
      this.maybeResume(inFlight);
    });
  }

  /** The consumer, once `transport.consume` returned it; callbacks may come before that. */
  attach(consumer: Consumer): void {
    this.consumer = consumer;
    this.attachConsumer(consumer);
  }

  currentConsumer(): Consumer | undefined {
    return this.consumer;
  }

  handlers(): Handlers {
    return {
      eachBatch: (batch) => this.take(batch),
      onPartitionsAssigned: (partitions) => this.assigned(partitions),
      onPartitionsRevoked: (partitions) => this.revoked(partitions),
    };
  }

  /** Takes no more records and completes the pipeline's source, which then drains. */
  stop(): void {
    if (this.isStopped) return;
    this.isStopped = true;
    this.consumer?.pause(this.consumer.assignment());
    this.inbound$.complete();
  }

  private async take(batch: RecordBatch): Promise<void> {
    const consumer = await this.ready;
    const key = keyOf(batch);
    const preparing = this.preparing.get(key);
    if (preparing !== undefined) return this.skipWhilePreparing(batch, preparing, consumer);
    if (this.isStopped || !this.isReadFromExpected(batch, consumer)) return;

    const room = Math.max(0, this.options.maxInFlight - this.options.tracker.inFlight);
    const taken = batch.records.slice(0, room);
    const next = batch.records[taken.length];
    if (next !== undefined) {
      // Read the rest again later, from where the cut is.
      consumer.seek({ topic: batch.topic, partition: batch.partition, offset: next.offset });
      this.pause(consumer);
    }
    const progress = this.options.tracker.get(batch);
    if (progress !== undefined) progress.readFrom = next && BigInt(next.offset);

    const consumedAt = performance.now();
    for (const record of taken) {
      const ticket = this.options.tracker.take(record);
      if (ticket === undefined) return;
      this.inbound$.next({ record, ticket, consumedAt });
    }
    this.options.metrics?.setEpisodesInFlight(this.options.tracker.inFlight);
    this.recordLag(batch);
    if (this.options.tracker.inFlight >= this.options.maxInFlight) this.pause(consumer);
  }

  /**
   * Takes a batch only if it was read from where the learner last sought its partition. The
   * transactions commit each partition's offsets up to the first offset not yet published,
   * counted from the first record taken in the assignment; a batch read from later (a seek of
   * an earlier assignment that the consumer applied late, say) would have them commit past
   * records never read. Such a batch is dropped and the partition sought back.
   */
  private isReadFromExpected(batch: RecordBatch, consumer: Consumer): boolean {
    const expected = this.options.tracker.get(batch)?.readFrom;
    if (expected === undefined || BigInt(batch.fetchOffset) === expected) return true;

    this.options.logger.warn(
      { partition: keyOf(batch), readFrom: batch.fetchOffset, expected: String(expected) },
      'batch not read from where the partition was sought; reading it again from there',
    );
    consumer.seek({ topic: batch.topic, partition: batch.partition, offset: String(expected) });
    return false;
  }

  /**
   * A batch fetched before the partition's preparation moved its position: wait for the
   * preparation, then make sure nothing of the batch is skipped.
   */
  private async skipWhilePreparing(
    batch: RecordBatch,
    preparing: Promise<Set<string>>,
    consumer: Consumer,
  ): Promise<void> {
    const sought = await preparing.catch(() => new Set<string>());
    const first = batch.records[0];
    const isAssigned = this.options.tracker.get(batch) !== undefined;
    // A seek made while this batch is handled decides the position; without one, go back.
    if (!sought.has(keyOf(batch)) && first !== undefined && isAssigned) {
      consumer.seek({ topic: batch.topic, partition: batch.partition, offset: first.offset });
    }
  }

  private assigned(partitions: TopicPartition[]): void {
    this.options.tracker.assign(partitions);
    // A rebalance clears every pause: take them up again if still over the bound.
    this.isPaused = false;

    // Both modes seek every new partition to the group's committed offset: kafkajs keeps a
    // seek across rebalances, and one made for an earlier assignment would skip records.
    this.prepare(partitions);
    if (this.consumer && this.options.tracker.inFlight >= this.options.maxInFlight) {
      this.pause(this.consumer);
    }
    this.options.onAssigned?.(partitions);
  }

  /** Pauses the partitions until the delivery is ready for them, then reads from its offsets. */
  private prepare(partitions: TopicPartition[]): void {
    const { tracker } = this.options;
    const progresses = partitions.flatMap((partition) => tracker.get(partition) ?? []);
    // A later rebalance starts new epochs; what this preparation learnt is not theirs.
    const current = () => progresses.filter((progress) => tracker.get(progress) === progress);

    const preparation = (async () => {
      const consumer = await this.ready;
      consumer.pause(partitions);
      const offsets = await this.options.delivery.prepare(partitions);
      const sought = new Set<string>();
      for (const progress of current()) {
        const offset = offsets.get(keyOf(progress));
        if (offset === undefined) continue;
        consumer.seek({ topic: progress.topic, partition: progress.partition, offset });
        progress.readFrom = BigInt(offset);
        sought.add(keyOf(progress));
      }
      return sought;
    })();

    for (const partition of partitions) this.preparing.set(keyOf(partition), preparation);
    preparation.then(
      () => {
        const prepared = current().map(({ topic, partition }) => ({ topic, partition }));
        this.endPreparation(prepared, preparation);
        if (!this.isPaused && !this.isStopped) this.consumer?.resume(prepared);
      },
      (error: unknown) => {
        this.endPreparation(partitions, preparation);
        this.options.onFailure(error);
      },
    );
  }

  /** Forgets the preparation of the partitions, unless a later one took them over. */
  private endPreparation(partitions: TopicPartition[], preparation: Promise<Set<string>>): void {
    for (const partition of partitions) {
      if (this.preparing.get(keyOf(partition)) === preparation) {
        this.preparing.delete(keyOf(partition));
      }
    }
  }

  private revoked(partitions: TopicPartition[]): void {
    for (const partition of partitions) this.preparing.delete(keyOf(partition));
    const abandoned = this.options.tracker.revoke(partitions);
    this.options.delivery.revoked(partitions);
    if (abandoned > 0) {
      this.options.logger.info(
        { partitions: partitions.map(keyOf), abandoned },
        'partitions revoked; their episodes in flight are abandoned uncommitted',
      );
    }
    for (const { topic, partition } of partitions) {
      this.options.metrics?.removeConsumerLag(topic, partition);
    }
    this.options.onRevoked?.(partitions);
  }

  private pause(consumer: Consumer): void {
    if (this.isPaused) return;
    this.isPaused = true;
    consumer.pause(consumer.assignment());
  }

  private maybeResume(inFlight: number): void {
    const consumer = this.consumer;
    if (!this.isPaused || this.isStopped || consumer === undefined) return;
    if (inFlight > this.options.maxInFlight / 2) return;

    this.isPaused = false;
    const resumable = consumer.assignment().filter((p) => !this.preparing.has(keyOf(p)));
    consumer.resume(resumable);
  }

  private recordLag(batch: RecordBatch): void {
    const progress = this.options.tracker.get(batch);
    if (progress === undefined || this.options.metrics === undefined) return;
    progress.highWatermark = BigInt(batch.highWatermark);
    const from = progress.committed ?? BigInt(batch.records[0]?.offset ?? batch.highWatermark);
    const lag = Number(progress.highWatermark - from);
    this.options.metrics.setConsumerLag(batch.topic, batch.partition, lag);
  }
}
