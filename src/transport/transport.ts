/**
 * The one surface the stream and the CLI use to talk to a log of keyed records. Two
 * implementations keep the same semantics: Kafka (`kafka.ts`, for production and the
 * integration tests) and an in-process log (`embedded.ts`, so `allmap run` works on a machine
 * with no broker). Names and shapes follow Kafka's own terms: topic, partition, offset,
 * consumer group, high watermark, transactional id.
 *
 * Offsets travel as decimal strings, as Kafka clients write them, because they are 64-bit.
 * A committed offset is the offset of the *next* record to read, never the last one read.
 */

/** Header values as a producer may give them; consumers always receive Buffers. */
export type HeaderValue = Buffer | string;

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  offset: string;
}

/** A topic to create. `configs` are Kafka topic configs, e.g. `{ 'cleanup.policy': 'compact' }`. */
export interface NewTopic {
  topic: string;
  numPartitions: number;
  configs?: Record<string, string>;
}

export interface ProducerRecord {
  key: string;
  /** `null` is a tombstone: on a compacted topic it deletes the key. */
  value: Buffer | null;
  headers?: Record<string, HeaderValue>;
  /** Omitted: the key picks the partition (murmur2, as Kafka's default partitioner does). */
  partition?: number;
}

/** Where an acknowledged record landed. */
export interface RecordMetadata extends TopicPartitionOffset {}

export interface ConsumedRecord extends TopicPartitionOffset {
  /** `null` only for records written by producers that send no key. */
  key: string | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  /** Milliseconds since the epoch, as a decimal string. */
  timestamp: string;
}

/** The records of one partition delivered together, in offset order. */
export interface RecordBatch extends TopicPartition {
  records: ConsumedRecord[];
  /** The partition's high watermark at the fetch; a record's lag: `highWatermark - offset - 1`. */
  highWatermark: string;
  /**
   * The position the batch was read from: it holds every record of the partition from this
   * offset on (up to its last) that the isolation level lets through. A batch whose records
   * start later than expected is told apart by this, not by its first record's offset,
   * which transaction markers and compaction may legitimately move past the position.
   */
  fetchOffset: string;
}

/** `low`: the log start offset; `high`: the end offset a read_committed consumer can reach. */
export interface PartitionOffsets {
  partition: number;
  low: string;
  high: string;
}

/** A consumer group's committed offset for one partition; `'-1'` when it has none. */
export interface PartitionOffset {
  partition: number;
  offset: string;
}

export type IsolationLevel = 'read_committed' | 'read_uncommitted';

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where to start a partition for which the group has no committed offset. */
  autoOffsetReset: 'earliest' | 'latest';
  /** Default `read_committed`: records of open or aborted transactions are never delivered. */
  isolationLevel?: IsolationLevel;
  /**
   * Receives batches one at a time. Throwing stops the consumer: it leaves the group and
   * `Consumer.stopped` rejects with the error. Offsets are never committed automatically.
   */
  eachBatch(batch: RecordBatch): Promise<void>;
  /**
   * A rebalance follows Kafka's eager protocol: every member loses all its partitions
   * (`onPartitionsRevoked`), then receives its new share (`onPartitionsAssigned`), and reads
   * each from the group's committed offset, even a partition it owned before. Work in flight
   * for a revoked partition must be abandoned, uncommitted: its records will be delivered
   * again, to this member or another. Both are called after the group has moved on, so
   * offsets of revoked partitions can no longer be committed by this member.
   */
  onPartitionsAssigned?(partitions: TopicPartition[]): void;
  onPartitionsRevoked?(partitions: TopicPartition[]): void;
}

/** A running member of a consumer group. */
export interface Consumer {
  readonly groupId: string;
  /** The partitions assigned to this member now. */
  assignment(): TopicPartition[];
  /** The offset of the next record this member will read from a partition, when known. */
  position(partition: TopicPartition): string | undefined;
  /** Commits for the group; a partition not assigned to this member is refused. */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /**
   * Stops delivering records of these partitions (backpressure); they stay assigned. A
   * rebalance clears every pause; partitions not assigned now are ignored.
   */
  pause(partitions: TopicPartition[]): void;
  resume(partitions: TopicPartition[]): void;
  /** Moves the position of an assigned partition; the next batch starts there. */
  seek(target: TopicPartitionOffset): void;
  /**
   * Leaves the group and stops; resolves once no batch is being handled, so it must not be
   * awaited from inside `eachBatch`.
   */
  stop(): Promise<void>;
  /** Settles when the consumer stops: resolves after `stop()`, rejects with what stopped it. */
  readonly stopped: Promise<void>;
}

/** An idempotent producer: retries never duplicate or reorder records within a partition. */
export interface Producer {
  /** Resolves once every record is acknowledged, with their offsets in the given order. */
  send(topic: string, records: ProducerRecord[]): Promise<RecordMetadata[]>;
  disconnect(): Promise<void>;
}

/**
 * One transaction: records and consumer offsets that become visible together on `commit`
 * and are discarded together on `abort`.
 */
export interface Transaction {
  send(topic: string, records: ProducerRecord[]): Promise<RecordMetadata[]>;
  /** Commits these offsets for `groupId` as part of the transaction. */
  sendOffsets(groupId: string, offsets: TopicPartitionOffset[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * A producer owning one transactional id. Creating another producer with the same id aborts
 * this one's open transaction and fences it: its next operation fails with a
 * `TransportError` whose code is `PRODUCER_FENCED`.
 */
export interface TransactionalProducer {
  readonly transactionalId: string;
  /** Starts a transaction; only one may be open at a time. */
  begin(): Promise<Transaction>;
  disconnect(): Promise<void>;
}

export interface Transport {
  /** `kafka` or `embedded`, for logs and health reports. */
  readonly kind: 'kafka' | 'embedded';
  /** Creates the topics that do not exist yet; existing topics are left as they are. */
  createTopics(topics: NewTopic[]): Promise<void>;
  /** Low and high offsets of every partition of a topic, partitions in ascending order. */
  fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]>;
  /** A group's committed offsets for every partition of a topic, partitions in ascending order. */
  fetchCommittedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]>;
  producer(): Promise<Producer>;
  transactionalProducer(transactionalId: string): Promise<TransactionalProducer>;
  /**
   * Joins the group and starts delivering. It resolves once the consumer runs; the first
   * assignment may come before or after (wait for `onPartitionsAssigned`).
   */
  consume(options: ConsumerOptions): Promise<Consumer>;
  /** Stops every consumer and producer made by this transport, then releases it. */
  close(): Promise<void>;
}
