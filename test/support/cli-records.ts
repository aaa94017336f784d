import { randomUUID } from 'node:crypto';
import { defaultCodec } from '../../src/codec/codec.js';
import type { AdaptedModelRecord, EpisodeMetricsRecord } from '../../src/codec/records.js';
import { loadConfig } from '../../src/config/load.js';
import { type TopicNames, topicNames, topicSpecs } from '../../src/config/topics.js';
import { type DeadLetterInfo, deadLetterHeaders } from '../../src/stream/dead-letter-headers.js';
import { connectKafka } from '../../src/transport/kafka.js';
import type { Producer, Transport } from '../../src/transport/transport.js';

/**
 * What the learner writes, written here with the codec instead, so that the commands that
 * read it (`tail`, `models get`) are tested on their own, against the real broker.
 */
export interface LearnerOutput {
  readonly prefix: string;
  readonly topics: TopicNames;
  /** The environment that points the command line at the same broker and topics. */
  readonly env: Record<string, string | undefined>;
  sendModel(record: AdaptedModelRecord): Promise<void>;
  sendMetrics(record: EpisodeMetricsRecord): Promise<void>;
  sendDeadLetter(key: string, value: Buffer, info: DeadLetterInfo): Promise<void>;
  close(): Promise<void>;
}

/** Topics of a fresh prefix, created as allmap creates them, and a producer to fill them. */
export async function learnerOutput(
  brokers: string[],
  options: { createTopics?: boolean } = {},
): Promise<LearnerOutput> {
  const prefix = `cli-${randomUUID().slice(0, 8)}.`;
  const config = loadConfig({ flags: { kafka: { brokers, topicPrefix: prefix } } });
  const transport: Transport = await connectKafka({ brokers, clientId: 'cli-records-test' });
  if (options.createTopics !== false) await transport.createTopics(topicSpecs(config));
  const producer: Producer = await transport.producer();
  const topics = topicNames(config);
  const codec = defaultCodec();

  return {
    prefix,
    topics,
    env: {
      ALLMAP_KAFKA_BROKERS: brokers.join(','),
      ALLMAP_KAFKA_TOPIC_PREFIX: prefix,
      ALLMAP_CONFIG: undefined,
    },
    sendModel: async (record) => {
      const { value, headers } = codec.encode('AdaptedModel', record);
      await producer.send(topics.models, [{ key: record.taskId, value, headers }]);
    },
    sendMetrics: async (record) => {
      const { value, headers } = codec.encode('EpisodeMetrics', record);
      await producer.send(topics.metrics, [{ key: record.taskId, value, headers }]);
    },
    sendDeadLetter: async (key, value, info) => {
      await producer.send(topics.deadLetter, [{ key, value, headers: deadLetterHeaders(info) }]);
    },
    close: () => transport.close(),
  };
}

export function modelRecord(
  taskId: string,
  metaVersion: number,
  onnx: Uint8Array,
  overrides: Partial<AdaptedModelRecord['metrics']> = {},
): AdaptedModelRecord {
  return {
    taskId,
    family: 'sinusoid',
    metaVersion,
    onnx: Buffer.from(onnx),
    z: [0.25, -0.5, 1],
    metrics: {
      lossBefore: 4.5,
      lossAfter: 0.125,
      accuracyBefore: null,
      accuracyAfter: null,
      steps: 10,
      status: 'ok',
      failure: null,
      adaptMs: 3.5,
      ...overrides,
    },
    adaptedAt: Date.now(),
  };
}

export function metricsRecord(taskId: string): EpisodeMetricsRecord {
  return {
    taskId,
    family: 'fashion-mnist-5way',
    metaVersion: 2,
    queryLossBefore: 1.609,
    queryLossAfter: 0.5,
    queryAccuracyBefore: 0.2,
    queryAccuracyAfter: 0.8,
    steps: 10,
    supportSize: 5,
    querySize: 75,
    stageMs: { adapt: 12.5, publish: 3 },
    producedAt: 1_000,
    finishedAt: 1_250,
  };
}
