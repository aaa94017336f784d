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
  const level = options.level ?? levelFromEnvironment();
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

const LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * The level a logger made before the config is loaded starts at. A bad ALLMAP_LOG_LEVEL
 * falls back to `info` here, so that loading the config can report it as a config error.
 */
function levelFromEnvironment(): LogLevel {
  const level = process.env.ALLMAP_LOG_LEVEL;
  return level !== undefined && LEVELS.includes(level) ? (level as LogLevel) : 'info';
}
