import { Argument, type Command, Option } from 'commander';
import { topicNames, topicSpecs } from '../../config/topics.js';
import type { Logger } from '../../log/logger.js';
import type { JsonlEpisodeError } from '../../sources/errors.js';
import { TransportError } from '../../transport/errors.js';
import type { Producer } from '../../transport/transport.js';
import { connectBroker, requireBrokers } from '../broker.js';
import { resolveContext } from '../context.js';
import { type SendProgress, sendEpisodes } from '../episode-sender.js';
import {
  DEFAULT_GENERATED_COUNT,
  type EpisodeSource,
  type EpisodeSourceOptions,
  openEpisodeSource,
  SOURCE_NAMES,
  type SourceName,
} from '../episode-sources.js';
import { UsageError } from '../errors.js';
import { formatBytes, formatThroughput } from '../format.js';
import {
  classList,
  collect,
  integerAtLeast,
  integerBetween,
  numberAtLeast,
  range,
} from '../options.js';
import { createProgressReporter } from '../progress.js';

/**
 * `allmap produce <source>`: feeds the learner. Sends task episodes, Avro-encoded and keyed
 * by task id, to the episodes topic, creating allmap's topics first when they are missing.
 */
export function register(program: Command): void {
  const command = program
    .command('produce')
    .description('send task episodes to the episodes topic (Avro, keyed by task id)')
    .addArgument(new Argument('<source>', 'where episodes come from').choices(SOURCE_NAMES))
    .argument('[file]', 'jsonl: a JSON Lines file (docs/episode-jsonl.md), or - for stdin');
  addOptions(command);
  command.action((source: SourceName, file: string | undefined, flags: ProduceFlags, self) =>
    produce(source, file, flags, self as Command),
  );
}

interface ProduceFlags {
  count?: number;
  rate?: number;
  seed?: number;
  supportSize?: number;
  querySize?: number;
  amplitude?: [number, number];
  phase?: [number, number];
  ways?: number;
  shots?: number;
  queries?: number;
  split?: 'train' | 'test';
  task?: number[][];
  episodesPerTask?: number;
  revisit?: number;
  dataDir?: string;
  onInvalid: 'stop' | 'skip';
}

const FASHION: SourceName[] = ['fashion-mnist', 'fashion-mnist-continual'];
const GENERATED: SourceName[] = ['sinusoid', ...FASHION];

/** The sources each source-specific option applies to; giving it to another is an error. */
const APPLIES_TO: Partial<Record<keyof ProduceFlags, SourceName[]>> = {
  seed: GENERATED,
  supportSize: ['sinusoid'],
  querySize: ['sinusoid'],
  amplitude: ['sinusoid'],
  phase: ['sinusoid'],
  ways: ['fashion-mnist'],
  shots: FASHION,
  queries: FASHION,
  split: FASHION,
  dataDir: FASHION,
  task: ['fashion-mnist-continual'],
  episodesPerTask: ['fashion-mnist-continual'],
  revisit: ['fashion-mnist-continual'],
  onInvalid: ['jsonl'],
};

function addOptions(command: Command): void {
  command
    .option(
      '-n, --count <n>',
      `episodes to send; default: all of a file or continual sequence, ${DEFAULT_GENERATED_COUNT} ` +
        'from sinusoid and fashion-mnist; 0: no limit',
      integerAtLeast(0),
    )
    .option('-r, --rate <n>', 'episodes per second; 0: as fast as possible', numberAtLeast(0))
    .option(
      '-s, --seed <n>',
      'seed of a generated source; one seed, one sequence (default 1)',
      integerAtLeast(0),
    )
    .option(
      '--support-size <n>',
      'sinusoid: support points per episode (default 10)',
      integerAtLeast(1),
    )
    .option(
      '--query-size <n>',
      'sinusoid: query points per episode (default 10)',
      integerAtLeast(1),
    )
    .option('--amplitude <low,high>', 'sinusoid: range of amplitudes A (default 0.1,5)', range)
    .option('--phase <low,high>', 'sinusoid: range of phases b (default 0,3.14159)', range)
    .option('--ways <n>', 'fashion-mnist: classes per episode (default 5)', integerBetween(2, 10))
    .option(
      '--shots <n>',
      'fashion-mnist*: support images per class (default 1)',
      integerAtLeast(1),
    )
    .option(
      '--queries <n>',
      'fashion-mnist*: query images per class (default 15)',
      integerAtLeast(1),
    )
    .addOption(
      new Option('--split <split>', 'fashion-mnist*: images to draw from (default train)').choices([
        'train',
        'test',
      ]),
    )
    .option(
      '--task <classes>',
      'fashion-mnist-continual: classes of one task, e.g. 0,1; repeat in sequence order ' +
        '(default 0,1 2,3 4,5 6,7 8,9)',
      collect(classList),
    )
    .option(
      '--episodes-per-task <n>',
      'fashion-mnist-continual: episodes of each task while it is learnt (default 100)',
      integerAtLeast(1),
    )
    .option(
      '--revisit <n>',
      'fashion-mnist-continual: episodes of each task when revisited at the end (default 20)',
      integerAtLeast(0),
    )
    .option(
      '--data-dir <dir>',
      'fashion-mnist*: folder of the Fashion-MNIST files (env: ALLMAP_DATA_DIR; ' +
        'default /usr/share/datasets/fashion-mnist)',
    )
    .addOption(
      new Option('--on-invalid <action>', 'jsonl: an invalid line stops the run, or is skipped')
        .choices(['stop', 'skip'])
        .default('stop'),
    );
}

