import { defaultCodec } from '../../src/codec/codec.js';
import type { AdaptedModelRecord } from '../../src/codec/records.js';
import { readDeadLetterHeaders } from '../../src/stream/dead-letter-headers.js';
import { readToEnd } from '../../src/transport/read-to-end.js';
import type { ConsumedRecord, Transport } from '../../src/transport/transport.js';

/**
 * Reading what the learner wrote, for tests on either transport: every committed record of a
 * topic (read_committed, so records of aborted or open transactions never show), models
 * decoded, dead letters with their headers, and the group's committed offsets.
 */

export async function readAll(transport: Transport, topic: string): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  await readToEnd(transport, topic, (record) => records.push(record), { timeoutMs: 60_000 });
  return records;
}

export interface ModelOnTopic extends AdaptedModelRecord {
  readonly partition: number;
  readonly offset: string;
}

export async function readModels(transport: Transport, topic: string): Promise<ModelOnTopic[]> {
  const codec = defaultCodec();
  return (await readAll(transport, topic)).map((record) => ({
    ...codec.decode('AdaptedModel', record.value!, record.headers, record),
    partition: record.partition,
    offset: record.offset,
  }));
}

export async function readDeadLetters(transport: Transport, topic: string) {
  return (await readAll(transport, topic)).map((record) => ({
    key: record.key,
    value: record.value,
    headers: record.headers,
    ...readDeadLetterHeaders(record.headers),
  }));
}

/** True when the group has committed every partition of `topic` up to its end. */
export async function isFullyCommitted(
  transport: Transport,
  groupId: string,
  topic: string,
): Promise<boolean> {
  const ends = await transport.fetchTopicOffsets(topic);
  const committed = await transport.fetchCommittedOffsets(groupId, topic);
  return ends.every(({ partition, high }) => {
    const offset = committed.find((entry) => entry.partition === partition)?.offset ?? '-1';
    return BigInt(high) === 0n || BigInt(offset) >= BigInt(high);
  });
}

export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Records counted by task id (or key, for records without one). */
export function countByKey(records: ReadonlyArray<{ key?: string | null; taskId?: string }>) {
  const counts = new Map<string, number>();
  for (const record of records) {
    const key = record.taskId ?? record.key ?? '';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
