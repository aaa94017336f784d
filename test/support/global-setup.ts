import type { TestProject } from 'vitest/node';
import { startKafkaBroker } from './kafka-broker.js';

/**
 * Global setup of the `integration` project: one Kafka broker for the whole run (see
 * kafka-broker.ts for where it comes from), given to the tests as `inject('kafkaBrokers')`.
 * The line on standard error shows in CI output which broker the Kafka tests ran against.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const broker = await startKafkaBroker({
    onProgress: (line) => process.stderr.write(`[kafka] ${line}\n`),
  });
  process.stderr.write(`[kafka] ${broker.description}\n`);
  project.provide('kafkaBrokers', broker.brokers);

  return async () => {
    await broker.stop();
    process.stderr.write(`[kafka] stopped (${broker.source})\n`);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
  }
}
