import { randomUUID } from 'node:crypto';
import { TransportError } from './errors.js';
import type { ConsumedRecord, Transport } from './transport.js';

/**
 * Reading a topic from its start to its end as it is now: what `models get` needs to find the
 * latest model of a task on a compacted topic. Built on the `Transport` interface alone, so it
 * behaves the same on Kafka and on the embedded log.
 */

export interface ReadToEndOptions {
  /** Give up after this long; default 30 s. */
  timeoutMs?: number;
}

/**
 * Calls `onRecord` for every committed record below each partition's end offset, taken when
 * the read starts. The read uses a consumer group of its own that commits nothing.
 */
export async function readToEnd(
  transport: Transport,
  topic: string,
  onRecord: (record: ConsumedRecord) => void,
  options: ReadToEndOptions = {},
): Promise<void> {
  const ends = new Map<number, bigint>();
  for (const { partition, low, high } of await transport.fetchTopicOffsets(topic)) {
    if (BigInt(high) > BigInt(low)) ends.set(partition, BigInt(high));
  }
  if (ends.size === 0) return;

  // The end offset may be a transaction marker that is never delivered, so a partition is
  // done when the consumer's position, not its last record, reaches the end.
  const reached = (partition: number, next: string | undefined) =>
    next !== undefined && BigInt(next) >= (ends.get(partition) ?? 0n);

  const consumer = await transport.consume({
    groupId: `allmap-reader-${randomUUID()}`,
    topics: [topic],
    autoOffsetReset: 'earliest',
    isolationLevel: 'read_committed',
    eachBatch: async ({ partition, records }) => {
      const end = ends.get(partition) ?? 0n;
      for (const record of records) if (BigInt(record.offset) < end) onRecord(record);
      const last = records[records.length - 1];
      if (last !== undefined && reached(partition, String(BigInt(last.offset) + 1n))) {
        ends.delete(partition);
      }
    },
  });

  try {
    await waitUntil(
      () => {
        for (const partition of ends.keys()) {
          if (reached(partition, consumer.position({ topic, partition }))) ends.delete(partition);
        }
        return ends.size === 0;
      },
      consumer.stopped,
      options.timeoutMs ?? 30_000,
      topic,
    );
  } finally {
    await consumer.stop();
  }
}

/** The latest value of every key of a (compacted) topic; a tombstone removes its key. */
export async function readLatestByKey(
  transport: Transport,
  topic: string,
  options: ReadToEndOptions = {},
): Promise<Map<string, ConsumedRecord>> {
  const latest = new Map<string, ConsumedRecord>();
  await readToEnd(
    transport,
    topic,
    (record) => {
      if (record.key === null) return;
      if (record.value === null) latest.delete(record.key);
      else latest.set(record.key, record);
    },
    options,
  );
  return latest;
}

const POLL_MS = 20;

async function waitUntil(
  isDone: () => boolean,
  stopped: Promise<void>,
  timeoutMs: number,
  topic: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let failure: unknown;
  stopped.catch((error: unknown) => {
    failure = error ?? new Error('the reader stopped');
  });

  while (!isDone()) {
    if (failure !== undefined) throw failure;
    if (Date.now() > deadline) {
      throw new TransportError(
        'REQUEST_TIMED_OUT',
        `reading topic '${topic}' to its end took longer than ${timeoutMs} ms`,
        { isRetriable: true },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
