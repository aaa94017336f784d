import { EmbeddedTransport } from './embedded.js';
import { connectKafka, type KafkaTransportOptions } from './kafka.js';
import type { Transport } from './transport.js';

export { EmbeddedTransport } from './embedded.js';
export { TransportError, type TransportErrorCode } from './errors.js';
export { connectKafka, type KafkaConsumerTimings, type KafkaTransportOptions } from './kafka.js';
export { partitionForKey } from './partitioner.js';
export { readLatestByKey, readToEnd } from './read-to-end.js';
export type * from './transport.js';

/** Kafka when brokers are given, the embedded log otherwise. */
export async function createTransport(options: KafkaTransportOptions): Promise<Transport> {
  if (options.brokers.length === 0) return new EmbeddedTransport({ logger: options.logger });
  return connectKafka(options);
}
