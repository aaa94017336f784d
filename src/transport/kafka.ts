import {
  type Admin,
  type Batch,
  Kafka,
  type Consumer as KafkaJsConsumer,
  type Producer as KafkaJsProducer,
  type Transaction as KafkaJsTransaction,
  type KafkaMessage,
  type LogEntry,
  logLevel,
  type Message,
  Partitioners,
  type RecordMetadata as PartitionMetadata,
} from 'kafkajs';
import { getLogger, type Logger } from '../log/logger.js';
import { TransportError } from './errors.js';
import type {
  ConsumedRecord,
  Consumer,
  ConsumerOptions,
  NewTopic,
  PartitionOffset,
  PartitionOffsets,
  Producer,
  ProducerRecord,
  RecordMetadata,
  TopicPartition,
  TopicPartitionOffset,
  Transaction,
  TransactionalProducer,
  Transport,
} from './transport.js';

/**
 * The transport over Apache Kafka. kafkajs is used here and nowhere else in `src`, so moving
 * to another client with the same API (for example `@confluentinc/kafka-javascript`) changes
 * this file only.
 *
 * What kafkajs brings with it, and how this module lives with it:
 * - It speaks the classic consumer group protocol with eager rebalancing: on every rebalance
 *   each member loses all its partitions and reads its new share from the committed offsets.
 *   `onPartitionsRevoked` and `onPartitionsAssigned` report exactly that.
 * - It sends transactional offset commits (`sendOffsets`) without the consumer's generation,
 *   so the group coordinator cannot fence a stale member that still commits. The learner
 *   avoids the gap by using one transactional producer per input partition, its
 *   transactional id derived from the partition: the member that takes a partition over
 *   creates a producer with the same id, which fences the previous owner's producer.
 */

/** Consumer group timings. The defaults suit production; tests shorten them. */
export interface KafkaConsumerTimings {
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /** How long a fetch waits for records; also bounds how soon a rebalance is noticed. */
  maxWaitTimeMs?: number;
}

export interface KafkaTransportOptions {
  brokers: string[];
  clientId?: string;
  /** Replication factor of created topics; the broker's default when omitted. */
  replicationFactor?: number;
  consumer?: KafkaConsumerTimings;
  /** How long a transaction may stay open before the broker aborts it. */
  transactionTimeoutMs?: number;
  logger?: Logger;
}

/** How long a created topic may take to have a leader for every partition. */
const TOPIC_READY_TIMEOUT_MS = 30_000;

const DEFAULT_TIMINGS: Required<KafkaConsumerTimings> = {
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  rebalanceTimeoutMs: 60_000,
  maxWaitTimeMs: 1_000,
};

/**
 * Bounded retries for producers: a send to a missing topic fails after about half a minute
 * instead of retrying forever (kafkajs's default for idempotent producers). The caller then
 * decides; within those retries the idempotent producer still never duplicates a record.
 */
const PRODUCER_RETRY = { retries: 10, initialRetryTime: 50, maxRetryTime: 5_000 };

/** Connects to the cluster and returns a transport over it. */
export async function connectKafka(options: KafkaTransportOptions): Promise<KafkaTransport> {
  const logger = options.logger ?? getLogger('kafka');
  const kafka = new Kafka({
    clientId: options.clientId ?? 'allmap',
    brokers: options.brokers,
    logLevel: kafkaJsLevel(logger),
    logCreator: () => (entry) => forwardLog(logger, entry),
  });

  const admin = kafka.admin();
  await guard(`connect to Kafka at ${options.brokers.join(',')}`, () => admin.connect());
  return new KafkaTransport(kafka, admin, options, logger);
}

interface Closable {
  close(): Promise<void>;
}

