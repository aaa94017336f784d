import { randomUUID } from 'node:crypto';
import { TransportError } from '../transport/errors.js';
import type {
  ConsumedRecord,
  Consumer,
  TopicPartition,
  Transport,
} from '../transport/transport.js';

/**
 * Follows one topic as a reader that disturbs nobody: a consumer group of its own, with a
 * throwaway id, that never commits an offset. Records are handed over per partition in
 * offset order, each exactly once, until a limit, an idle timeout or a signal stops it.
 */

export interface FollowOptions {
  readonly topic: string;
  /** Start at each partition's first offset; otherwise at its end when the follow starts. */
  readonly fromBeginning: boolean;
  /** Stop after this many records. */
  readonly maxRecords?: number;
  /** Stop after this long without a record. */
  readonly idleTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Called once the start offsets are fixed: every record written after this is seen. */
  readonly onReady?: (groupId: string) => void;
  readonly onRecord: (record: ConsumedRecord) => void;
}

export type FollowStop = 'max-records' | 'idle' | 'signal';

export interface FollowSummary {
  readonly records: number;
  readonly stoppedBy: FollowStop;
}

const IDLE_CHECK_MS = 100;

export async function followTopic(
  transport: Transport,
  options: FollowOptions,
): Promise<FollowSummary> {
  const { topic } = options;
  const positions = new PartitionPositions(topic);

  // "Latest" means the end of each partition now, taken before joining: a consumer group
  // resolves latest only at its first fetch, and records written in between would be lost.
  if (!options.fromBeginning) {
    for (const { partition, high } of await transport.fetchTopicOffsets(topic)) {
      positions.next.set(partition, BigInt(high));
    }
  }

  let records = 0;
  let lastRecordAt = Date.now();
  let stop: (reason: FollowStop) => void = () => {};
  const stopped = new Promise<FollowStop>((resolve) => {
    stop = resolve;
  });

  const groupId = `allmap-tail-${randomUUID()}`;
  const consumer = await transport.consume({
    groupId,
    topics: [topic],
    autoOffsetReset: options.fromBeginning ? 'earliest' : 'latest',
    onPartitionsAssigned: (partitions) => positions.assigned(partitions),
    eachBatch: async (batch) => {
      for (const record of positions.fresh(batch.partition, batch.records)) {
        if (options.maxRecords !== undefined && records >= options.maxRecords) return;
        options.onRecord(record);
        records += 1;
        lastRecordAt = Date.now();
        if (records === options.maxRecords) stop('max-records');
      }
    },
  });
  positions.attach(consumer);

  try {
    options.onReady?.(groupId);
    lastRecordAt = Date.now();
    const idle = setInterval(() => {
      const idleMs = Date.now() - lastRecordAt;
      if (options.idleTimeoutMs !== undefined && idleMs >= options.idleTimeoutMs) stop('idle');
    }, IDLE_CHECK_MS);
    const onAbort = () => stop('signal');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) stop('signal');
    if (options.maxRecords === 0) stop('max-records');

    try {
      const stoppedBy = await Promise.race([
        stopped,
        consumer.stopped.then(() => 'signal' as const),
      ]);
      return { records, stoppedBy };
    } finally {
      clearInterval(idle);
      options.signal?.removeEventListener('abort', onAbort);
    }
  } finally {
    await consumer.stop();
  }
}

/**
 * Where each partition is to be read from, and the seeks that put the consumer there. The
 * consumer group resumes a reassigned partition from its committed offset, and this reader
 * commits none, so each assignment seeks back to where the reader left off.
 */
class PartitionPositions {
  /** The offset of the next record to hand over, per partition, once known. */
  readonly next = new Map<number, bigint>();
  /** Partitions whose reads may start: sought to their position, or with none to seek to. */
  private readonly placed = new Set<number>();
  private pending: TopicPartition[] = [];
  private consumer: Consumer | undefined;

  constructor(private readonly topic: string) {}

  /** The first assignment may arrive before the consumer is returned; it is sought then. */
  attach(consumer: Consumer): void {
    this.consumer = consumer;
    this.seek(this.pending);
    this.pending = [];
  }

  assigned(partitions: TopicPartition[]): void {
    const ours = partitions.filter((partition) => partition.topic === this.topic);
    const toSeek = ours.filter(({ partition }) => this.next.has(partition));
    // With no position yet there is nothing to seek: the consumer's own start is right.
    for (const { partition } of ours) {
      if (this.next.has(partition)) this.placed.delete(partition);
      else this.placed.add(partition);
    }
    if (this.consumer) this.seek(toSeek);
    else this.pending.push(...toSeek);
  }

  /** The records of a batch not handed over before, or none while a seek is on its way. */
  fresh(partition: number, records: ConsumedRecord[]): ConsumedRecord[] {
    if (!this.placed.has(partition)) return [];
    const next = this.next.get(partition);
    const fresh = next === undefined ? records : records.filter((r) => BigInt(r.offset) >= next);
    const last = fresh[fresh.length - 1];
    if (last !== undefined) this.next.set(partition, BigInt(last.offset) + 1n);
    return fresh;
  }

  private seek(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions) {
      const next = this.next.get(partition);
      if (next === undefined) continue;
      try {
        this.consumer?.seek({ topic, partition, offset: String(next) });
        this.placed.add(partition);
      } catch (error) {
        // Revoked meanwhile: its next assignment seeks again.
        const isRevoked =
          error instanceof TransportError && error.code === 'PARTITION_NOT_ASSIGNED';
        if (!isRevoked) throw error;
      }
    }
  }
}
