import cliProgress from 'cli-progress';
import type { Logger } from '../log/logger.js';
import type { SendProgress } from './episode-sender.js';
import { formatBytes } from './format.js';

/**
 * Progress of `allmap produce`: a bar on standard error when it is a terminal, and a log
 * line every few seconds otherwise (a CI log, a file), where a redrawn bar would be noise.
 */
export interface ProgressReporter {
  update(progress: SendProgress): void;
  stop(): void;
}

const LOG_EVERY_MS = 5_000;

export function createProgressReporter(options: {
  total: number | undefined;
  logger: Logger;
  isTerminal?: boolean;
}): ProgressReporter {
  const isTerminal = options.isTerminal ?? process.stderr.isTTY === true;
  return isTerminal ? barReporter(options.total) : logReporter(options.total, options.logger);
}

function barReporter(total: number | undefined): ProgressReporter {
  // Without a known total (a file, an unbounded stream) there is no bar to fill, only counts.
  const counts = '{value} episodes | {rate} episodes/s | {sent}';
  const format =
    total === undefined ? `producing ${counts}` : `producing [{bar}] {percentage}% | ${counts}`;
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0, { rate: '0.0', sent: formatBytes(0) });

  return {
    update: ({ episodes, bytes, seconds }) =>
      bar.update(episodes, {
        rate: (seconds > 0 ? episodes / seconds : 0).toFixed(1),
        sent: formatBytes(bytes),
      }),
    stop: () => bar.stop(),
  };
}

function logReporter(total: number | undefined, logger: Logger): ProgressReporter {
  let loggedAt = Date.now();
  return {
    update: ({ episodes, bytes, seconds }) => {
      if (Date.now() - loggedAt < LOG_EVERY_MS) return;
      loggedAt = Date.now();
      const rate = seconds > 0 ? Math.round((episodes / seconds) * 10) / 10 : 0;
      logger.info({ episodes, total, bytes, episodesPerSecond: rate }, 'producing');
    },
    stop: () => {},
  };
}