export class KafkaTransport implements Transport {
  readonly kind = 'kafka';
  /** Everything this transport made, closed with it. */
  private readonly closables = new Set<Closable>();
  private readonly timings: Required<KafkaConsumerTimings>;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly options: KafkaTransportOptions,
    private readonly logger: Logger,
  ) {
    this.timings = { ...DEFAULT_TIMINGS, ...options.consumer };
  }

  async createTopics(topics: NewTopic[]): Promise<void> {
    const existing = new Set(await guard('list topics', () => this.admin.listTopics()));
    const missing = topics.filter((topic) => !existing.has(topic.topic));
    if (missing.length === 0) return;

    const names = missing.map((topic) => topic.topic).join(', ');
    // `false` means another client created them first, which is as good.
    await guard(`create topics ${names}`, () =>
      this.admin.createTopics({
        waitForLeaders: false,
        topics: missing.map((topic) => ({
          topic: topic.topic,
          numPartitions: topic.numPartitions,
          replicationFactor: this.options.replicationFactor ?? -1,
          configEntries: Object.entries(topic.configs ?? {}).map(([name, value]) => ({
            name,
            value,
          })),
        })),
      }),
    );
    await this.waitForLeaders(missing);
  }

  /**
   * Waits until every partition of the new topics has a leader. kafkajs's own wait gives up
   * when the broker answers UNKNOWN_TOPIC_OR_PARTITION, which a KRaft broker does for a
   * moment after creating a topic, until its metadata catches up.
   */
  private async waitForLeaders(topics: NewTopic[]): Promise<void> {
    const deadline = Date.now() + TOPIC_READY_TIMEOUT_MS;
    const names = topics.map((topic) => topic.topic);
    for (;;) {
      const pending = await this.topicsWithoutLeaders(topics).catch(() => names);
      if (pending.length === 0) return;
      if (Date.now() > deadline) {
        throw new TransportError(
          'LEADER_NOT_AVAILABLE',
          `topics ${pending.join(', ')} were created but have no leader for every partition ` +
            `after ${TOPIC_READY_TIMEOUT_MS} ms`,
          { isRetriable: true },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async topicsWithoutLeaders(topics: NewTopic[]): Promise<string[]> {
    const names = topics.map((topic) => topic.topic);
    const { topics: metadata } = await this.admin.fetchTopicMetadata({ topics: names });
    return topics
      .filter(({ topic, numPartitions }) => {
        const partitions = metadata.find((entry) => entry.name === topic)?.partitions ?? [];
        const led = partitions.filter((partition) => partition.leader >= 0);
        return led.length < numPartitions;
      })
      .map(({ topic }) => topic);
  }

  async fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]> {
    // kafkajs's admin lists offsets as a read_committed reader sees them: `high` is the last
    // stable offset, which equals the high watermark when no transaction is open.
    // Just after a topic is created its metadata already names leaders that still answer
    // NOT_LEADER_FOR_PARTITION for a moment, and kafkajs's admin does not retry that here.
    const offsets = await retryWhileRetriable(() =>
      guard(`fetch offsets of topic '${topic}'`, () => this.admin.fetchTopicOffsets(topic)),
    );
    return offsets
      .map(({ partition, low, high }) => ({ partition, low, high }))
      .sort((a, b) => a.partition - b.partition);
  }

  async fetchCommittedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    const [offsets] = await guard(`fetch offsets of group '${groupId}'`, () =>
      this.admin.fetchOffsets({ groupId, topics: [topic] }),
    );
    return (offsets?.partitions ?? [])
      .map(({ partition, offset }) => ({ partition, offset }))
      .sort((a, b) => a.partition - b.partition);
  }

  async producer(): Promise<Producer> {
    const partitions = new PartitionRecorder();
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: partitions.partitioner,
      retry: PRODUCER_RETRY,
    });
    await guard('connect a producer', () => producer.connect());

    const disconnect = () => this.forget(closable, () => producer.disconnect());
    const closable: Closable = { close: disconnect };
    this.closables.add(closable);
    // kafkajs's idempotent producer rolls back the sequence numbers of a whole request that
    // failed with a retriable error; a request sent concurrently then reuses them and the
    // broker refuses it (OUT_OF_ORDER_SEQUENCE_NUMBER) or drops it as a duplicate (kafkajs
    // issue 598). One send at a time per producer keeps the sequence numbers in order.
    const inOrder = new SendQueue();
    return {
      send: (topic, records) =>
        inOrder.run(() =>
          sendRecords(topic, records, partitions, (messages) =>
            producer.send({ topic, messages, acks: -1 }),
          ),
        ),
      disconnect,
    };
  }

  async transactionalProducer(transactionalId: string): Promise<TransactionalProducer> {
    const partitions = new PartitionRecorder();
    const producer = this.kafka.producer({
      transactionalId,
      transactionTimeout: this.options.transactionTimeoutMs ?? 60_000,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: partitions.partitioner,
      retry: PRODUCER_RETRY,
    });
    await guard(`connect transactional producer '${transactionalId}'`, () => producer.connect());

    // kafkajs registers the transactional id with the coordinator (which fences any older
    // producer of the id and aborts its open transaction) on its first transaction; an empty
    // one sends nothing else, and makes the fencing happen now, as Kafka's initTransactions does.
    await guard(`initialise transactional id '${transactionalId}'`, async () => {
      await (await producer.transaction()).abort();
    });

    const transactional = new KafkaTransactionalProducer(transactionalId, producer, partitions);
    const closable: Closable = {
      close: () => this.forget(closable, () => transactional.disconnect()),
    };
    this.closables.add(closable);
    return transactional;
  }

  async consume(options: ConsumerOptions): Promise<Consumer> {
    const consumer = new KafkaConsumer(this.kafka, options, this.timings, this.logger);
    try {
      await consumer.start();
    } catch (error) {
      await consumer.stop();
      throw error;
    }

    const closable: Closable = { close: () => this.forget(closable, () => consumer.stop()) };
    this.closables.add(closable);
    const forget = () => this.closables.delete(closable);
    consumer.stopped.then(forget, forget);
    return consumer;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.closables].map((closable) => closable.close()));
    await this.admin.disconnect();
  }

  private async forget(closable: Closable, close: () => Promise<void>): Promise<void> {
    this.closables.delete(closable);
    await close();
  }
}

