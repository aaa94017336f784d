import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { type TopicNames, topicNames, topicSpecs } from '../../src/config/topics.js';
import { createRootLogger } from '../../src/log/logger.js';
import { sendOutputs } from '../../src/stream/delivery.js';
import { connectKafka } from '../../src/transport/kafka.js';
import type { ProducerRecord, Transport } from '../../src/transport/transport.js';
import { FAST_GROUP_ENV } from './learner-process.js';
import { MAX_EPISODE_BYTES } from './stream-inputs.js';

/**
 * One learner deployment for an integration test on the shared broker: its own topic prefix
 * and consumer group, so tests never see each other's records, the environment that
 * configures `allmap run` for it, and a transport for the test's own reads and writes.
 */
export interface StreamSetup {
  readonly transport: Transport;
  readonly topics: TopicNames;
  readonly groupId: string;
  /** `ALLMAP_*` variables for `allmap run` (and `allmap produce`) in this setup. */
  readonly env: Record<string, string>;
  produce(records: ProducerRecord[]): Promise<void>;
  close(): Promise<void>;
}

export async function streamSetup(
  name: string,
  env: Record<string, string> = {},
  partitions = 4,
): Promise<StreamSetup> {
  const brokers = inject('kafkaBrokers');
  const id = randomUUID().slice(0, 8);
  const prefix = `it-${name}-${id}.`;
  const groupId = `allmap-${name}-${id}`;
  const config = loadConfig({ flags: { kafka: { topicPrefix: prefix, partitions } } });

  const transport = await connectKafka({
    brokers,
    clientId: `test-${name}`,
    consumer: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500, maxWaitTimeMs: 200 },
    // The test's own reads would otherwise log every rebalance of their reader groups.
    logger: createRootLogger({ level: 'warn' }).child({ component: 'test' }),
  });
  await transport.createTopics(topicSpecs(config));
  const producer = await transport.producer();
  const topics = topicNames(config);

  return {
    transport,
    topics,
    groupId,
    env: {
      ALLMAP_KAFKA_BROKERS: brokers.join(','),
      ALLMAP_KAFKA_TOPIC_PREFIX: prefix,
      ALLMAP_KAFKA_PARTITIONS: String(partitions),
      ALLMAP_KAFKA_GROUP_ID: groupId,
      ALLMAP_METRICS_PORT: '0',
      ALLMAP_ADAPT_STEPS: '3',
      ALLMAP_STREAM_MAX_EPISODE_BYTES: String(MAX_EPISODE_BYTES),
      ALLMAP_STREAM_BATCH_WINDOW_MS: '10',
      ALLMAP_META_EVERY_EPISODES: '1000000',
      ...FAST_GROUP_ENV,
      ...env,
    },
    produce: async (records) => {
      // In requests Kafka accepts: a partition's record batch must stay under 1 MiB.
      const outputs = records.map((record) => ({ topic: topics.episodes, record }));
      await sendOutputs((topic, chunk) => producer.send(topic, chunk), outputs);
    },
    close: () => transport.close(),
  };
}
