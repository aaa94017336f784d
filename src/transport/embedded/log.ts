import type { ConsumedRecord, IsolationLevel, NewTopic, ProducerRecord } from '../transport.js';

/**
 * The in-process log behind the embedded transport: topics of partitions, each partition an
 * offset-ordered sequence of records. It keeps the parts of Kafka's log semantics the
 * learner relies on: offsets only grow, transactions hold back read_committed readers until
 * they end (the last stable offset), aborted records are skipped, every transaction end
 * writes a control marker that takes an offset and is never delivered, compacted topics keep
 * only the latest record per key, and `retention.bytes` trims the oldest records.
 */

/** One transaction's progress, shared by every record it wrote. */
export interface TransactionState {
  status: 'open' | 'committed' | 'aborted';
}

interface LogEntry {
  offset: number;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  timestamp: number;
  size: number;
  /** A transaction marker: it takes an offset but is never delivered. */
  isControl: boolean;
  transaction: TransactionState | undefined;
}

/** What one read returns: deliverable records, and where the next read starts. */
export interface LogRead {
  records: ConsumedRecord[];
  nextOffset: number;
}

export class PartitionLog {
  /** Records by offset; compaction and retention leave gaps, as in Kafka. */
  private readonly entries = new Map<number, LogEntry>();
  /** The records each open transaction wrote here, so its end can mark or compact them. */
  private readonly openTransactions = new Map<TransactionState, LogEntry[]>();
  /** For compacted topics: the offset of the latest committed record of each key. */
  private readonly latestByKey = new Map<string, number>();
  private bytes = 0;
  logStartOffset = 0;
  highWatermark = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly policy: TopicPolicy,
  ) {}

  /**
   * The first offset a read_committed reader may not pass: where the oldest open transaction
   * starts, or the high watermark when none is open.
   */
  lastStableOffset(): number {
    let stable = this.highWatermark;
    for (const entries of this.openTransactions.values()) {
      stable = Math.min(stable, entries[0]!.offset);
    }
    return stable;
  }

  /** The end of the log as a reader with this isolation level sees it. */
  endOffset(isolationLevel: IsolationLevel): number {
    return isolationLevel === 'read_committed' ? this.lastStableOffset() : this.highWatermark;
  }

  append(record: ProducerRecord, transaction?: TransactionState): number {
    const entry = this.push(toEntry(record, transaction));

    if (transaction === undefined) {
      this.compact(entry);
    } else {
      const written = this.openTransactions.get(transaction) ?? [];
      written.push(entry);
      this.openTransactions.set(transaction, written);
    }
    this.applyRetention();
    return entry.offset;
  }

  /** Ends a transaction here: writes its marker, then compacts or drops what it wrote. */
  endTransaction(transaction: TransactionState): void {
    const written = this.openTransactions.get(transaction);
    if (written === undefined) return;
    this.openTransactions.delete(transaction);
    this.push(controlMarker(transaction));

    for (const entry of written) {
      if (transaction.status === 'committed') this.compact(entry);
      else if (this.policy.isCompacted) this.remove(entry.offset);
    }
    this.applyRetention();
  }

  /**
   * Reads deliverable records from `offset` up to the reader's end, at most `maxBytes`
   * (but always at least one record). Control markers and, for read_committed, aborted
   * records are skipped as a Kafka consumer skips them.
   */
  read(offset: number, isolationLevel: IsolationLevel, maxBytes: number): LogRead {
    const end = this.endOffset(isolationLevel);
    const records: ConsumedRecord[] = [];
    let bytes = 0;
    let next = Math.max(offset, this.logStartOffset);

    for (; next < end && (records.length === 0 || bytes < maxBytes); next++) {
      const entry = this.entries.get(next);
      if (entry === undefined || !isDeliverable(entry, isolationLevel)) continue;
      records.push(this.toRecord(entry));
      bytes += entry.size;
    }
    return { records, nextOffset: next };
  }

  private push(entry: Omit<LogEntry, 'offset'>): LogEntry {
    const stored = { ...entry, offset: this.highWatermark };
    this.entries.set(stored.offset, stored);
    this.highWatermark += 1;
    this.bytes += stored.size;
    return stored;
  }

  private remove(offset: number): void {
    const entry = this.entries.get(offset);
    if (entry === undefined) return;
    this.entries.delete(offset);
    this.bytes -= entry.size;
  }

  /** On a compacted topic a newer committed record of a key replaces the older one. */
  private compact(entry: LogEntry): void {
    if (!this.policy.isCompacted || entry.key === null) return;
    const previous = this.latestByKey.get(entry.key);
    if (previous !== undefined) this.remove(previous);
    this.latestByKey.set(entry.key, entry.offset);
  }

  /** Drops the oldest records while the partition is over `retention.bytes`; open ones stay. */
  private applyRetention(): void {
    const stable = this.lastStableOffset();
    for (const entry of this.entries.values()) {
      if (this.bytes <= this.policy.retentionBytes || entry.offset >= stable) break;
      this.remove(entry.offset);
      if (entry.key !== null && this.latestByKey.get(entry.key) === entry.offset) {
        this.latestByKey.delete(entry.key);
      }
      this.logStartOffset = entry.offset + 1;
    }
  }

  private toRecord(entry: LogEntry): ConsumedRecord {
    // Copies, so that a consumer changing its buffers cannot change the log under other readers.
    const headers: Record<string, Buffer> = {};
    for (const [name, value] of Object.entries(entry.headers)) headers[name] = Buffer.from(value);

    return {
      topic: this.topic,
      partition: this.partition,
      offset: String(entry.offset),
      key: entry.key,
      value: entry.value === null ? null : Buffer.from(entry.value),
      headers,
      timestamp: String(entry.timestamp),
    };
  }
}

