import { Argument, type Command } from 'commander';
import { defaultCodec } from '../../codec/codec.js';
import type { Config } from '../../config/schema.js';
import { topicNames, topicSpecs } from '../../config/topics.js';
import { connectBroker } from '../broker.js';
import { resolveContext } from '../context.js';
import { followTopic } from '../follow.js';
import { TAIL_TOPICS, type TailTopic, viewRecord } from '../format.js';
import { integerAtLeast, numberAtLeast } from '../options.js';

/**
 * `allmap tail models|metrics|dead-letter`: shows what the learner publishes, one line per
 * record, as a reader of its own that commits nothing and so disturbs no consumer group.
 */
export function register(program: Command): void {
  program
    .command('tail')
    .description('follow a topic the learner writes and print one line per record')
    .addArgument(new Argument('<topic>', 'the topic to follow').choices(TAIL_TOPICS))
    .option('--from-beginning', 'start at the oldest record kept, not at the end')
    .option('--json', 'one JSON object per line; ONNX and episode bytes as size and sha256')
    .option('--max <n>', 'stop after this many records', integerAtLeast(1))
    .option(
      '--timeout <seconds>',
      'stop after this many seconds without a record',
      numberAtLeast(0),
    )
    .action((kind: TailTopic, flags: TailFlags, command: Command) => tail(kind, flags, command));
}

interface TailFlags {
  fromBeginning?: boolean;
  json?: boolean;
  max?: number;
  timeout?: number;
}

async function tail(kind: TailTopic, flags: TailFlags, command: Command): Promise<void> {
  const { config, log } = resolveContext(command);
  const logger = log.child({ component: 'cli.tail' });
  const topic = topicOf(config, kind);
  const codec = defaultCodec();

  // Ctrl-C, SIGTERM, or a closed pipe (`| head`) end the tail as a normal stop.
  const interrupt = new AbortController();
  const stop = () => interrupt.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.on('error', stop);

  const transport = await connectBroker(config, 'tail', logger);
  try {
    // Missing topics are created as the learner would create them, so tail may start first.
    await transport.createTopics(topicSpecs(config));
    const summary = await followTopic(transport, {
      topic,
      fromBeginning: flags.fromBeginning === true,
      maxRecords: flags.max,
      idleTimeoutMs: flags.timeout === undefined ? undefined : flags.timeout * 1000,
      signal: interrupt.signal,
      onReady: (groupId) => {
        const from = flags.fromBeginning ? 'the beginning' : 'the end';
        logger.info({ topic, groupId }, `following ${topic} from ${from}`);
      },
      onRecord: (record) => {
        const view = viewRecord(kind, record, codec);
        process.stdout.write(`${flags.json ? JSON.stringify(view.json) : view.line}\n`);
      },
    });
    logger.info({ topic, ...summary }, `stopped after ${summary.records} records`);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.stdout.off('error', stop);
    await transport.close();
  }
}

function topicOf(config: Config, kind: TailTopic): string {
  const names = topicNames(config);
  if (kind === 'models') return names.models;
  if (kind === 'metrics') return names.metrics;
  return names.deadLetter;
}
