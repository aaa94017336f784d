import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { AllmapError } from '../errors.js';
import { createRootLogger } from '../log/logger.js';
import { commands } from './commands/index.js';

const packageJson = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string; description: string };

export function buildProgram(): Command {
  const program = new Command('allmap')
    .description(packageJson.description)
    .version(packageJson.version, '-V, --version')
    .option('-c, --config <file>', 'JSON or YAML config file (env: ALLMAP_CONFIG)')
    .option(
      '-b, --brokers <list>',
      'Kafka bootstrap brokers, comma-separated (env: ALLMAP_KAFKA_BROKERS)',
    )
    .option(
      '--log-level <level>',
      'trace, debug, info, warn, error or silent (env: ALLMAP_LOG_LEVEL)',
    )
    .showHelpAfterError()
    .exitOverride();

  for (const register of commands) register(program);
  return program;
}

/** Runs the CLI; known failures print one clear line and set a non-zero exit code. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.exitCode = exitCodeFor(error);
  }
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode;

  // A known failure (bad config, no broker, bad data) is the user's to fix: one plain line.
  if (error instanceof AllmapError) {
    process.stderr.write(`allmap: ${error.message}\n`);
    return 2;
  }
  createRootLogger().fatal({ err: error }, 'unexpected failure');
  return 1;
}
