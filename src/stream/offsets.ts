/**
 * Which offsets of each assigned partition the learner has taken, which are done, and so
 * which offset it may commit. Episodes of one partition finish out of order (micro-batches
 * are per family, dead letters skip the engine), so the committable offset is the first
 * offset taken and not yet done: committing past it could lose that episode on a restart.
 * Offsets need not be consecutive (transaction markers and compaction leave gaps), which is
 * why the tracker remembers the offsets it took rather than counting.
 */
import type { ConsumedRecord, TopicPartition, TopicPartitionOffset } from '../transport/index.js';
import type { Ticket } from './types.js';

export class PartitionProgress {
  /** Offsets taken and not yet done, oldest first, from `head` on. */
  private readonly queue: bigint[] = [];
  private head = 0;
  private readonly done = new Set<bigint>();
  private lastTaken: bigint | undefined;
  /** The offset last committed for the group, when this member committed one. */
  committed: bigint | undefined;
  /** The partition's high watermark at the last fetch, for the lag gauge. */
  highWatermark: bigint | undefined;
  /**
   * Where the next batch taken must have been read from, when the learner sought the
   * partition there (the offset committed for the group, or the cut of a batch too large for
   * the bound on episodes in flight); `undefined` while the consumer's own position decides.
   */
  readFrom: bigint | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly epoch: number,
  ) {}

  /** Offsets taken and not yet done. */
  get pendingCount(): number {
    return this.queue.length - this.head - this.done.size;
  }

  take(offset: string): Ticket {
    const value = BigInt(offset);
    this.queue.push(value);
    this.lastTaken = value;
    return { topic: this.topic, partition: this.partition, offset, epoch: this.epoch };
  }

  /** Marks an offset done; returns true when the committable offset moved. */
  complete(offset: string): boolean {
    this.done.add(BigInt(offset));
    let moved = false;
    while (this.head < this.queue.length && this.done.has(this.queue[this.head]!)) {
      this.done.delete(this.queue[this.head]!);
      this.head += 1;
      moved = true;
    }
    this.compact();
    return moved;
  }

  /** Offsets taken and not done, oldest first. */
  *pending(): Generator<string> {
    for (let i = this.head; i < this.queue.length; i++) {
      if (!this.done.has(this.queue[i]!)) yield String(this.queue[i]);
    }
  }

  /** The next offset the group should read: the oldest not done, or one past the last taken. */
  committable(): bigint | undefined {
    if (this.head < this.queue.length) return this.queue[this.head];
    return this.lastTaken === undefined ? undefined : this.lastTaken + 1n;
  }

  /** Drops the consumed prefix now and then, so the queue does not grow without bound. */
  private compact(): void {
    if (this.head < 1024 || this.head * 2 < this.queue.length) return;
    this.queue.splice(0, this.head);
    this.head = 0;
  }
}

/** The progress of every partition assigned to this member, and the episodes in flight. */
export class OffsetTracker {
  private readonly partitions = new Map<string, PartitionProgress>();
  private nextEpoch = 1;
  private count = 0;
  private readonly listeners = new Set<(inFlight: number) => void>();
  private readonly lagListeners = new Set<(partition: TopicPartition, lag: number) => void>();

  /** Episodes taken whose partition is still assigned and which are not done. */
  get inFlight(): number {
    return this.count;
  }

  /** Calls `listener` with the new count whenever episodes finish or are abandoned. */
  onRelease(listener: (inFlight: number) => void): void {
    this.listeners.add(listener);
  }

  /**
   * Calls `listener` with a partition's lag (high watermark at the last fetch minus the
   * committed offset) after each commit, so the lag gauge falls to zero once the member has
   * caught up instead of keeping the value of the last fetch.
   */
  onLag(listener: (partition: TopicPartition, lag: number) => void): void {
    this.lagListeners.add(listener);
  }

  /** Starts a new epoch for each partition: nothing of an earlier assignment carries over. */
  assign(partitions: readonly TopicPartition[]): void {
    for (const { topic, partition } of partitions) {
      const progress = new PartitionProgress(topic, partition, this.nextEpoch++);
      this.partitions.set(keyOf({ topic, partition }), progress);
    }
  }

  /** Forgets the partitions; their episodes in flight are abandoned, uncommitted. */
  revoke(partitions: readonly TopicPartition[]): number {
    let abandoned = 0;
    for (const partition of partitions) {
      const progress = this.partitions.get(keyOf(partition));
      if (progress === undefined) continue;
      this.partitions.delete(keyOf(partition));
      abandoned += progress.pendingCount;
    }
    this.release(abandoned);
    return abandoned;
  }

  get(partition: TopicPartition): PartitionProgress | undefined {
    return this.partitions.get(keyOf(partition));
  }

  all(): PartitionProgress[] {
    return [...this.partitions.values()];
  }

  /** Takes a record of an assigned partition; `undefined` when the partition is not assigned. */
  take(record: ConsumedRecord): Ticket | undefined {
    const progress = this.partitions.get(keyOf(record));
    if (progress === undefined) return undefined;
    this.count += 1;
    return progress.take(record.offset);
  }

  /** True while the ticket's partition is still in the assignment that took it. */
  isCurrent(ticket: Ticket): boolean {
    return this.partitions.get(keyOf(ticket))?.epoch === ticket.epoch;
  }

  /** Marks an episode done; a ticket of an older assignment is ignored (returns false). */
  complete(ticket: Ticket): boolean {
    const progress = this.partitions.get(keyOf(ticket));
    if (progress === undefined || progress.epoch !== ticket.epoch) return false;
    progress.complete(ticket.offset);
    this.release(1);
    return true;
  }

  /** The offsets to commit: every partition whose committable offset passed its last commit. */
  commitsDue(): TopicPartitionOffset[] {
    const due: TopicPartitionOffset[] = [];
    for (const progress of this.partitions.values()) {
      const offset = progress.committable();
      if (offset === undefined) continue;
      if (progress.committed !== undefined && offset <= progress.committed) continue;
      due.push({ topic: progress.topic, partition: progress.partition, offset: String(offset) });
    }
    return due;
  }

  /** Records offsets as committed for the group (by this member). */
  markCommitted(offsets: readonly TopicPartitionOffset[]): void {
    for (const offset of offsets) {
      const progress = this.partitions.get(keyOf(offset));
      const value = BigInt(offset.offset);
      if (progress && (progress.committed === undefined || value > progress.committed)) {
        progress.committed = value;
        this.reportLag(progress);
      }
    }
  }

  private reportLag(progress: PartitionProgress): void {
    if (progress.highWatermark === undefined || progress.committed === undefined) return;
    const lag = progress.highWatermark - progress.committed;
    for (const listener of this.lagListeners) listener(progress, Number(lag > 0n ? lag : 0n));
  }

  private release(episodes: number): void {
    if (episodes === 0) return;
    this.count -= episodes;
    for (const listener of this.listeners) listener(this.count);
  }
}

export function keyOf({ topic, partition }: TopicPartition): string {
  return `${topic}:${partition}`;
}
