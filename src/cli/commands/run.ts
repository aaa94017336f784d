import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import { startEmbeddedDemo } from '../../stream/demo.js';
import { startLearner } from '../../stream/learner-service.js';
import { flushed, formatSummary, RunProgress } from '../../stream/progress.js';
import { resolveContext } from '../context.js';

interface RunFlags {
  episodes: number;
  rate: number;
  seed: number;
  delivery?: string;
  group?: string;
  metricsPort?: number;
}

/**
 * `allmap run`: the streaming learner. With brokers configured it consumes the episodes
 * topic until SIGTERM or SIGINT; without, it runs the embedded demo (see stream/demo.ts).
 */
export function register(program: Command): void {
  program
    .command('run')
    .description(
      'consume episodes, adapt a model per task and publish it; with no broker, ' +
        'run the embedded demo on a built-in sinusoid stream',
    )
    .option('--episodes <n>', 'embedded demo: sinusoid episodes to feed', integer(1), 2_000)
    .option(
      '--rate <n>',
      'embedded demo: episodes per second fed (0: all at once)',
      integer(0),
      100,
    )
    .option('--seed <n>', 'embedded demo: seed of the task stream', integer(0), 1)
    .option('--delivery <mode>', 'at-least-once or exactly-once (kafka.delivery)')
    .option('--group <id>', 'consumer group of the learners (kafka.groupId)')
    .option(
      '--metrics-port <port>',
      'port of /metrics, /healthz, /readyz (0: any free)',
      integer(0),
    )
    .action(async (flags: RunFlags, command: Command) => {
      const { config, log } = resolveContext(command, {
        kafka: { delivery: flags.delivery, groupId: flags.group },
        metrics: { port: flags.metricsPort },
      });
      const code =
        config.kafka.brokers.length === 0
          ? await runDemo(config, flags, log)
          : await runOnKafka(config, log);
      // The learner has stopped; a meta-update it abandoned may still hold a worker thread.
      // It is not waited for (its result is dropped), and its log lines would only confuse.
      process.exit(code);
    });
}

async function runOnKafka(config: Config, log: Logger): Promise<number> {
  const service = await startLearner({ config, logger: log });
  const progress = new RunProgress(log, 0);
  await progress.follow(service.outcomes$, service.metaVersions$);
  onSignals(log, progress, () => service.stop());

  try {
    await service.stopped;
    return 0;
  } finally {
    progress.stop();
  }
}

async function runDemo(config: Config, flags: RunFlags, log: Logger): Promise<number> {
  const demo = await startEmbeddedDemo(
    withFreePort(config),
    { episodes: flags.episodes, rate: flags.rate, seed: flags.seed },
    log,
  );
  onSignals(log, demo.progress, () => demo.stop());
  const summary = await demo.finished;
  // The learner's last log lines first, so that they do not land inside the summary; and
  // standard output may be a pipe, written asynchronously: exit only once it is written.
  await flushed(log);
  await new Promise<void>((resolve) =>
    process.stdout.write(formatSummary(summary), () => resolve()),
  );
  return 0;
}

/**
 * The demo must work on any machine: when the default metrics port is taken, it serves
 * on a free one instead (and logs where).
 */
function withFreePort(config: Config): Config {
  const isDefault = config.metrics.port === 9464 && process.env.ALLMAP_METRICS_PORT === undefined;
  return isDefault ? { ...config, metrics: { ...config.metrics, port: 0 } } : config;
}

/**
 * The first SIGTERM or SIGINT drains and stops; a second one exits at once. Stopping shows
 * on the live line (in the bar, or as a log line).
 */
function onSignals(log: Logger, progress: RunProgress, stop: () => Promise<void>): void {
  let signals = 0;
  const handle = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(130);
    progress.note(`stopping (${signal}): finishing the episodes in flight`, { signal });
    stop().catch((error: unknown) => log.error({ err: error }, 'stopping failed'));
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}

function integer(min: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min) {
      throw new InvalidArgumentError(`expected an integer >= ${min}, received ${value}`);
    }
    return parsed;
  };
}
