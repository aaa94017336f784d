import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { connectKafka } from '../../src/transport/kafka.js';
import { describeTransportContract } from '../support/transport-contract.js';

// Consumer group timings short enough that joins and rebalances take well under a second.
describeTransportContract(
  'kafka',
  () =>
    connectKafka({
      brokers: inject('kafkaBrokers'),
      clientId: 'allmap-contract',
      consumer: {
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 300,
        rebalanceTimeoutMs: 10_000,
        maxWaitTimeMs: 200,
      },
    }),
  { quietMs: 1_000, timeoutMs: 30_000 },
);

describe('the kafka producer', () => {
  // kafkajs's idempotent producer rolls back the sequence numbers of a whole failed request
  // (a topic whose leaders are not elected yet answers with a retriable error), so another
  // request sent meanwhile reuses them and the broker refuses or drops it as a duplicate.
  // A learner starting on a fresh broker creates its topics and reads their offsets at once
  // (to recover meta versions and the bank); a just-elected leader may refuse that briefly.
  it('reads the offsets of topics right after creating them', async () => {
    const transport = await connectKafka({ brokers: inject('kafkaBrokers'), clientId: 'fresh' });
    try {
      const prefix = `fresh-${randomUUID().slice(0, 8)}`;
      const topics = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => `${prefix}.${name}`);
      await transport.createTopics(topics.map((topic) => ({ topic, numPartitions: 4 })));

      for (const topic of topics) {
        const offsets = await transport.fetchTopicOffsets(topic);
        expect(offsets.map(({ high }) => high)).toEqual(['0', '0', '0', '0']);
      }
    } finally {
      await transport.close();
    }
  });

  it('loses no record of concurrent sends to a topic whose leaders are still being elected', async () => {
    const brokers = inject('kafkaBrokers');
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    const transport = await connectKafka({ brokers, clientId: 'allmap-concurrent-sends' });
    await admin.connect();
    try {
      const topic = `fresh-${randomUUID().slice(0, 8)}`;
      await admin.createTopics({ topics: [{ topic, numPartitions: 8 }], waitForLeaders: false });

      const producer = await transport.producer();
      const sends = Array.from({ length: 40 }, (_, batch) =>
        producer.send(topic, [{ key: `task-${batch}`, value: Buffer.from(`episode-${batch}`) }]),
      );
      const acknowledged = (await Promise.all(sends)).flat();

      const offsets = await transport.fetchTopicOffsets(topic);
      const stored = offsets.reduce((sum, { low, high }) => sum + Number(high) - Number(low), 0);
      expect(new Set(acknowledged.map((meta) => `${meta.partition}:${meta.offset}`)).size).toBe(40);
      expect(stored).toBe(40);
    } finally {
      await admin.disconnect();
      await transport.close();
    }
  });
});
