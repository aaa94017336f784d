/**
 * How outputs reach Kafka and offsets get committed: the `publish` and `commit` stages of
 * the pipeline delegate here. Two guarantees, chosen by `kafka.delivery`:
 * - at-least-once (`AtLeastOnceDelivery`): outputs go out on one idempotent producer as soon
 *   as they are ready; an episode's offset is committed once its outputs are acknowledged
 *   and every earlier offset of its partition is done. A crash repeats some outputs, never
 *   loses one.
 * - exactly-once (`ExactlyOnceDelivery`, in delivery-exactly-once.ts): per input partition,
 *   outputs and the offset that covers them are committed in one Kafka transaction.
 */
import type { Logger } from '../log/logger.js';
import type {
  Consumer,
  Producer,
  ProducerRecord,
  RecordMetadata,
  TopicPartition,
  Transport,
} from '../transport/index.js';
import { TransportError } from '../transport/index.js';
import { DeliveryError } from './errors.js';
import type { OffsetTracker } from './offsets.js';
import type { Finished, Output } from './types.js';

export interface Delivery {
  readonly mode: 'at-least-once' | 'exactly-once';
  /**
   * Prepares newly assigned partitions before any of their records is taken; resolves with
   * the offset each partition must be read from, when that differs from the consumer's.
   */
  prepare(partitions: readonly TopicPartition[]): Promise<Map<string, string>>;
  /** Partitions taken away: their work in flight is abandoned, never committed. */
  revoked(partitions: readonly TopicPartition[]): void;
  /**
   * Writes the outputs of finished episodes; resolves with those written, leaving out the
   * episodes whose partition was revoked meanwhile.
   */
  publish(finished: readonly Finished[]): Promise<Finished[]>;
  /** Commits the offsets that published episodes made committable. */
  commit(published: readonly Finished[]): Promise<void>;
  close(): Promise<void>;
}

/** Kafka refuses a record batch over `max.message.bytes` (1 MiB by default): send less. */
const MAX_REQUEST_BYTES = 900 * 1024;
const RETRY_DELAY_MS = 1_000;

/** Sends records to their topics, splitting each topic's records so no request is too large. */
export async function sendOutputs(
  send: (topic: string, records: ProducerRecord[]) => Promise<RecordMetadata[]>,
  outputs: readonly Output[],
): Promise<void> {
  const byTopic = new Map<string, ProducerRecord[]>();
  for (const { topic, record } of outputs) {
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), record]);
  }
  await Promise.all(
    [...byTopic].map(async ([topic, records]) => {
      for (const chunk of chunksBySize(records)) await send(topic, chunk);
    }),
  );
}