class KafkaTransactionalProducer implements TransactionalProducer {
  private current: KafkaJsTransaction | undefined;

  constructor(
    readonly transactionalId: string,
    private readonly producer: KafkaJsProducer,
    private readonly partitions: PartitionRecorder,
  ) {}

  async begin(): Promise<Transaction> {
    if (this.current?.isActive()) {
      throw new TransportError(
        'INVALID_TXN_STATE',
        `transactional id '${this.transactionalId}' already has a transaction open; ` +
          'commit or abort it before beginning another',
      );
    }
    const transaction = await guard(`begin a transaction of '${this.transactionalId}'`, () =>
      this.producer.transaction(),
    );
    this.current = transaction;
    return new KafkaTransaction(this.transactionalId, transaction, this.partitions);
  }

  async disconnect(): Promise<void> {
    // An open transaction is aborted by the broker when it times out; aborting it here
    // releases its partitions' last stable offset at once.
    if (this.current?.isActive()) await this.current.abort().catch(() => {});
    await this.producer.disconnect();
  }
}

class KafkaTransaction implements Transaction {
  constructor(
    private readonly transactionalId: string,
    private readonly transaction: KafkaJsTransaction,
    private readonly partitions: PartitionRecorder,
  ) {}

  async send(topic: string, records: ProducerRecord[]): Promise<RecordMetadata[]> {
    this.checkActive('send');
    return sendRecords(topic, records, this.partitions, (messages) =>
      this.transaction.send({ topic, messages, acks: -1 }),
    );
  }

  async sendOffsets(groupId: string, offsets: TopicPartitionOffset[]): Promise<void> {
    this.checkActive('sendOffsets');
    await guard(`send offsets of group '${groupId}' in a transaction`, () =>
      this.transaction.sendOffsets({ consumerGroupId: groupId, topics: byTopic(offsets) }),
    );
  }

  async commit(): Promise<void> {
    this.checkActive('commit');
    await guard(`commit the transaction of '${this.transactionalId}'`, () =>
      this.transaction.commit(),
    );
  }

  async abort(): Promise<void> {
    this.checkActive('abort');
    await guard(`abort the transaction of '${this.transactionalId}'`, () =>
      this.transaction.abort(),
    );
  }

  private checkActive(operation: string): void {
    if (this.transaction.isActive()) return;
    throw new TransportError(
      'INVALID_TXN_STATE',
      `cannot ${operation}: the transaction of '${this.transactionalId}' has already ended; ` +
        'begin a new one',
    );
  }
}

/** A member of a consumer group, over a kafkajs consumer running `eachBatch`. */
class KafkaConsumer implements Consumer {
  readonly groupId: string;
  readonly stopped: Promise<void>;
  private readonly consumer: KafkaJsConsumer;
  private readonly assigned = new Map<string, TopicPartition>();
  /** Next offsets, learnt from the batches delivered and those kafkajs filtered out. */
  private readonly positions = new Map<string, string>();
  private readonly paused = new Set<string>();
  /** Counts seeks, so a batch handled during a seek does not overwrite the sought position. */
  private seeks = 0;
  private failure: unknown;
  private stopping: Promise<void> | undefined;
  private settle!: { resolve: () => void; reject: (error: unknown) => void };

