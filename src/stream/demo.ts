/**
 * The embedded demo behind `npm start`: with no broker configured, `allmap run` starts the
 * same learner on the in-process log and feeds it a built-in stream of W1 sinusoid tasks,
 * so a newcomer sees episodes flow, models published, and the loss after adaptation fall as
 * meta versions arrive; then a summary, and exit.
 */
import { encodeEpisode } from '../codec/index.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { sinusoidEpisodes } from '../sources/sinusoid.js';
import { EmbeddedTransport, type Producer } from '../transport/index.js';
import { sleep } from './delivery.js';
import { type LearnerService, startLearner } from './learner-service.js';
import { RunProgress, type RunSummary } from './progress.js';

export interface DemoOptions {
  /** Sinusoid episodes to feed; default 2,000. */
  readonly episodes: number;
  /** Episodes per second fed into the log; 0 feeds them all at once. */
  readonly rate: number;
  /** Fixes the tasks of the stream. */
  readonly seed: number;
}

/** Episodes written to the log at each step of a paced feed. */
const FEED_STEP = 10;

export interface Demo {
  readonly service: LearnerService;
  /** The live line: the command shows its own events there. */
  readonly progress: RunProgress;
  /** Resolves with the summary once every episode is through, or the demo was stopped. */
  readonly finished: Promise<RunSummary>;
  /** Stops early (a signal): the summary covers what was done. */
  stop(): Promise<void>;
}

export async function startEmbeddedDemo(
  config: Config,
  options: DemoOptions,
  logger: Logger,
): Promise<Demo> {
  const transport = new EmbeddedTransport({ logger });
  const service = await startLearner({ config, transport, logger });
  logger.info(
    { episodes: options.episodes, rate: options.rate, topic: service.topics.episodes },
    'embedded demo: feeding sinusoid tasks into the in-process log (no broker configured)',
  );
  const progress = new RunProgress(logger, options.episodes);
  await progress.follow(service.outcomes$, service.metaVersions$);

  let isStopping = false;
  const producer = await transport.producer();
  const feeding = feed(producer, service.topics.episodes, options, () => isStopping);
  const allThrough = new Promise<void>((resolve) => {
    const subscription = service.outcomes$.subscribe({
      next: () => progress.finished >= options.episodes && resolve(),
      complete: () => resolve(),
    });
    void service.stopped.finally(() => subscription.unsubscribe());
  });

  const finished = (async () => {
    await Promise.race([allThrough, service.stopped]);
    isStopping = true;
    progress.endLive();
    await feeding;
    await service.stop();
    return progress.stop();
  })();

  return {
    service,
    progress,
    finished,
    stop: async () => {
      isStopping = true;
      progress.endLive();
      await service.stop();
    },
  };
}

/** Writes the tasks into the episodes topic, paced at `rate` per second when given. */
async function feed(
  producer: Producer,
  topic: string,
  options: DemoOptions,
  isStopping: () => boolean,
): Promise<void> {
  const started = performance.now();
  let sent = 0;
  let step: Array<{ key: string; value: Buffer; headers: Record<string, string> }> = [];

  for (const episode of sinusoidEpisodes({ seed: options.seed, count: options.episodes })) {
    if (isStopping()) return;
    step.push({ key: episode.taskId, ...encodeEpisode(episode) });
    if (step.length < FEED_STEP) continue;

    await producer.send(topic, step);
    sent += step.length;
    step = [];
    if (options.rate > 0)
      await sleep(Math.max(0, (sent / options.rate) * 1000 - (performance.now() - started)));
  }
  if (step.length > 0) await producer.send(topic, step);
}