function* chunksBySize(records: readonly ProducerRecord[]): Generator<ProducerRecord[]> {
  let chunk: ProducerRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = sizeOf(record);
    if (chunk.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(record);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

function sizeOf(record: ProducerRecord): number {
  let size = record.key.length + (record.value?.length ?? 0);
  for (const [name, value] of Object.entries(record.headers ?? {}))
    size += name.length + value.length;
  return size;
}

/**
 * Sends outputs in rounds: while one round is in flight, outputs that arrive wait and then go
 * out together in the next. Under load a round carries many micro-batches, so the number of
 * requests stays flat while throughput grows; each output topic has a producer of its own,
 * so a round sends to every topic at once. (The engine blocks the event loop for tens of
 * milliseconds at a time; one request per topic per micro-batch, one after another, would
 * fall behind the stream.)
 */
export class RoundSender {
  private queued: Array<{ outputs: readonly Output[]; settle: (error?: unknown) => void }> = [];
  private round: Promise<void> | undefined;
  private readonly producers = new Map<string, Promise<Producer>>();

  constructor(private readonly transport: Transport) {}

  send(outputs: readonly Output[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queued.push({ outputs, settle: (error) => (error ? reject(error) : resolve()) });
      this.round ??= this.sendRounds().finally(() => {
        this.round = undefined;
      });
    });
  }

  async close(): Promise<void> {
    await this.round;
    const producers = await Promise.allSettled(this.producers.values());
    for (const producer of producers) {
      if (producer.status === 'fulfilled') await producer.value.disconnect();
    }
  }

  private async sendRounds(): Promise<void> {
    while (this.queued.length > 0) {
      const waiting = this.queued;
      this.queued = [];
      try {
        const outputs = waiting.flatMap((entry) => entry.outputs);
        await sendOutputs(
          async (topic, records) => (await this.producerOf(topic)).send(topic, records),
          outputs,
        );
        for (const entry of waiting) entry.settle();
      } catch (error) {
        for (const entry of waiting) entry.settle(error ?? new Error('send failed'));
      }
    }
  }

  private producerOf(topic: string): Promise<Producer> {
    const known = this.producers.get(topic);
    if (known !== undefined) return known;

    const created = this.transport.producer();
    // A producer that failed to connect is not kept: the next round tries again.
    created.catch(() => this.producers.delete(topic));
    this.producers.set(topic, created);
    return created;
  }
}

export class AtLeastOnceDelivery implements Delivery {
  readonly mode = 'at-least-once';
  private readonly sender: RoundSender;
  private commitLoop: Promise<void> | undefined;
  private isCommitDue = false;

  constructor(
    private readonly transport: Transport,
    private readonly tracker: OffsetTracker,
    private readonly consumer: () => Consumer | undefined,
    private readonly logger: Logger,
  ) {
    this.sender = new RoundSender(transport);
  }

  /**
   * The group's committed offsets, read once the group has moved on (a revoked member's
   * commits are refused from then on), so the intake seeks every partition and no position
   * left over from an earlier assignment decides where the new one begins.
   */
  async prepare(partitions: readonly TopicPartition[]): Promise<Map<string, string>> {
    const consumer = this.consumer();
    if (consumer === undefined) return new Map();
    return startingOffsets(this.transport, consumer.groupId, partitions);
  }

  revoked(): void {
    // The tracker forgets the partitions; nothing is held here.
  }

  async publish(finished: readonly Finished[]): Promise<Finished[]> {
    const current = finished.filter((item) => this.tracker.isCurrent(item.inbound.ticket));
    const outputs = current.flatMap((item) => item.outputs);
    if (outputs.length === 0) return current;

    try {
      await this.sender.send(outputs);
    } catch (error) {
      // The producer has retried already; one more try after a pause, repeating at most
      // what was acknowledged (allowed here), then the learner stops uncommitted.
      this.logger.warn({ err: error, records: outputs.length }, 'publish failed; retrying once');
      await sleep(RETRY_DELAY_MS);
      await this.sender.send(outputs).catch((retryError: unknown) => {
        throw new DeliveryError(
          `publishing ${outputs.length} records failed twice; stopping without committing ` +
            'their offsets, so they are read again on restart',
          { cause: retryError },
        );
      });
    }
    return current;
  }

  async commit(published: readonly Finished[]): Promise<void> {
    for (const item of published) this.tracker.complete(item.inbound.ticket);
    this.isCommitDue = true;
    // One commit runs at a time; requests made meanwhile are covered by its next round.
    this.commitLoop ??= this.commitWhileDue().finally(() => {
      this.commitLoop = undefined;
    });
    await this.commitLoop;
  }

  async close(): Promise<void> {
    await this.commitLoop;
    await this.sender.close();
  }

  private async commitWhileDue(): Promise<void> {
    while (this.isCommitDue) {
      this.isCommitDue = false;
      const due = this.tracker.commitsDue();
      const consumer = this.consumer();
      if (due.length === 0 || consumer === undefined) continue;

      // Only partitions still assigned: a revoked one belongs to another member now.
      const assigned = new Set(consumer.assignment().map((p) => `${p.topic}:${p.partition}`));
      const offsets = due.filter((o) => assigned.has(`${o.topic}:${o.partition}`));
      if (offsets.length === 0) continue;
      try {
        await consumer.commit(offsets);
        this.tracker.markCommitted(offsets);
      } catch (error) {
        // A rebalance raced the commit: the records are read again by whoever owns them.
        if (!(error instanceof TransportError)) throw error;
        this.logger.warn(
          { err: error, offsets },
          'offset commit refused; records will be read again',
        );
      }
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Where each partition's reading must start for a new owner: the group's committed offset,
 * or the log start when the group never committed it or retention removed the records.
 */
export async function startingOffsets(
  transport: Transport,
  groupId: string,
  partitions: readonly TopicPartition[],
): Promise<Map<string, string>> {
  const starts = new Map<string, string>();
  for (const topic of new Set(partitions.map((partition) => partition.topic))) {
    const ends = await transport.fetchTopicOffsets(topic);
    const committed = await transport.fetchCommittedOffsets(groupId, topic);
    for (const { partition, low } of ends) {
      const offset = committed.find((entry) => entry.partition === partition)?.offset ?? '-1';
      const start = BigInt(offset) < BigInt(low) ? low : offset;
      starts.set(`${topic}:${partition}`, start);
    }
  }
  return starts;
}
