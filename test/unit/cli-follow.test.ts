import { describe, expect, it } from 'vitest';
import { followTopic } from '../../src/cli/follow.js';
import { EmbeddedTransport } from '../../src/transport/embedded.js';
import type { ConsumedRecord } from '../../src/transport/transport.js';

/** followTopic over the embedded log, which keeps the Kafka transport's semantics. */

const TOPIC = 'models';

async function logWith(keys: string[]) {
  const transport = new EmbeddedTransport();
  await transport.createTopics([{ topic: TOPIC, numPartitions: 3 }]);
  const producer = await transport.producer();
  const send = (more: string[]) =>
    producer.send(
      TOPIC,
      more.map((key) => ({ key, value: Buffer.from(key) })),
    );
  await send(keys);
  return { transport, send };
}

function byPartition(records: ConsumedRecord[]): Map<number, string[]> {
  const partitions = new Map<number, string[]>();
  for (const { partition, offset } of records) {
    partitions.set(partition, [...(partitions.get(partition) ?? []), offset]);
  }
  return partitions;
}

describe('followTopic', () => {
  it('hands over every record once, in offset order per partition, up to maxRecords', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `task-${i}`);
    const { transport } = await logWith(keys);
    const seen: ConsumedRecord[] = [];

    const summary = await followTopic(transport, {
      topic: TOPIC,
      fromBeginning: true,
      maxRecords: 30,
      onRecord: (record) => seen.push(record),
    });

    expect(summary).toEqual({ records: 30, stoppedBy: 'max-records' });
    expect(seen.map((record) => record.key).sort()).toEqual([...keys].sort());
    for (const offsets of byPartition(seen).values()) {
      expect(offsets).toEqual(offsets.map((_, i) => String(i)));
    }
    await transport.close();
  });

  it('starts at the end by default: only records written after it is ready', async () => {
    const { transport, send } = await logWith(['old-1', 'old-2', 'old-3']);
    const seen: string[] = [];

    const following = followTopic(transport, {
      topic: TOPIC,
      fromBeginning: false,
      maxRecords: 2,
      onReady: () => void send(['new-1', 'new-2']),
      onRecord: (record) => seen.push(record.key ?? ''),
    });

    expect((await following).stoppedBy).toBe('max-records');
    expect(seen.sort()).toEqual(['new-1', 'new-2']);
    await transport.close();
  });

  it('stops after the idle timeout when nothing arrives', async () => {
    const { transport } = await logWith([]);
    const started = Date.now();

    const summary = await followTopic(transport, {
      topic: TOPIC,
      fromBeginning: true,
      idleTimeoutMs: 300,
      onRecord: () => {},
    });

    expect(summary).toEqual({ records: 0, stoppedBy: 'idle' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    await transport.close();
  });

  it('stops when its signal aborts', async () => {
    const { transport } = await logWith(['a']);
    const interrupt = new AbortController();

    const summary = await followTopic(transport, {
      topic: TOPIC,
      fromBeginning: true,
      signal: interrupt.signal,
      onRecord: () => interrupt.abort(),
    });

    expect(summary).toEqual({ records: 1, stoppedBy: 'signal' });
    await transport.close();
  });
});