async function produce(
  sourceName: SourceName,
  file: string | undefined,
  flags: ProduceFlags,
  command: Command,
): Promise<void> {
  checkApplicable(command, sourceName, file);
  const { config, log } = resolveContext(command, { dataDir: flags.dataDir });
  // Before loading a dataset: no broker, no point.
  requireBrokers(config, 'produce');
  const logger = log.child({ component: 'cli.produce' });

  let skipped = 0;
  const onInvalidLine = (error: JsonlEpisodeError) => {
    skipped += 1;
    logger.warn({ source: error.source, line: error.line, reason: error.reason }, error.message);
  };
  const source = await openSource(sourceName, {
    ...sourceOptions(flags, file),
    ...(config.dataDir === undefined ? {} : { dataDir: config.dataDir }),
    ...(flags.onInvalid === 'skip' ? { onInvalidLine } : {}),
  });

  const transport = await connectBroker(config, 'produce', logger).catch((error: unknown) => {
    source.close();
    throw error;
  });
  try {
    await transport.createTopics(topicSpecs(config));
    const topic = topicNames(config).episodes;
    const producer = await transport.producer();
    await sendFromSource(source, { topic, producer, flags, logger, skipped: () => skipped });
  } finally {
    await transport.close();
  }
}

function sourceOptions(flags: ProduceFlags, file: string | undefined): EpisodeSourceOptions {
  return {
    seed: flags.seed ?? 1,
    count: flags.count,
    supportSize: flags.supportSize,
    querySize: flags.querySize,
    amplitude: flags.amplitude,
    phase: flags.phase,
    ways: flags.ways,
    shots: flags.shots,
    queriesPerClass: flags.queries,
    split: flags.split,
    tasks: flags.task,
    episodesPerTask: flags.episodesPerTask,
    revisitEpisodesPerTask: flags.revisit,
    file,
  };
}

/** A source's own checks (sizes, class lists) throw RangeError: the user's to fix. */
async function openSource(name: SourceName, options: EpisodeSourceOptions): Promise<EpisodeSource> {
  try {
    return await openEpisodeSource(name, options);
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(`produce ${name}: ${error.message}`);
    throw error;
  }
}

interface SendContext {
  topic: string;
  producer: Producer;
  flags: ProduceFlags;
  logger: Logger;
  skipped: () => number;
}

/** Sends until the source ends, an error, or Ctrl-C; prints the summary in every case. */
async function sendFromSource(source: EpisodeSource, context: SendContext): Promise<void> {
  const { topic, flags, logger } = context;
  const interrupt = listenForInterrupt(logger);
  const progress = createProgressReporter({ total: source.total, logger });
  logger.info({ topic, total: source.total, rate: flags.rate }, `sending episodes to ${topic}`);

  let sent: SendProgress = { episodes: 0, bytes: 0, batches: 0, seconds: 0 };
  let wasInterrupted = false;
  try {
    const summary = await sendEpisodes(source.episodes, {
      producer: context.producer,
      topic,
      rate: flags.rate,
      signal: interrupt.signal,
      onProgress: (latest) => {
        sent = latest;
        progress.update(latest);
      },
    });
    sent = summary;
    wasInterrupted = summary.wasInterrupted;
    if (wasInterrupted) process.exitCode = 130;
  } catch (error) {
    throw explainSendFailure(error, topic);
  } finally {
    progress.stop();
    source.close();
    interrupt.release();
    printSummary(sent, topic, context.skipped(), wasInterrupted);
  }
}

/** Ctrl-C or SIGTERM stops reading and lets what was read be sent; a second one quits. */
function listenForInterrupt(logger: Logger): { signal: AbortSignal; release(): void } {
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) process.exit(130);
    logger.warn({ signal }, 'stopping: sending what was read, then exiting (again to quit now)');
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const release = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  return { signal: interrupt.signal, release };
}

/** Kafka's answer to an oversized episode names no setting; this one says which. */
function explainSendFailure(error: unknown, topic: string): unknown {
  if (!(error instanceof TransportError) || error.code !== 'MESSAGE_TOO_LARGE') return error;
  return new UsageError(
    `an episode is larger than topic '${topic}' accepts (max.message.bytes, 1 MB by default); ` +
      'send smaller episodes or raise max.message.bytes on the topic',
    { cause: error },
  );
}

function printSummary(sent: SendProgress, topic: string, skipped: number, wasInterrupted: boolean) {
  const notes = [
    ...(skipped > 0 ? [`skipped ${skipped} invalid lines`] : []),
    ...(wasInterrupted ? ['interrupted'] : []),
  ];
  const tail = notes.length > 0 ? ` (${notes.join(', ')})` : '';
  const amount = `${sent.episodes} episodes (${formatBytes(sent.bytes)})`;
  const throughput = formatThroughput(sent.episodes, sent.bytes, sent.seconds);
  process.stdout.write(`produced ${amount} to ${topic} ${throughput}${tail}\n`);
}

/** Refuses options and arguments that the chosen source would silently ignore. */
function checkApplicable(command: Command, source: SourceName, file: string | undefined): void {
  for (const [key, sources] of Object.entries(APPLIES_TO)) {
    if (command.getOptionValueSource(key) !== 'cli' || sources.includes(source)) continue;
    const option = command.options.find((candidate) => candidate.attributeName() === key);
    throw new UsageError(
      `option ${option?.long ?? key} applies to ${sources.join(', ')}, not to ${source}`,
    );
  }
  if (source === 'jsonl' && file === undefined) {
    throw new UsageError('produce jsonl needs a file argument: a path, or - for standard input');
  }
  if (source !== 'jsonl' && file !== undefined) {
    throw new UsageError(
      `produce ${source} takes no file argument; received ${JSON.stringify(file)}`,
    );
  }
}
