import { parseArgs } from 'node:util';
import { ensureKafkaJars, startJarBroker } from '../test/support/kafka-broker.js';

/**
 * `npm run kafka`: the broker the integration tests use, for a person to try allmap against.
 * It prints the address to give allmap (`ALLMAP_KAFKA_BROKERS=...`, and `KAFKA_BROKERS=...`
 * for the tests), runs until Ctrl-C, then stops the broker and removes its data.
 *
 * `npm run kafka:fetch` (`--fetch-only`): only fetches the broker's jars into the cache, so
 * CI can fetch them in a step of their own before the tests.
 */

const { values } = parseArgs({
  options: {
    'fetch-only': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
const progress = (line: string) => process.stderr.write(`${line}\n`);

if (values.help) {
  process.stdout.write(
    'usage: npm run kafka [-- --fetch-only]\n' +
      'Starts one Kafka broker from the Maven Central jars on a free port of 127.0.0.1 and ' +
      'runs until interrupted; with --fetch-only, only fetches the jars into the cache.\n',
  );
  process.exit(0);
}

if (values['fetch-only']) {
  process.stdout.write(`${await ensureKafkaJars({ onProgress: progress })}\n`);
  process.exit(0);
}

const broker = await startJarBroker({ onProgress: progress });
progress(broker.description);
// allmap reads ALLMAP_KAFKA_BROKERS; the test setup reads KAFKA_BROKERS to reuse a broker.
const address = broker.brokers.join(',');
process.stdout.write(`ALLMAP_KAFKA_BROKERS=${address}\nKAFKA_BROKERS=${address}\n`);
progress('Press Ctrl-C to stop the broker.');

let isStopping = false;
const stop = async (signal: NodeJS.Signals) => {
  if (isStopping) return;
  isStopping = true;
  progress(`${signal}: stopping the broker (pid ${broker.pid})...`);
  await broker.stop();
  progress('stopped');
  process.exit(0);
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
