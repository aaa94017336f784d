import { type Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NoBrokerError } from '../../src/cli/broker.js';
import { UsageError } from '../../src/cli/errors.js';
import { buildProgram } from '../../src/cli/main.js';

/**
 * Bad command lines are refused before anything connects or loads: commander's own errors
 * name the option and what it expects; allmap's name the conflict and how to fix it.
 */

let errors = '';

function silence(command: Command): void {
  command.configureOutput({ writeErr: (text) => (errors += text), writeOut: () => {} });
  for (const sub of command.commands) silence(sub);
}

async function parse(...args: string[]): Promise<unknown> {
  const program = buildProgram();
  silence(program);
  try {
    await program.parseAsync(['node', 'allmap', ...args]);
  } catch (error) {
    return error;
  }
  throw new Error(`allmap ${args.join(' ')} was accepted`);
}

beforeEach(() => {
  errors = '';
  // No broker from the environment of whoever runs the tests.
  vi.stubEnv('ALLMAP_KAFKA_BROKERS', '');
  vi.stubEnv('ALLMAP_CONFIG', '');
  vi.stubEnv('ALLMAP_LOG_LEVEL', 'silent');
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('allmap produce arguments', () => {
  it('refuses a negative count, naming the option and what it accepts', async () => {
    const error = await parse('produce', 'sinusoid', '--count', '-1');
    expect(error).toBeInstanceOf(CommanderError);
    expect((error as CommanderError).code).toBe('commander.invalidArgument');
    expect(errors).toContain("option '-n, --count <n>' argument '-1' is invalid");
    expect(errors).toContain('Expected a whole number of at least 0.');
  });

  it('refuses a rate that is not a number', async () => {
    const error = await parse('produce', 'sinusoid', '--rate', 'fast');
    expect((error as CommanderError).code).toBe('commander.invalidArgument');
    expect(errors).toContain("argument 'fast' is invalid. Expected a number of at least 0.");
  });

  it('refuses an unknown source, listing the known ones', async () => {
    const error = await parse('produce', 'mnist');
    expect((error as CommanderError).code).toBe('commander.invalidArgument');
    expect(errors).toContain(
      'Allowed choices are sinusoid, fashion-mnist, fashion-mnist-continual, jsonl',
    );
  });

  it('refuses a range whose low end is above its high end', async () => {
    await parse('produce', 'sinusoid', '--amplitude', '5,0.1');
    expect(errors).toContain('Expected a range written low,high with low <= high.');
  });

  it('refuses more ways than Fashion-MNIST has classes', async () => {
    await parse('produce', 'fashion-mnist', '--ways', '11');
    expect(errors).toContain('Expected a whole number from 2 to 10.');
  });

  it('refuses a continual task that repeats a class', async () => {
    await parse('produce', 'fashion-mnist-continual', '--task', '3,3');
    expect(errors).toContain('Expected distinct classes from 0 to 9, comma-separated.');
  });

  it('refuses an option that the chosen source would ignore', async () => {
    const error = await parse('produce', 'sinusoid', '--shots', '5');
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(
      'option --shots applies to fashion-mnist, fashion-mnist-continual, not to sinusoid',
    );
  });

  it('asks for a file when the source is jsonl, and refuses one otherwise', async () => {
    const missing = await parse('produce', 'jsonl');
    expect(missing).toBeInstanceOf(UsageError);
    expect((missing as Error).message).toContain('needs a file argument');

    const extra = await parse('produce', 'sinusoid', 'episodes.jsonl');
    expect((extra as Error).message).toBe(
      'produce sinusoid takes no file argument; received "episodes.jsonl"',
    );
  });

  it('says how to configure a broker when none is configured', async () => {
    const error = await parse('produce', 'sinusoid', '--count', '5');
    expect(error).toBeInstanceOf(NoBrokerError);
    const message = (error as Error).message;
    expect(message).toContain('produce needs a Kafka broker');
    expect(message).toContain('--brokers host:port');
    expect(message).toContain('ALLMAP_KAFKA_BROKERS');
    expect(message).toContain('`npm start` runs the whole loop');
  });
});

describe('allmap tail and models arguments', () => {
  it('refuses a topic tail does not follow', async () => {
    await parse('tail', 'episodes');
    expect(errors).toContain('Allowed choices are models, metrics, dead-letter.');
  });

  it('refuses --max 0', async () => {
    await parse('tail', 'models', '--max', '0');
    expect(errors).toContain('Expected a whole number of at least 1.');
  });

  it('requires an output file for models get', async () => {
    const error = await parse('models', 'get', 'task-1');
    expect((error as CommanderError).code).toBe('commander.missingMandatoryOptionValue');
    expect(errors).toContain("required option '-o, --output <file>' not specified");
  });

  it('needs a broker for tail and models get as well', async () => {
    expect(await parse('tail', 'models')).toBeInstanceOf(NoBrokerError);
    expect(await parse('models', 'get', 'task-1', '-o', '/tmp/never.onnx')).toBeInstanceOf(
      NoBrokerError,
    );
  });
});
