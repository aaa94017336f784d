/**
 * Exactly-once delivery: consume, transform, produce and commit in one Kafka transaction per
 * input partition.
 *
 * Each assigned partition gets a transactional producer of its own, its transactional id
 * derived from the consumer group, the topic and the partition. kafkajs sends transactional
 * offset commits without the consumer's generation, so the group coordinator cannot fence a
 * member that lost the partition; the transactional id does it instead: the member that is
 * assigned the partition next creates a producer with the same id, which aborts the previous
 * owner's open transaction and fences its producer for good. Only after that does the new
 * owner read the committed offset and start from there.
 *
 * A transaction covers a contiguous run of the partition's offsets: outputs of later
 * episodes wait until every earlier episode of the partition is finished, so the offset
 * committed with them never covers an episode whose outputs are not in the same or an
 * earlier transaction.
 */
import type { Logger } from '../log/logger.js';
import {
  type Consumer,
  type TopicPartition,
  type TransactionalProducer,
  type Transport,
  TransportError,
} from '../transport/index.js';
import { type Delivery, sendOutputs, sleep, startingOffsets } from './delivery.js';
import { DeliveryError } from './errors.js';
import { keyOf, type OffsetTracker, type PartitionProgress } from './offsets.js';
import type { Finished } from './types.js';

/** Attempts per transaction, each with a fresh producer after the first failure. */
const MAX_ATTEMPTS = 4;
const RETRY_DELAY_MS = 500;

export interface ExactlyOnceOptions {
  readonly transport: Transport;
  readonly tracker: OffsetTracker;
  readonly groupId: string;
  readonly consumer: () => Consumer | undefined;
  readonly logger: Logger;
}

/** The transactional id of one input partition, the same on every member of the group. */
export function transactionalIdOf(groupId: string, { topic, partition }: TopicPartition): string {
  return `${groupId}.${topic}.${partition}`;
}

export class ExactlyOnceDelivery implements Delivery {
  readonly mode = 'exactly-once';
  private readonly partitions = new Map<string, TransactionalPartition>();

  constructor(private readonly options: ExactlyOnceOptions) {}

  /**
   * Takes each partition's transactional id over (fencing any previous owner), then reads
   * the group's committed offsets: only now are they final. A partition the group never
   * committed is read from its log start, as the learner's consumer resets to the earliest
   * offset: every partition gets an offset, so the intake seeks each one and no position
   * left over from an earlier assignment decides where the new one begins.
   */
  async prepare(partitions: readonly TopicPartition[]): Promise<Map<string, string>> {
    const { transport, groupId } = this.options;
    await Promise.all(
      partitions.map(async (partition) => {
        const transactionalId = transactionalIdOf(groupId, partition);
        const producer = await transport.transactionalProducer(transactionalId);
        const outbox = new TransactionalPartition(
          partition,
          transactionalId,
          producer,
          this.options,
        );
        this.partitions.get(keyOf(partition))?.abandon();
        this.partitions.set(keyOf(partition), outbox);
      }),
    );

    return startingOffsets(transport, groupId, partitions);
  }

  revoked(partitions: readonly TopicPartition[]): void {
    for (const partition of partitions) {
      this.partitions.get(keyOf(partition))?.abandon();
      this.partitions.delete(keyOf(partition));
    }
  }

  async publish(finished: readonly Finished[]): Promise<Finished[]> {
    const results = await Promise.all(
      finished.map((item) => {
        const outbox = this.partitions.get(keyOf(item.inbound.ticket));
        return outbox?.stage(item) ?? Promise.resolve(false);
      }),
    );
    return finished.filter((_, i) => results[i]);
  }

  /** The offsets went with the transactions that published the outputs. */
  async commit(): Promise<void> {}

  async close(): Promise<void> {
    await Promise.all([...this.partitions.values()].map((outbox) => outbox.close()));
    this.partitions.clear();
  }
}

interface Staged {
  readonly item: Finished;
  readonly settle: (isCommitted: boolean) => void;
  readonly fail: (error: unknown) => void;
}

/** One input partition's producer and the finished episodes waiting for a transaction. */
class TransactionalPartition {
  private readonly staged = new Map<string, Staged>();
  private flushing: Promise<void> | undefined;
  private isAbandoned = false;

  constructor(
    private readonly partition: TopicPartition,
    private readonly transactionalId: string,
    private producer: TransactionalProducer,
    private readonly options: ExactlyOnceOptions,
  ) {}