  constructor(
    kafka: Kafka,
    private readonly options: ConsumerOptions,
    timings: Required<KafkaConsumerTimings>,
    private readonly logger: Logger,
  ) {
    this.groupId = options.groupId;
    this.stopped = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Marked as handled: a caller who never awaits `stopped` must not crash the process.
    this.stopped.catch(() => {});

    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: timings.sessionTimeoutMs,
      heartbeatInterval: timings.heartbeatIntervalMs,
      rebalanceTimeout: timings.rebalanceTimeoutMs,
      maxWaitTimeInMs: timings.maxWaitTimeMs,
      readUncommitted: options.isolationLevel === 'read_uncommitted',
      allowAutoTopicCreation: false,
    });
    this.listen();
  }

  async start(): Promise<void> {
    const topics = this.options.topics.join(', ');
    await guard(`join consumer group '${this.groupId}'`, async () => {
      await this.consumer.connect();
      await this.consumer.subscribe({
        topics: this.options.topics,
        fromBeginning: this.options.autoOffsetReset === 'earliest',
      });
    });
    await guard(`consume ${topics} in group '${this.groupId}'`, () =>
      this.consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: ({ batch, resolveOffset }) => this.handle(batch, resolveOffset),
      }),
    );
  }

  assignment(): TopicPartition[] {
    return [...this.assigned.values()];
  }

  position(partition: TopicPartition): string | undefined {
    return this.positions.get(keyOf(partition));
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    for (const offset of offsets) this.checkAssigned(offset, 'commit');
    await guard(`commit offsets of group '${this.groupId}'`, () =>
      this.consumer.commitOffsets(
        offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
      ),
    );
  }

  pause(partitions: TopicPartition[]): void {
    const owned = partitions.filter((partition) => this.assigned.has(keyOf(partition)));
    for (const partition of owned) this.paused.add(keyOf(partition));
    if (owned.length > 0) this.consumer.pause(byTopicPartitions(owned));
  }

  resume(partitions: TopicPartition[]): void {
    const owned = partitions.filter((partition) => this.assigned.has(keyOf(partition)));
    for (const partition of owned) this.paused.delete(keyOf(partition));
    if (owned.length > 0) this.consumer.resume(byTopicPartitions(owned));
  }

  seek(target: TopicPartitionOffset): void {
    this.checkAssigned(target, 'seek');
    this.consumer.seek(target);
    this.seeks += 1;
    this.positions.set(keyOf(target), target.offset);
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    await this.consumer.disconnect().catch((error: unknown) => {
      this.logger.warn({ err: error, groupId: this.groupId }, 'consumer did not leave cleanly');
    });
    if (this.failure === undefined) this.settle.resolve();
    else this.settle.reject(this.failure);
  }

  private async handle(batch: Batch, resolveOffset: (offset: string) => void): Promise<void> {
    // A batch fetched before a pause, or after a failure, is not delivered. Leaving it
    // unresolved keeps kafkajs's fetch position where it was: after resume it comes again.
    const key = keyOf(batch);
    const last = batch.messages[batch.messages.length - 1];
    if (this.failure !== undefined || this.paused.has(key) || last === undefined) return;
    const seeks = this.seeks;

    try {
      await this.options.eachBatch({
        topic: batch.topic,
        partition: batch.partition,
        records: batch.messages.map((message) => toRecord(batch, message)),
        highWatermark: batch.highWatermark,
        fetchOffset: fetchedOffsetOf(batch),
      });
    } catch (error) {
      this.fail(error);
      return;
    }

    // kafkajs moves past trailing transaction markers when the last record is resolved.
    resolveOffset(last.offset);
    // A seek made while the batch was handled decides the position, not the batch.
    if (this.assigned.has(key) && seeks === this.seeks) {
      this.positions.set(key, nextOffset(batch.lastOffset()));
    }
  }

  private listen(): void {
    const { events } = this.consumer;
    this.consumer.on(events.GROUP_JOIN, ({ payload }) => this.rebalanced(payload.memberAssignment));
    // Batches holding only transaction markers or aborted records never reach `handle`;
    // kafkajs moves past them itself and reports it here.
    this.consumer.on(events.END_BATCH_PROCESS, ({ payload }) => {
      const key = keyOf(payload);
      if (payload.batchSize === 0 && this.assigned.has(key)) {
        this.positions.set(key, nextOffset(payload.lastOffset));
      }
    });
    this.consumer.on(events.CRASH, ({ payload }) => {
      // kafkajs restarts itself after retriable errors; anything else ends this member.
      if (!payload.restart) this.fail(payload.error);
    });
  }

  /** Eager rebalancing: everything owned before is revoked, the new share assigned. */
  private rebalanced(assignment: Record<string, number[]>): void {
    const revoked = this.assignment();
    // Pauses belong to the previous assignment; kafkajs would otherwise keep them.
    if (revoked.length > 0) this.consumer.resume(byTopicPartitions(revoked));
    this.assigned.clear();
    this.positions.clear();
    this.paused.clear();

    const assigned = Object.entries(assignment).flatMap(([topic, partitions]) =>
      partitions.map((partition) => ({ topic, partition })),
    );
    for (const partition of assigned) this.assigned.set(keyOf(partition), partition);
    this.logger.info(
      { groupId: this.groupId, assigned: assigned.map(keyOf) },
      'consumer group rebalanced',
    );

    this.callBack(() => revoked.length > 0 && this.options.onPartitionsRevoked?.(revoked));
    this.callBack(() => assigned.length > 0 && this.options.onPartitionsAssigned?.(assigned));
  }

  private callBack(callback: () => unknown): void {
    try {
      callback();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Records what stopped the member and leaves the group without waiting inside kafkajs. */
  private fail(error: unknown): void {
    if (this.failure !== undefined || this.stopping !== undefined) return;
    this.failure = error;
    this.logger.error({ err: error, groupId: this.groupId }, 'consumer stopped by an error');
    setImmediate(() => void this.stop());
  }

  private checkAssigned(partition: TopicPartition, operation: string): void {
    if (this.assigned.has(keyOf(partition))) return;
    const assigned = this.assignment().map(keyOf).join(', ') || 'none';
    throw new TransportError(
      'PARTITION_NOT_ASSIGNED',
      `cannot ${operation} ${partition.topic}/${partition.partition} for group ` +
        `'${this.groupId}': the partition is not assigned to this consumer (assigned: ${assigned})`,
    );
  }
}

/**
 * Remembers the partition kafkajs's default partitioner picks for each message, so a send can
 * tell every record its offset: Kafka writes one partition's records of a request as one
 * batch, at consecutive offsets from the batch's base offset.
 */
class PartitionRecorder {
  private readonly chosen = new WeakMap<Message, number>();

  readonly partitioner = () => {
    const partition = Partitioners.DefaultPartitioner();
    return (args: Parameters<typeof partition>[0]) => {
      const chosen = partition(args);
      this.chosen.set(args.message, chosen);
      return chosen;
    };
  };

  partitionOf(message: Message): number {
    const partition = this.chosen.get(message);
    if (partition !== undefined) return partition;
    throw new TransportError('INVALID_REQUEST', 'a sent record was never given a partition');
  }
}

/** Runs tasks one after another, in the order they were given, whatever each one's outcome. */
class SendQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

async function sendRecords(
  topic: string,
  records: ProducerRecord[],
  partitions: PartitionRecorder,
  send: (messages: Message[]) => Promise<PartitionMetadata[]>,
): Promise<RecordMetadata[]> {
  if (records.length === 0) return [];
  const messages = records.map(toMessage);
  const acknowledged = await guard(`send ${records.length} records to '${topic}'`, () =>
    send(messages),
  );

  const baseOffsets = new Map(
    acknowledged.map(({ partition, baseOffset }) => [partition, BigInt(baseOffset ?? '0')]),
  );
  const sentBefore = new Map<number, bigint>();
  return messages.map((message) => {
    const partition = partitions.partitionOf(message);
    const index = sentBefore.get(partition) ?? 0n;
    sentBefore.set(partition, index + 1n);
    const offset = (baseOffsets.get(partition) ?? 0n) + index;
    return { topic, partition, offset: String(offset) };
  });
}

function toMessage(record: ProducerRecord): Message {
  return {
    key: record.key,
    value: record.value,
    headers: record.headers,
    ...(record.partition === undefined ? {} : { partition: record.partition }),
  };
}

function toRecord(batch: Batch, message: KafkaMessage): ConsumedRecord {
  const headers: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    // A repeated header arrives as a list; the last value wins, as in a map of headers.
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) headers[name] = Buffer.isBuffer(last) ? last : Buffer.from(last);
  }

  return {
    topic: batch.topic,
    partition: batch.partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString('utf8'),
    value: message.value,
    headers,
    timestamp: message.timestamp,
  };
}

