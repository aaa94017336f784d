import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from '../../log/logger.js';
import { TransportError } from '../errors.js';
import type {
  Consumer,
  ConsumerOptions,
  IsolationLevel,
  TopicPartition,
  TopicPartitionOffset,
} from '../transport.js';
import type { PartitionLog, TopicLog } from './log.js';

/**
 * Consumer groups of the embedded transport: a group coordinator in miniature that splits the
 * partitions of the subscribed topics among the members and keeps the committed offsets, and
 * the member that delivers records. A rebalance happens at once when a member joins or leaves
 * and follows Kafka's eager protocol, as kafkajs does: every member gives up all its
 * partitions, then takes its new share, and reads each from the group's committed offset.
 */

/** What a group and its members need from the transport that owns the log. */
export interface EmbeddedLog {
  /** The topic, or a `TransportError` with code `UNKNOWN_TOPIC_OR_PARTITION`. */
  topic(name: string): TopicLog;
  /** Resolves at the next change a waiting consumer may care about. */
  changed(): Promise<void>;
  /** Wakes every consumer waiting in `changed()`. */
  notify(): void;
}

/** Bytes per batch, as kafkajs's default `maxBytesPerPartition`; one record always fits. */
const MAX_BATCH_BYTES = 1024 * 1024;

export class ConsumerGroup {
  private readonly members: EmbeddedConsumer[] = [];
  /** Committed offsets by `topic:partition`: the next offset the group will read. */
  private readonly committed = new Map<string, number>();

  constructor(
    readonly groupId: string,
    private readonly log: EmbeddedLog,
  ) {}

  join(member: EmbeddedConsumer): void {
    this.members.push(member);
    this.rebalance();
  }

  leave(member: EmbeddedConsumer): void {
    const index = this.members.indexOf(member);
    if (index < 0) return;
    this.members.splice(index, 1);
    this.rebalance();
  }

  committedOffset(partition: TopicPartition): number | undefined {
    return this.committed.get(keyOf(partition));
  }

  commit(offsets: TopicPartitionOffset[]): void {
    for (const offset of offsets) this.committed.set(keyOf(offset), Number(offset.offset));
  }

  /** Round robin over every subscribed partition, like kafkajs's default assigner. */
  private rebalance(): void {
    const assignments = new Map<EmbeddedConsumer, TopicPartition[]>();
    const topics = [...new Set(this.members.flatMap((member) => member.topics))].sort();

    for (const topic of topics) {
      const subscribers = this.members.filter((member) => member.topics.includes(topic));
      const partitions = this.log.topic(topic).partitions;
      partitions.forEach((_, partition) => {
        const member = subscribers[partition % subscribers.length]!;
        assignments.set(member, [...(assignments.get(member) ?? []), { topic, partition }]);
      });
    }

    // Every member gives up everything before any member takes anything, so no partition is
    // ever owned by two members.
    for (const member of this.members) member.revokeAll();
    for (const member of this.members) member.assign(assignments.get(member) ?? []);
    this.log.notify();
  }
}

/** State of one assigned partition inside a member. */
interface Assigned extends TopicPartition {
  position: number;
  isPaused: boolean;
  /** Counts seeks, so a batch in flight during a seek does not move the position after it. */
  seeks: number;
}

export class EmbeddedConsumer implements Consumer {
  readonly groupId: string;
  readonly topics: string[];
  readonly stopped: Promise<void>;
  private readonly assigned = new Map<string, Assigned>();
  private readonly isolationLevel: IsolationLevel;
  private isRunning = true;
  /** Where the next search for a partition with records starts, so no partition starves. */
  private cursor = 0;
  private loop: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private settle!: { resolve: () => void; reject: (error: unknown) => void };

  constructor(
    private readonly options: ConsumerOptions,
    private readonly group: ConsumerGroup,
    private readonly log: EmbeddedLog,
    private readonly logger: Logger,
  ) {
    this.groupId = options.groupId;
    this.topics = [...options.topics];
    this.isolationLevel = options.isolationLevel ?? 'read_committed';
    this.stopped = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Marked as handled: a caller who never awaits `stopped` must not crash the process.
    this.stopped.catch(() => {});
  }

  start(): void {
    for (const topic of this.topics) this.log.topic(topic);
    this.group.join(this);
    this.loop = this.run();
  }