  /** Resolves true once the episode's outputs and offset are committed, false if abandoned. */
  stage(item: Finished): Promise<boolean> {
    const { ticket } = item.inbound;
    if (this.isAbandoned || !this.options.tracker.isCurrent(ticket)) return Promise.resolve(false);
    return new Promise((settle, fail) => {
      this.staged.set(ticket.offset, { item, settle, fail });
      this.flushing ??= this.flush()
        .catch((error: unknown) => this.failStaged(error))
        .finally(() => {
          this.flushing = undefined;
        });
    });
  }

  /** A transaction that cannot be committed fails every episode waiting here. */
  private failStaged(error: unknown): void {
    const isFenced = error instanceof TransportError && error.code === 'PRODUCER_FENCED';
    this.isAbandoned = true;
    for (const { settle, fail } of this.staged.values()) {
      if (isFenced) settle(false);
      else fail(error);
    }
    this.staged.clear();
  }

  /** Drops what waits, uncommitted, and lets the producer go once its transaction ends. */
  abandon(): void {
    if (this.isAbandoned) return;
    this.isAbandoned = true;
    for (const { settle } of this.staged.values()) settle(false);
    this.staged.clear();
    void this.close();
  }

  async close(): Promise<void> {
    this.isAbandoned = true;
    await this.flushing?.catch(() => {});
    await this.producer.disconnect().catch(() => {});
  }

  /** Commits the ready prefix of the partition, again while more becomes ready. */
  private async flush(): Promise<void> {
    for (;;) {
      const progress = this.options.tracker.get(this.partition);
      const ready = progress === undefined || this.isAbandoned ? [] : this.readyPrefix(progress);
      if (ready.length === 0) return;

      const last = ready[ready.length - 1]!.item.inbound.ticket.offset;
      await this.commitTransaction(ready, String(BigInt(last) + 1n));
      for (const { item, settle } of ready) {
        this.staged.delete(item.inbound.ticket.offset);
        this.options.tracker.complete(item.inbound.ticket);
        settle(true);
      }
    }
  }

  /** Staged episodes from the oldest pending offset on, up to the first not staged. */
  private readyPrefix(progress: PartitionProgress): Staged[] {
    const ready: Staged[] = [];
    for (const offset of progress.pending()) {
      const staged = this.staged.get(offset);
      if (staged === undefined) break;
      ready.push(staged);
    }
    return ready;
  }

  private async commitTransaction(ready: readonly Staged[], nextOffset: string): Promise<void> {
    const outputs = ready.flatMap(({ item }) => item.outputs);
    const offsets = [{ ...this.partition, offset: nextOffset }];

    for (let attempt = 1; ; attempt++) {
      try {
        const transaction = await this.producer.begin();
        try {
          await sendOutputs((topic, records) => transaction.send(topic, records), outputs);
          await transaction.sendOffsets(this.options.groupId, offsets);
          await transaction.commit();
          return;
        } catch (error) {
          await transaction.abort().catch(() => {});
          throw error;
        }
      } catch (error) {
        await this.recover(error, attempt, outputs.length);
      }
    }
  }

  /**
   * After a failed transaction: a fenced producer means the partition has a new owner, so
   * this member lets go; anything else gets a fresh producer (which also aborts whatever the
   * old one left open) and another attempt, a bounded number of times.
   */
  private async recover(error: unknown, attempt: number, records: number): Promise<void> {
    const { logger, transport } = this.options;
    const context = { err: error, transactionalId: this.transactionalId, attempt, records };

    if (error instanceof TransportError && error.code === 'PRODUCER_FENCED') {
      logger.warn(context, 'transactional producer fenced: the partition has a new owner');
      this.abandon();
      throw error;
    }
    if (attempt >= MAX_ATTEMPTS || this.isAbandoned) {
      throw new DeliveryError(
        `transaction of '${this.transactionalId}' failed ${attempt} times; stopping without ` +
          'committing, so its episodes are read again on restart',
        { cause: error },
      );
    }

    logger.warn(context, 'transaction failed; retrying with a new producer');
    await this.producer.disconnect().catch(() => {});
    await sleep(RETRY_DELAY_MS * attempt);
    // A new producer of the id fences whoever holds it now: once the partition was given up
    // meanwhile, that is its new owner, so this member must not make one.
    if (this.isAbandoned) throw new DeliveryError(`'${this.transactionalId}' was given up`);
    this.producer = await transport.transactionalProducer(this.transactionalId);
  }
}
