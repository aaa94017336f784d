import type { NewTopic } from '../transport/transport.js';
import type { Config } from './schema.js';

/** The topics allmap reads and writes, each named `<kafka.topicPrefix><role>`. */
export interface TopicNames {
  /** Task episodes in, keyed by task id. */
  episodes: string;
  /** Adapted models out, keyed by task id; compacted, so it keeps each task's latest model. */
  models: string;
  /** Per-episode metrics out, keyed by task id. */
  metrics: string;
  /** Episodes that could not be decoded or validated, with the reason in headers. */
  deadLetter: string;
  /** Remembered tasks of the mapping bank, keyed by task id; compacted. */
  bank: string;
  /** Adopted meta versions (phi and psi parameters), keyed by family; compacted. */
  meta: string;
}

export function topicNames(config: Config): TopicNames {
  const prefix = config.kafka.topicPrefix;
  return {
    episodes: `${prefix}episodes`,
    models: `${prefix}models`,
    metrics: `${prefix}metrics`,
    deadLetter: `${prefix}dead-letter`,
    bank: `${prefix}bank`,
    meta: `${prefix}meta`,
  };
}

const compacted = { 'cleanup.policy': 'compact' };

/**
 * Records of models, bank entries and meta versions hold whole parameter vectors: a
 * Fashion-MNIST meta version is over a megabyte, past Kafka's default record limit.
 */
const largeRecords = { 'max.message.bytes': String(16 * 1024 * 1024) };

/**
 * The settings allmap creates missing topics with. Models, bank and meta are compacted:
 * a reader that starts late still finds the latest value of every key. The meta topic has
 * one partition so that every instance reads meta versions in the order they were adopted.
 */
export function topicSpecs(config: Config): NewTopic[] {
  const names = topicNames(config);
  const partitions = config.kafka.partitions;
  return [
    { topic: names.episodes, numPartitions: partitions },
    { topic: names.models, numPartitions: partitions, configs: { ...compacted, ...largeRecords } },
    { topic: names.metrics, numPartitions: partitions },
    { topic: names.deadLetter, numPartitions: partitions },
    { topic: names.bank, numPartitions: partitions, configs: { ...compacted, ...largeRecords } },
    { topic: names.meta, numPartitions: 1, configs: { ...compacted, ...largeRecords } },
  ];
}
