/**
 * The root of allmap's error hierarchy. `isRetriable` says whether trying the same
 * operation again can help (a broker that is restarting) or cannot (bad bytes).
 */
export class AllmapError extends Error {
  readonly isRetriable: boolean;

  constructor(message: string, options: { cause?: unknown; isRetriable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.isRetriable = options.isRetriable ?? false;
  }
}

/** A configuration value that is missing or malformed; `key` is the dotted config path. */
export class ConfigError extends AllmapError {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly received: unknown,
    readonly source: string,
  ) {
    super(
      `config key '${key}' (from ${source}): expected ${expected}, received ${describe(received)}`,
    );
  }
}

export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}
