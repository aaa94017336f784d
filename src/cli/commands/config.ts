import type { Command } from 'commander';
import { resolveContext } from '../context.js';

/**
 * `allmap config`: validates the configuration from every source and prints the result,
 * so an operator can see what a learner would run with before starting one.
 */
export function register(program: Command): void {
  program
    .command('config')
    .description('validate the configuration (flags, ALLMAP_* env, config file) and print it')
    .action((_options, command: Command) => {
      const { config } = resolveContext(command);
      process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    });
}
