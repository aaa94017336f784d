import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createRootLogger, type Logger } from '../log/logger.js';

/** What every subcommand receives: the validated config and the root logger. */
export interface CommandContext {
  config: Config;
  log: Logger;
}

type Tree = { [key: string]: unknown };

/**
 * Builds the config from the program's global flags plus the flags a subcommand maps
 * onto config keys, then starts the logger at the configured level.
 */
export function resolveContext(command: Command, commandFlags: Tree = {}): CommandContext {
  const globals = command.optsWithGlobals() as {
    config?: string;
    brokers?: string;
    logLevel?: string;
  };
  const flags: Tree = {
    ...commandFlags,
    logLevel: globals.logLevel,
    kafka: { ...(commandFlags.kafka as Tree | undefined), brokers: globals.brokers },
  };

  const config = loadConfig({ flags, env: process.env, file: globals.config });
  const log = createRootLogger({ level: config.logLevel });
  return { config, log };
}
