import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * Proves that the broker the global setup provides is a real Kafka, with nothing of allmap
 * in between: plain kafkajs creates a topic, produces, consumes and reads offsets back.
 */
describe('the Kafka broker of the integration tests', () => {
  const kafka = new Kafka({
    clientId: 'allmap-broker-test',
    brokers: inject('kafkaBrokers'),
    logLevel: logLevel.WARN,
  });
  const admin = kafka.admin();
  const topic = `broker-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    await admin.connect();
  });

  afterAll(async () => {
    await admin.disconnect();
  });

  it('describes a cluster of one broker at the address it was given', async () => {
    const cluster = await admin.describeCluster();

    expect(cluster.brokers).toHaveLength(1);
    const [broker] = cluster.brokers;
    expect(`${broker?.host}:${broker?.port}`).toBe(inject('kafkaBrokers')[0]);
  });

  it('creates a topic, stores records in its partitions and serves them to a group', async () => {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics[0]?.partitions).toHaveLength(3);

    const producer = kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    await producer.send({
      topic,
      messages: [0, 1, 2].flatMap((partition) => [
        { partition, key: `k${partition}`, value: `first-${partition}` },
        { partition, key: `k${partition}`, value: `second-${partition}` },
      ]),
    });
    await producer.disconnect();

    const offsets = await admin.fetchTopicOffsets(topic);
    expect(
      offsets.map(({ partition, low, high }) => ({ partition, low, high })).sort(byPartition),
    ).toEqual([0, 1, 2].map((partition) => ({ partition, low: '0', high: '2' })));

    const groupId = `broker-test-${randomUUID().slice(0, 8)}`;
    const consumer = kafka.consumer({ groupId, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
    const received: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        received.push(`${partition}:${message.offset}:${message.value?.toString()}`);
        await consumer.commitOffsets([
          { topic, partition, offset: String(Number(message.offset) + 1) },
        ]);
      },
    });
    await until(() => received.length === 6);
    await consumer.disconnect();

    expect(received.sort()).toEqual([
      '0:0:first-0',
      '0:1:second-0',
      '1:0:first-1',
      '1:1:second-1',
      '2:0:first-2',
      '2:1:second-2',
    ]);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(
      committed?.partitions
        .map(({ partition, offset }) => ({ partition, offset }))
        .sort(byPartition),
    ).toEqual([0, 1, 2].map((partition) => ({ partition, offset: '2' })));
  });
});

function byPartition(a: { partition: number }, b: { partition: number }): number {
  return a.partition - b.partition;
}

async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
