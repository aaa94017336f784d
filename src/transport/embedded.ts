import { getLogger, type Logger } from '../log/logger.js';
import { ConsumerGroup, EmbeddedConsumer, type EmbeddedLog } from './embedded/group.js';
import { type PartitionLog, TopicLog, type TransactionState, topicPolicy } from './embedded/log.js';
import { TransportError } from './errors.js';
import { partitionForKey } from './partitioner.js';
import type {
  Consumer,
  ConsumerOptions,
  NewTopic,
  PartitionOffset,
  PartitionOffsets,
  Producer,
  ProducerRecord,
  RecordMetadata,
  TopicPartitionOffset,
  Transaction,
  TransactionalProducer,
  Transport,
} from './transport.js';

/**
 * The transport without a broker: one process, records in memory, the same semantics as the
 * Kafka transport (see `transport.ts`), so `allmap run` shows the whole loop on a machine with
 * no Kafka and the transport contract tests run in milliseconds. Nothing survives the process.
 */
export class EmbeddedTransport implements Transport {
  readonly kind = 'embedded';
  private readonly topics = new Map<string, TopicLog>();
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly consumers = new Set<EmbeddedConsumer>();
  /** The epoch of each transactional id; a producer holding an older one is fenced. */
  private readonly epochs = new Map<string, number>();
  /** The open transaction of each transactional id, aborted when a newer producer takes over. */
  private readonly openTransactions = new Map<string, EmbeddedTransaction>();
  /** Consumers waiting for the log to change. */
  private waiters: Array<() => void> = [];
  private isClosed = false;
  private readonly logger: Logger;

  private readonly log: EmbeddedLog = {
    topic: (name) => this.topicLog(name),
    changed: () => new Promise((resolve) => this.waiters.push(resolve)),
    notify: () => this.notify(),
  };

  constructor(options: { logger?: Logger } = {}) {
    this.logger = options.logger ?? getLogger('transport', { transport: 'embedded' });
  }

  async createTopics(topics: NewTopic[]): Promise<void> {
    this.checkOpen();
    for (const topic of topics) {
      if (this.topics.has(topic.topic)) continue;
      if (!Number.isInteger(topic.numPartitions) || topic.numPartitions < 1) {
        throw new TransportError(
          'INVALID_REQUEST',
          `topic '${topic.topic}': numPartitions must be a positive integer, received ` +
            `${topic.numPartitions}`,
        );
      }
      this.topics.set(
        topic.topic,
        new TopicLog(topic.topic, topic.numPartitions, topicPolicy(topic)),
      );
    }
  }

  async fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]> {
    return this.topicLog(topic).partitions.map((log) => ({
      partition: log.partition,
      low: String(log.logStartOffset),
      high: String(log.lastStableOffset()),
    }));
  }

  async fetchCommittedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    const group = this.groups.get(groupId);
    return this.topicLog(topic).partitions.map(({ partition }) => ({
      partition,
      offset: String(group?.committedOffset({ topic, partition }) ?? -1),
    }));
  }

  async producer(): Promise<Producer> {
    this.checkOpen();
    return {
      send: async (topic, records) => this.append(topic, records),
      disconnect: async () => {},
    };
  }

  async transactionalProducer(transactionalId: string): Promise<TransactionalProducer> {
    this.checkOpen();
    const epoch = (this.epochs.get(transactionalId) ?? -1) + 1;
    this.epochs.set(transactionalId, epoch);

    // As Kafka does when a producer initialises a transactional id: the previous owner's
    // transaction in progress is aborted, and that owner is fenced.
    this.openTransactions.get(transactionalId)?.end('aborted');
    return new EmbeddedTransactionalProducer(transactionalId, epoch, this);
  }

  async consume(options: ConsumerOptions): Promise<Consumer> {
    this.checkOpen();
    const group = this.groupFor(options.groupId);
    const consumer = new EmbeddedConsumer(options, group, this.log, this.logger);
    consumer.start();

    this.consumers.add(consumer);
    const forget = () => this.consumers.delete(consumer);
    consumer.stopped.then(forget, forget);
    return consumer;
  }

  async close(): Promise<void> {
    this.isClosed = true;
    await Promise.all([...this.consumers].map((consumer) => consumer.stop()));
  }

  /** Writes records, all checked before any is written, and returns where each landed. */
  append(
    topic: string,
    records: ProducerRecord[],
    transaction?: EmbeddedTransaction,
  ): RecordMetadata[] {
    this.checkOpen();
    const topicLog = this.topicLog(topic);
    const targets = records.map((record) => this.partitionLogFor(topicLog, record));

    const written = records.map((record, index) => {
      const log = targets[index]!;
      transaction?.partitions.add(log);
      const offset = log.append(record, transaction?.state);
      return { topic, partition: log.partition, offset: String(offset) };
    });
    this.notify();
    return written;
  }

  /** Throws `PRODUCER_FENCED` when a newer producer holds the transactional id. */
  checkEpoch(transactionalId: string, epoch: number): void {
    if (this.epochs.get(transactionalId) === epoch) return;
    throw new TransportError(
      'PRODUCER_FENCED',
      `transactional id '${transactionalId}' was taken over by a newer producer ` +
        `(epoch ${this.epochs.get(transactionalId)}, this producer's ${epoch}); ` +
        'this producer cannot write again: create a new one',
    );
  }

  registerTransaction(transactionalId: string, transaction: EmbeddedTransaction): void {
    this.openTransactions.set(transactionalId, transaction);
  }

  /** Makes a transaction's offsets part of the group's committed offsets, then wakes readers. */
  finishTransaction(transaction: EmbeddedTransaction): void {
    if (transaction.state.status === 'committed') {
      for (const { groupId, offsets } of transaction.offsets) {
        this.groupFor(groupId).commit(offsets);
      }
    }
    if (this.openTransactions.get(transaction.transactionalId) === transaction) {
      this.openTransactions.delete(transaction.transactionalId);
    }
    this.notify();
  }

  private partitionLogFor(topicLog: TopicLog, record: ProducerRecord): PartitionLog {
    checkRecord(topicLog.name, record);
    const count = topicLog.partitions.length;
    const partition = record.partition ?? partitionForKey(record.key, count);
    const log = topicLog.partitions[partition];
    if (log !== undefined) return log;
    throw new TransportError(
      'UNKNOWN_TOPIC_OR_PARTITION',
      `topic '${topicLog.name}' has partitions 0..${count - 1}, received partition ${partition}`,
    );
  }

  private topicLog(name: string): TopicLog {
    const topic = this.topics.get(name);
    if (topic !== undefined) return topic;
    const existing = [...this.topics.keys()].join(', ') || 'none';
    throw new TransportError(
      'UNKNOWN_TOPIC_OR_PARTITION',
      `topic '${name}' does not exist (existing: ${existing}); create it with createTopics first`,
    );
  }

  private groupFor(groupId: string): ConsumerGroup {
    let group = this.groups.get(groupId);
    if (group === undefined) {
      group = new ConsumerGroup(groupId, this.log);
      this.groups.set(groupId, group);
    }
    return group;
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private checkOpen(): void {
    if (this.isClosed) throw new TransportError('CLOSED', 'the embedded transport is closed');
  }
}