  assignment(): TopicPartition[] {
    return [...this.assigned.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  position(partition: TopicPartition): string | undefined {
    const state = this.assigned.get(keyOf(partition));
    return state === undefined ? undefined : String(state.position);
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    for (const offset of offsets) this.assignedOrThrow(offset, 'commit');
    this.group.commit(offsets);
  }

  pause(partitions: TopicPartition[]): void {
    this.setPaused(partitions, true);
  }

  resume(partitions: TopicPartition[]): void {
    this.setPaused(partitions, false);
    this.log.notify();
  }

  seek(target: TopicPartitionOffset): void {
    const state = this.assignedOrThrow(target, 'seek');
    state.position = Number(target.offset);
    state.seeks += 1;
    this.log.notify();
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  /** First phase of a rebalance: give up every partition, with its position and pause. */
  revokeAll(): void {
    const revoked = this.assignment();
    if (revoked.length === 0) return;

    this.assigned.clear();
    this.callBack(() => this.options.onPartitionsRevoked?.(revoked));
  }

  /** Second phase: take the new share, starting at the committed offset or the reset point. */
  assign(partitions: TopicPartition[]): void {
    if (partitions.length === 0) return;

    for (const partition of partitions) {
      const position = this.group.committedOffset(partition) ?? this.resetOffset(partition);
      this.assigned.set(keyOf(partition), { ...partition, position, isPaused: false, seeks: 0 });
    }
    this.callBack(() => this.options.onPartitionsAssigned?.(partitions.map(toTopicPartition)));
  }

  private async shutDown(): Promise<void> {
    const wasRunning = this.isRunning;
    this.isRunning = false;
    this.log.notify();
    await this.loop;

    // A member stopped by an error has already left and settled `stopped`.
    if (!wasRunning) return;
    this.group.leave(this);
    this.settle.resolve();
  }

  private async run(): Promise<void> {
    while (this.isRunning) {
      const batch = this.nextBatch();
      if (batch === undefined) {
        await this.log.changed();
        continue;
      }
      await this.deliver(batch);
      // Lets timers and I/O run between batches even when records keep arriving.
      await yieldToEventLoop();
    }
  }

  /** The next partition, after the cursor, that has records this member may deliver. */
  private nextBatch(): PendingBatch | undefined {
    const states = [...this.assigned.values()];
    for (let step = 0; step < states.length; step++) {
      const index = (this.cursor + step) % states.length;
      const state = states[index]!;
      if (state.isPaused) continue;

      const partitionLog = this.partitionLog(state);
      this.skipTruncated(state, partitionLog);
      const read = partitionLog.read(state.position, this.isolationLevel, MAX_BATCH_BYTES);
      if (read.records.length === 0) {
        // Only markers or aborted records: move past them, as a Kafka consumer does.
        state.position = Math.max(state.position, read.nextOffset);
        continue;
      }
      this.cursor = index + 1;
      return {
        state,
        read,
        seeks: state.seeks,
        fetchOffset: state.position,
        highWatermark: partitionLog.highWatermark,
      };
    }
    return undefined;
  }

  private async deliver(pending: PendingBatch): Promise<void> {
    const { state, read, seeks, fetchOffset, highWatermark } = pending;
    try {
      await this.options.eachBatch({
        topic: state.topic,
        partition: state.partition,
        records: read.records,
        highWatermark: String(highWatermark),
        fetchOffset: String(fetchOffset),
      });
    } catch (error) {
      this.fail(error);
      return;
    }

    // A partition reassigned or sought while the batch was handled keeps its new position.
    const current = this.assigned.get(keyOf(state));
    if (current === state && current.seeks === seeks) current.position = read.nextOffset;
  }

  /** A position below the log start (trimmed by retention) restarts from the reset point. */
  private skipTruncated(state: Assigned, partitionLog: PartitionLog): void {
    if (state.position < partitionLog.logStartOffset) state.position = this.resetOffset(state);
  }

  private resetOffset(partition: TopicPartition): number {
    const partitionLog = this.partitionLog(partition);
    return this.options.autoOffsetReset === 'earliest'
      ? partitionLog.logStartOffset
      : partitionLog.endOffset(this.isolationLevel);
  }

  private partitionLog({ topic, partition }: TopicPartition): PartitionLog {
    return this.log.topic(topic).partitions[partition]!;
  }

  private setPaused(partitions: TopicPartition[], isPaused: boolean): void {
    // Partitions not assigned are ignored: a revoked partition may be paused by work in flight.
    for (const partition of partitions) {
      const state = this.assigned.get(keyOf(partition));
      if (state !== undefined) state.isPaused = isPaused;
    }
  }

  private assignedOrThrow(partition: TopicPartition, operation: string): Assigned {
    const state = this.assigned.get(keyOf(partition));
    if (state !== undefined) return state;
    throw new TransportError(
      'PARTITION_NOT_ASSIGNED',
      `cannot ${operation} ${partition.topic}/${partition.partition} for group ` +
        `'${this.groupId}': the partition is not assigned to this consumer ` +
        `(assigned: ${describePartitions(this.assignment())})`,
    );
  }

  /** Rebalance callbacks run inside the coordinator; a throw stops only this member. */
  private callBack(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      queueMicrotask(() => this.fail(error));
    }
  }

  private fail(error: unknown): void {
    if (!this.isRunning) return;
    this.logger.error({ err: error, groupId: this.groupId }, 'consumer stopped by an error');
    this.isRunning = false;
    this.group.leave(this);
    this.settle.reject(error);
  }
}

interface PendingBatch {
  state: Assigned;
  read: ReturnType<PartitionLog['read']>;
  seeks: number;
  fetchOffset: number;
  highWatermark: number;
}

function keyOf({ topic, partition }: TopicPartition): string {
  return `${topic}:${partition}`;
}

function toTopicPartition({ topic, partition }: TopicPartition): TopicPartition {
  return { topic, partition };
}

export function describePartitions(partitions: TopicPartition[]): string {
  if (partitions.length === 0) return 'none';
  return partitions.map(({ topic, partition }) => `${topic}/${partition}`).join(', ');
}
