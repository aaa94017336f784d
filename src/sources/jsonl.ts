import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Episode, LabelledSet, Targets } from '../episode/episode.js';
import { findFamily } from '../episode/families.js';
import {
  defaultEpisodeLimits,
  type EpisodeLimits,
  EpisodeValidationError,
  validateEpisode,
} from '../episode/validate.js';
import { JsonlEpisodeError } from './errors.js';

/**
 * Episodes from JSON Lines: one episode per line, in the format of
 * docs/episode-jsonl.md. Every line is parsed and validated on its own, and every
 * error names the line.
 */
export interface JsonlOptions {
  /** A file path, or `-` for standard input; ignored when `input` is given. */
  readonly path?: string;
  /** A stream to read instead of a file (standard input, a test's string). */
  readonly input?: Readable;
  readonly limits?: EpisodeLimits;
  /** Stamps episodes without `producedAt`; `Date.now` unless given. */
  readonly clock?: () => number;
  /**
   * Receives each bad line's error, and the stream goes on with the next line. Without
   * it the first bad line ends the stream with its error.
   */
  readonly onError?: (error: JsonlEpisodeError) => void;
}

export async function* jsonlEpisodes(options: JsonlOptions): AsyncGenerator<Episode> {
  const { input, source } = openInput(options);
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });

  let lineNumber = 0;
  for await (const text of lines) {
    lineNumber++;
    if (text.trim() === '') continue;
    try {
      yield parseEpisodeLine(text, { ...options, source, line: lineNumber });
    } catch (error) {
      if (!(error instanceof JsonlEpisodeError) || !options.onError) throw error;
      options.onError(error);
    }
  }
}

export interface LineContext {
  readonly source: string;
  readonly line: number;
  readonly limits?: EpisodeLimits | undefined;
  readonly clock?: (() => number) | undefined;
}

/** Parses and validates one line; throws `JsonlEpisodeError` naming the line. */
export function parseEpisodeLine(text: string, context: LineContext): Episode {
  const refuse = (reason: 'invalid-json' | 'invalid-format', detail: string, cause?: unknown) =>
    new JsonlEpisodeError(reason, context.source, context.line, detail, { cause });

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw refuse('invalid-json', (cause as Error).message, cause);
  }

  let episode: Episode;
  try {
    episode = toEpisode(value, context.clock ?? Date.now);
  } catch (cause) {
    if (cause instanceof FormatProblem) throw refuse('invalid-format', cause.message);
    throw cause;
  }

  try {
    validateEpisode(episode, context.limits ?? defaultEpisodeLimits);
  } catch (cause) {
    if (!(cause instanceof EpisodeValidationError)) throw cause;
    const detail = `task ${JSON.stringify(cause.taskId)}: ${cause.detail}`;
    throw new JsonlEpisodeError(cause.reason, context.source, context.line, detail, { cause });
  }
  return episode;
}

function openInput(options: JsonlOptions): { input: Readable; source: string } {
  if (options.input) return { input: options.input, source: options.path ?? 'input' };
  if (!options.path || options.path === '-') return { input: process.stdin, source: 'stdin' };
  return { input: createReadStream(options.path), source: options.path };
}

/** A line whose JSON does not have the episode format. */
class FormatProblem extends Error {}

type Json = Record<string, unknown>;

function toEpisode(value: unknown, clock: () => number): Episode {
  const line = asObject(value, 'the line');
  const taskId = asString(line.taskId, 'taskId');
  const family = asString(line.family, 'family');
  const classCount = classCountOf(line, family);
  const episode = {
    taskId,
    family,
    support: toSet(line.support, 'support', classCount),
    query: toSet(line.query, 'query', classCount),
    producedAt: line.producedAt === undefined ? clock() : asNumber(line.producedAt, 'producedAt'),
  };
  return line.metadata === undefined
    ? episode
    : { ...episode, metadata: asStringMap(line.metadata, 'metadata') };
}

/** `classCount` from the line, else from the family; only labels need it. */
function classCountOf(line: Json, family: string): number | undefined {
  if (line.classCount !== undefined) return asNumber(line.classCount, 'classCount');
  const known = findFamily(family);
  return known?.kind === 'classification' ? known.classCount : undefined;
}

function toSet(value: unknown, name: string, classCount: number | undefined): LabelledSet {
  const set = asObject(value, name);
  const inputs = asRows(set.inputs, `${name}.inputs`);
  return {
    inputs: inputs.values,
    inputDim: inputs.width,
    targets: toTargets(set, name, classCount),
  };
}

function toTargets(set: Json, name: string, classCount: number | undefined): Targets {
  const hasTargets = set.targets !== undefined;
  if (hasTargets === (set.labels !== undefined)) {
    throw new FormatProblem(
      `${name} needs exactly one of targets (regression) or labels (classes)`,
    );
  }

  if (hasTargets) {
    const rows = asRows(set.targets, `${name}.targets`);
    return { kind: 'regression', values: rows.values, outputDim: rows.width };
  }
  if (classCount === undefined) {
    throw new FormatProblem(
      `${name}.labels need classCount: give it, or use a classification family`,
    );
  }
  const labels = asArray(set.labels, `${name}.labels`).map((label, i) => {
    const number = asNumber(label, `${name}.labels[${i}]`);
    if (!Number.isInteger(number))
      throw new FormatProblem(`${name}.labels[${i}] is ${number}, not an integer`);
    return number;
  });
  return { kind: 'classification', labels: Int32Array.from(labels), classCount };
}

/** An array of rows of equal width, flattened row-major. */
function asRows(value: unknown, name: string): { values: Float32Array; width: number } {
  const rows = asArray(value, name);
  const first = rows[0];
  const width = Array.isArray(first) ? first.length : 0;
  const values = new Float32Array(rows.length * width);
  rows.forEach((row, r) => {
    const cells = asArray(row, `${name}[${r}]`);
    if (cells.length !== width) {
      throw new FormatProblem(`${name}[${r}] has ${cells.length} values; row 0 has ${width}`);
    }
    cells.forEach((cell, c) => {
      values[r * width + c] = asNumber(cell, `${name}[${r}][${c}]`);
    });
  });
  return { values, width };
}

function asObject(value: unknown, name: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FormatProblem(`${name} must be an object; received ${kindOf(value)}`);
  }
  return value as Json;
}

function asArray(value: unknown, name: string): unknown[] {
  if (!Array.isArray(value))
    throw new FormatProblem(`${name} must be an array; received ${kindOf(value)}`);
  return value;
}

function asString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new FormatProblem(`${name} must be a non-empty string; received ${kindOf(value)}`);
  }
  return value;
}

function asNumber(value: unknown, name: string): number {
  if (typeof value !== 'number')
    throw new FormatProblem(`${name} must be a number; received ${kindOf(value)}`);
  return value;
}

function asStringMap(value: unknown, name: string): Record<string, string> {
  const map = asObject(value, name);
  for (const [key, entry] of Object.entries(map)) {
    if (typeof entry !== 'string') {
      throw new FormatProblem(`${name}.${key} must be a string; received ${kindOf(entry)}`);
    }
  }
  return map as Record<string, string>;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value).slice(0, 40)}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