/** Runs a kafkajs call; anything it throws becomes a `TransportError` that says what failed. */
/** Repeats a call that fails with a retriable transport error, for up to `timeoutMs`. */
async function retryWhileRetriable<T>(
  call: () => Promise<T>,
  timeoutMs = TOPIC_READY_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const retriable = error instanceof TransportError && error.isRetriable;
      if (!retriable || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 1_000)));
    }
  }
}

async function guard<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toTransportError(action, error);
  }
}

interface KafkaJsErrorShape {
  name?: string;
  type?: string;
  message?: string;
  retriable?: boolean;
  cause?: unknown;
}

function toTransportError(action: string, error: unknown): TransportError {
  if (error instanceof TransportError) return error;

  // kafkajs wraps the broker's answer when it gives up retrying; the innermost error names it.
  let root = error as KafkaJsErrorShape;
  while (root.type === undefined && typeof root.cause === 'object' && root.cause !== null) {
    root = root.cause as KafkaJsErrorShape;
  }
  const code = codeOf(root);
  const message = (error as KafkaJsErrorShape).message ?? String(error);
  return new TransportError(code, `${action}: ${message} (${code})`, {
    cause: error,
    isRetriable: root.retriable === true && code !== 'PRODUCER_FENCED',
  });
}

function codeOf(error: KafkaJsErrorShape): string {
  // Kafka answers an old-epoch transactional producer with either name, depending on the
  // request version kafkajs uses; both mean another producer took the transactional id.
  if (error.type === 'INVALID_PRODUCER_EPOCH' || error.type === 'PRODUCER_FENCED') {
    return 'PRODUCER_FENCED';
  }
  return error.type ?? error.name ?? 'UNKNOWN';
}