class EmbeddedTransactionalProducer implements TransactionalProducer {
  private current: EmbeddedTransaction | undefined;

  constructor(
    readonly transactionalId: string,
    private readonly epoch: number,
    private readonly transport: EmbeddedTransport,
  ) {}

  async begin(): Promise<Transaction> {
    this.transport.checkEpoch(this.transactionalId, this.epoch);
    if (this.current?.state.status === 'open') {
      throw new TransportError(
        'INVALID_TXN_STATE',
        `transactional id '${this.transactionalId}' already has a transaction open; ` +
          'commit or abort it before beginning another',
      );
    }
    this.current = new EmbeddedTransaction(this.transactionalId, this.epoch, this.transport);
    this.transport.registerTransaction(this.transactionalId, this.current);
    return this.current;
  }

  async disconnect(): Promise<void> {
    // Kafka aborts a disconnected producer's open transaction only when it times out; aborting
    // now gives the same outcome sooner.
    if (this.current?.state.status === 'open') this.current.end('aborted');
  }
}

class EmbeddedTransaction implements Transaction {
  readonly state: TransactionState = { status: 'open' };
  readonly partitions = new Set<PartitionLog>();
  readonly offsets: Array<{ groupId: string; offsets: TopicPartitionOffset[] }> = [];

  constructor(
    readonly transactionalId: string,
    private readonly epoch: number,
    private readonly transport: EmbeddedTransport,
  ) {}

  async send(topic: string, records: ProducerRecord[]): Promise<RecordMetadata[]> {
    this.checkUsable('send');
    return this.transport.append(topic, records, this);
  }

  async sendOffsets(groupId: string, offsets: TopicPartitionOffset[]): Promise<void> {
    this.checkUsable('sendOffsets');
    this.offsets.push({ groupId, offsets: offsets.map((offset) => ({ ...offset })) });
  }

  async commit(): Promise<void> {
    this.checkUsable('commit');
    this.end('committed');
  }

  async abort(): Promise<void> {
    this.checkUsable('abort');
    this.end('aborted');
  }

  /** Ends the transaction in every partition it wrote to. */
  end(status: 'committed' | 'aborted'): void {
    this.state.status = status;
    for (const log of this.partitions) log.endTransaction(this.state);
    this.transport.finishTransaction(this);
  }

  private checkUsable(operation: string): void {
    this.transport.checkEpoch(this.transactionalId, this.epoch);
    if (this.state.status === 'open') return;
    throw new TransportError(
      'INVALID_TXN_STATE',
      `cannot ${operation}: the transaction of '${this.transactionalId}' is already ` +
        `${this.state.status}; begin a new one`,
    );
  }
}

function checkRecord(topic: string, record: ProducerRecord): void {
  const isValueValid = record.value === null || Buffer.isBuffer(record.value);
  const isPartitionValid = record.partition === undefined || Number.isInteger(record.partition);
  if (typeof record.key === 'string' && isValueValid && isPartitionValid) return;
  throw new TransportError(
    'INVALID_REQUEST',
    `record for topic '${topic}': expected a string key, a Buffer or null value and an ` +
      `integer partition if any, received key ${typeof record.key}, value ` +
      `${record.value === null ? 'null' : typeof record.value}, partition ${record.partition}`,
  );
}
