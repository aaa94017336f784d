import type { Config } from '../config/schema.js';
import { AllmapError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { connectKafka, type KafkaConsumerTimings } from '../transport/kafka.js';
import type { Transport } from '../transport/transport.js';

/**
 * The Kafka connection of the commands that talk to a broker from outside a learner
 * (`produce`, `tail`, `models get`). They cannot use the embedded log: it lives inside one
 * process, and these commands exist to reach a learner running in another.
 */

/** No broker is configured, so a command that needs one cannot start. */
export class NoBrokerError extends AllmapError {
  constructor(readonly command: string) {
    super(
      `${command} needs a Kafka broker, and none is configured. Point it at one with ` +
        '--brokers host:port, the ALLMAP_KAFKA_BROKERS environment variable, or kafka.brokers ' +
        'in a config file (--config). `npm run kafka` starts a local broker to try allmap ' +
        'against; `npm start` runs the whole loop (episodes, learner, models) in one process ' +
        'without a broker.',
    );
  }
}

/** The configured brokers; throws `NoBrokerError` naming `command` when there are none. */
export function requireBrokers(config: Config, command: string): string[] {
  if (config.kafka.brokers.length === 0) throw new NoBrokerError(command);
  return config.kafka.brokers;
}

/**
 * Consumer timings for a short-lived reader: fetches return within half a second, so an
 * idle timeout or Ctrl-C is noticed quickly; the group is the reader's own, so rebalances
 * and session timeouts never involve anyone else.
 */
const READER_TIMINGS: KafkaConsumerTimings = {
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  rebalanceTimeoutMs: 10_000,
  maxWaitTimeMs: 500,
};

/** Connects to the configured cluster; throws `NoBrokerError` when none is configured. */
export async function connectBroker(
  config: Config,
  command: string,
  logger: Logger,
): Promise<Transport> {
  const brokers = requireBrokers(config, command);
  return connectKafka({
    brokers,
    clientId: `${config.kafka.clientId}-${command.replaceAll(' ', '-')}`,
    replicationFactor: config.kafka.replicationFactor,
    consumer: READER_TIMINGS,
    logger: logger.child({ component: 'kafka' }),
  });
}