/** kafkajs's own threshold, one step below ours: its info lines are our debug lines. */
function kafkaJsLevel(logger: Logger): logLevel {
  if (logger.isLevelEnabled('trace')) return logLevel.DEBUG;
  if (logger.isLevelEnabled('debug')) return logLevel.INFO;
  return logLevel.WARN;
}

function forwardLog(logger: Logger, { namespace, level, log }: LogEntry): void {
  const { message, timestamp: _timestamp, logger: _logger, ...context } = log;
  const fields = { namespace, ...context };

  if (isRoutine(namespace, message, context)) logger.debug(fields, message);
  else if (level === logLevel.ERROR) logger.error(fields, message);
  else if (level === logLevel.WARN) logger.warn(fields, message);
  else if (level === logLevel.INFO) logger.debug(fields, message);
  else logger.trace(fields, message);
}

/**
 * kafkajs logs as errors and warnings what it then handles itself: every error response on a
 * connection, each attempt it is about to retry (a transaction started right after a commit
 * meets CONCURRENT_TRANSACTIONS once, every time), each rejoin of a rebalancing group, and
 * the warning about the retry limit this module sets on purpose (see `PRODUCER_RETRY`). A
 * failure that stays reaches the caller as a `TransportError`; rebalances are logged by
 * `KafkaConsumer` in one line each.
 */
function isRoutine(namespace: string, message: string, context: object): boolean {
  return (
    namespace === 'Connection' ||
    'retryCount' in context ||
    message.startsWith('The group is rebalancing, re-joining') ||
    message.startsWith('Limiting retries for the idempotent producer')
  );
}

/**
 * The offset kafkajs fetched the batch from. Its `Batch` keeps it (`firstOffset()` falls back
 * to it only for an empty batch) without declaring it in its types.
 */
function fetchedOffsetOf(batch: Batch): string {
  return (batch as Batch & { readonly fetchedOffset: string }).fetchedOffset;
}

function nextOffset(offset: string): string {
  return String(BigInt(offset) + 1n);
}

function keyOf({ topic, partition }: TopicPartition): string {
  return `${topic}:${partition}`;
}

function byTopic(offsets: TopicPartitionOffset[]) {
  const topics = new Map<string, Array<{ partition: number; offset: string }>>();
  for (const { topic, partition, offset } of offsets) {
    topics.set(topic, [...(topics.get(topic) ?? []), { partition, offset }]);
  }
  return [...topics].map(([topic, partitions]) => ({ topic, partitions }));
}

function byTopicPartitions(partitions: TopicPartition[]) {
  return byTopic(partitions.map((partition) => ({ ...partition, offset: '' }))).map(
    ({ topic, partitions: entries }) => ({
      topic,
      partitions: entries.map(({ partition }) => partition),
    }),
  );
}
