import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LoggerOptions {
  level?: LogLevel;
  /** Pretty, coloured lines for a person at a terminal; JSON lines otherwise. */
  pretty?: boolean;
}

let root: Logger | undefined;

/**
 * Builds the process-wide root logger. Logs go to standard error so that commands
 * which print records (`allmap tail --json`) keep standard output clean for pipes.
 */
export function createRootLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? (process.env.ALLMAP_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  const pretty = options.pretty ?? process.stderr.isTTY === true;

  const transport = pretty
    ? { target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l' } }
    : undefined;

  root = transport
    ? pino({ level, base: { service: 'allmap' }, transport })
    : pino({ level, base: { service: 'allmap' } }, pino.destination(2));
  return root;
}

/** A named child of the root logger, one per component (`engine`, `stream.publish`, ...). */
export function getLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  root ??= createRootLogger();
  return root.child({ component, ...bindings });
}
