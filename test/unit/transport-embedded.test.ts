import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { EmbeddedTransport } from '../../src/transport/embedded.js';
import { TransportError } from '../../src/transport/errors.js';
import { murmur2, partitionForKey } from '../../src/transport/partitioner.js';
import type { ConsumedRecord } from '../../src/transport/transport.js';
import { describeTransportContract } from '../support/transport-contract.js';

describeTransportContract('embedded', async () => new EmbeddedTransport(), {
  quietMs: 50,
  timeoutMs: 5_000,
});

describe('the embedded transport beyond the contract', () => {
  it('partitions keys exactly as kafkajs and the Java client do', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 7 }, (_, partitionId) => ({
      partitionId,
      partitionErrorCode: 0,
      leader: 1,
      replicas: [1],
      isr: [1],
    }));
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'task-42', 'fashion/5-way/1-shot', 'é', '任务'];

    for (const key of keys) {
      const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
      expect(partitionForKey(key, 7), `key ${JSON.stringify(key)}`).toBe(expected);
    }
  });

  it('matches the murmur2 values published with the Java client', () => {
    // From Kafka's UtilsTest#testMurmur2.
    const cases: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of cases) expect(murmur2(Buffer.from(key)), key).toBe(hash);
  });

  it('keeps only the latest record of each key on a compacted topic', async () => {
    const transport = new EmbeddedTransport();
    await transport.createTopics([
      { topic: 'models', numPartitions: 1, configs: { 'cleanup.policy': 'compact' } },
    ]);
    const producer = await transport.producer();
    for (let version = 0; version < 5; version++) {
      await producer.send('models', [{ key: 'task-1', value: Buffer.from(`v${version}`) }]);
    }

    const received = await readAll(transport, 'models');
    expect(received.map((record) => [record.offset, record.value?.toString()])).toEqual([
      ['4', 'v4'],
    ]);
    await transport.close();
  });

  it('trims the oldest records past retention.bytes; readers restart at log start', async () => {
    const transport = new EmbeddedTransport();
    await transport.createTopics([
      { topic: 'episodes', numPartitions: 1, configs: { 'retention.bytes': '300' } },
    ]);
    const producer = await transport.producer();
    for (let index = 0; index < 10; index++) {
      await producer.send('episodes', [{ key: 'k', value: Buffer.alloc(99, index) }]);
    }

    const [offsets] = await transport.fetchTopicOffsets('episodes');
    expect(offsets).toEqual({ partition: 0, low: '7', high: '10' });
    const received = await readAll(transport, 'episodes');
    expect(received.map((record) => record.offset)).toEqual(['7', '8', '9']);
    await transport.close();
  });

  it('names the missing topic and the existing ones', async () => {
    const transport = new EmbeddedTransport();
    await transport.createTopics([{ topic: 'episodes', numPartitions: 1 }]);
    const producer = await transport.producer();

    const send = producer.send('episode', [{ key: 'k', value: null }]);
    await expect(send).rejects.toBeInstanceOf(TransportError);
    await expect(send).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    await expect(send).rejects.toThrow("topic 'episode' does not exist (existing: episodes)");
  });

  it('refuses a partition outside the topic and a value that is not a Buffer', async () => {
    const transport = new EmbeddedTransport();
    await transport.createTopics([{ topic: 'episodes', numPartitions: 2 }]);
    const producer = await transport.producer();

    await expect(
      producer.send('episodes', [{ key: 'k', value: null, partition: 2 }]),
    ).rejects.toThrow('has partitions 0..1, received partition 2');
    await expect(
      producer.send('episodes', [{ key: 'k', value: 'text' as unknown as Buffer }]),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('refuses a second open transaction and any use of an ended one', async () => {
    const transport = new EmbeddedTransport();
    await transport.createTopics([{ topic: 'models', numPartitions: 1 }]);
    const producer = await transport.transactionalProducer('learner-0');

    const transaction = await producer.begin();
    await expect(producer.begin()).rejects.toMatchObject({ code: 'INVALID_TXN_STATE' });
    await transaction.commit();
    await expect(transaction.send('models', [{ key: 'k', value: null }])).rejects.toThrow(
      "the transaction of 'learner-0' is already committed",
    );
  });
});

/** Everything a fresh read_committed consumer receives from the start of a topic. */
async function readAll(transport: EmbeddedTransport, topic: string): Promise<ConsumedRecord[]> {
  const received: ConsumedRecord[] = [];
  const consumer = await transport.consume({
    groupId: `read-${topic}`,
    topics: [topic],
    autoOffsetReset: 'earliest',
    eachBatch: async (batch) => {
      received.push(...batch.records);
    },
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  await consumer.stop();
  return received;
}