/** The topic configs the embedded log honours. */
export interface TopicPolicy {
  isCompacted: boolean;
  /** Bytes a partition may hold before its oldest records go; `Infinity` keeps everything. */
  retentionBytes: number;
}

export class TopicLog {
  readonly partitions: PartitionLog[];

  constructor(
    readonly name: string,
    numPartitions: number,
    readonly policy: TopicPolicy,
  ) {
    this.partitions = Array.from(
      { length: numPartitions },
      (_, partition) => new PartitionLog(name, partition, policy),
    );
  }
}

/** Reads `cleanup.policy` and `retention.bytes` from a topic's configs; others are ignored. */
export function topicPolicy(topic: NewTopic): TopicPolicy {
  const cleanup = (topic.configs?.['cleanup.policy'] ?? 'delete').split(',');
  const retention = Number(topic.configs?.['retention.bytes'] ?? -1);
  return {
    isCompacted: cleanup.includes('compact'),
    retentionBytes: retention < 0 || !cleanup.includes('delete') ? Infinity : retention,
  };
}

function isDeliverable(entry: LogEntry, isolationLevel: IsolationLevel): boolean {
  if (entry.isControl) return false;
  return isolationLevel === 'read_uncommitted' || entry.transaction?.status !== 'aborted';
}

function toEntry(
  record: ProducerRecord,
  transaction: TransactionState | undefined,
): Omit<LogEntry, 'offset'> {
  const headers: Record<string, Buffer> = {};
  let size = Buffer.byteLength(record.key) + (record.value?.length ?? 0);
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    const bytes = Buffer.from(value);
    headers[name] = bytes;
    size += name.length + bytes.length;
  }

  return {
    key: record.key,
    value: record.value === null ? null : Buffer.from(record.value),
    headers,
    timestamp: Date.now(),
    size,
    isControl: false,
    transaction,
  };
}

function controlMarker(transaction: TransactionState): Omit<LogEntry, 'offset'> {
  return {
    key: null,
    value: null,
    headers: {},
    timestamp: Date.now(),
    size: 0,
    isControl: true,
    transaction,
  };
}
