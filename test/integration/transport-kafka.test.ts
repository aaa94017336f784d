import { inject } from 'vitest';
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
