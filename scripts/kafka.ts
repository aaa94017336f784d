import { parseArgs } from 'node:util';
import { ensureKafkaJars, startJarBroker } from '../test/support/kafka-broker.js';

/**
 * `npm run kafka`: the broker the integration tests use, for a person to try allmap against.
 * It prints the address to give allmap (`KAFKA_BROKERS=...`), runs until Ctrl-C, then stops
 * the broker and removes its data.
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
process.stdout.write(`KAFKA_BROKERS=${broker.brokers.join(',')}\n`);
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
