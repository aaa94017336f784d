import { accessSync, constants, createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Episode } from '../episode/episode.js';
import type { JsonlEpisodeError } from '../sources/errors.js';
import { fashionMnistEpisodes } from '../sources/fashion-mnist.js';
import {
  DEFAULT_CONTINUAL_TASKS,
  fashionMnistContinualEpisodes,
} from '../sources/fashion-mnist-continual.js';
import { type FashionMnistSplitName, loadFashionMnist } from '../sources/fashion-mnist-data.js';
import { jsonlEpisodes } from '../sources/jsonl.js';
import { sinusoidEpisodes } from '../sources/sinusoid.js';
import { UsageError } from './errors.js';

/**
 * The episode sources `allmap produce` offers, built from its options. The generated
 * sources (sinusoid, Fashion-MNIST) are the workloads of DESIGN.md section 4; `jsonl`
 * reads episodes a person or another system wrote (docs/episode-jsonl.md).
 */

export const SOURCE_NAMES = ['sinusoid', 'fashion-mnist', 'fashion-mnist-continual', 'jsonl'];
export type SourceName = 'sinusoid' | 'fashion-mnist' | 'fashion-mnist-continual' | 'jsonl';

/** Episodes `produce` sends from a generated source when `--count` is not given. */
export const DEFAULT_GENERATED_COUNT = 1000;

export interface EpisodeSourceOptions {
  readonly seed: number;
  /** Episodes to produce; absent: the whole file or sequence, or `DEFAULT_GENERATED_COUNT`. */
  readonly count?: number;
  readonly supportSize?: number;
  readonly querySize?: number;
  readonly amplitude?: [number, number];
  readonly phase?: [number, number];
  readonly ways?: number;
  readonly shots?: number;
  readonly queriesPerClass?: number;
  readonly split?: FashionMnistSplitName;
  readonly tasks?: number[][];
  readonly episodesPerTask?: number;
  readonly revisitEpisodesPerTask?: number;
  /** Folder of the Fashion-MNIST files; `ALLMAP_DATA` or the Debian folder when absent. */
  readonly dataDir?: string;
  /** For `jsonl`: a file path, or `-` for standard input. */
  readonly file?: string;
  /** For `jsonl`: receives each invalid line's error and the stream goes on; absent: stop. */
  readonly onInvalidLine?: (error: JsonlEpisodeError) => void;
}

export interface EpisodeSource {
  readonly episodes: Iterable<Episode> | AsyncIterable<Episode>;
  /** How many episodes it will give, when known in advance (for a progress bar). */
  readonly total: number | undefined;
  /** Releases the input (a file, standard input); the episodes cannot be read after. */
  close(): void;
}

/** Builds a source; loads Fashion-MNIST first when the source needs it. */
export async function openEpisodeSource(
  name: SourceName,
  options: EpisodeSourceOptions,
): Promise<EpisodeSource> {
  switch (name) {
    case 'sinusoid':
      return generated(sinusoidEpisodes(sinusoidOptions(options)), generatedCount(options));
    case 'fashion-mnist': {
      const data = await loadFashionMnist(options.split ?? 'train', { dataDir: options.dataDir });
      const count = generatedCount(options);
      return generated(fashionMnistEpisodes(data, fashionOptions(options, count)), count);
    }
    case 'fashion-mnist-continual':
      return openContinual(options);
    case 'jsonl':
      return openJsonl(options);
  }
}

function sinusoidOptions(options: EpisodeSourceOptions) {
  return {
    seed: options.seed,
    count: generatedCount(options),
    supportSize: options.supportSize,
    querySize: options.querySize,
    amplitudeRange: options.amplitude,
    phaseRange: options.phase,
  };
}

function fashionOptions(options: EpisodeSourceOptions, count: number | undefined) {
  return {
    seed: options.seed,
    count,
    ways: options.ways,
    shots: options.shots,
    queriesPerClass: options.queriesPerClass,
  };
}

/** `--count 0` means no limit: a generated source then runs until interrupted. */
function generatedCount(options: EpisodeSourceOptions): number | undefined {
  const count = options.count ?? DEFAULT_GENERATED_COUNT;
  return count === 0 ? undefined : count;
}

function generated(episodes: Iterable<Episode>, total: number | undefined): EpisodeSource {
  return { episodes, total, close: () => {} };
}

async function openContinual(options: EpisodeSourceOptions): Promise<EpisodeSource> {
  const data = await loadFashionMnist(options.split ?? 'train', { dataDir: options.dataDir });
  const tasks = options.tasks ?? DEFAULT_CONTINUAL_TASKS;
  const continual = {
    seed: options.seed,
    tasks,
    episodesPerTask: options.episodesPerTask,
    revisitEpisodesPerTask: options.revisitEpisodesPerTask,
    shots: options.shots,
    queriesPerClass: options.queriesPerClass,
  };
  const episodes = fashionMnistContinualEpisodes(data, continual);

  // The whole sequence, learn phase then revisit, unless a count cuts it short.
  const sequence =
    tasks.length * ((options.episodesPerTask ?? 100) + (options.revisitEpisodesPerTask ?? 20));
  const limit = options.count === undefined || options.count === 0 ? undefined : options.count;
  const total = limit === undefined ? sequence : Math.min(limit, sequence);
  return generated(take(episodes, limit), total);
}

function openJsonl(options: EpisodeSourceOptions): EpisodeSource {
  const path = options.file ?? '-';
  if (path !== '-') checkReadable(path);
  const input: Readable = path === '-' ? process.stdin : createReadStream(path);
  const episodes = jsonlEpisodes({
    input,
    path: path === '-' ? 'stdin' : path,
    onError: options.onInvalidLine,
  });
  const limit = options.count === undefined || options.count === 0 ? undefined : options.count;
  return {
    episodes: take(episodes, limit),
    total: limit,
    // Standard input left open would keep the process alive after the last send.
    close: () => input.destroy(),
  };
}

function checkReadable(path: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new UsageError(
      `cannot read episodes from ${path} (${reason}); give a file or - for stdin`,
    );
  }
}

function take<T>(source: Iterable<T>, limit: number | undefined): Iterable<T>;
function take<T>(source: AsyncIterable<T>, limit: number | undefined): AsyncIterable<T>;
function take<T>(
  source: Iterable<T> | AsyncIterable<T>,
  limit: number | undefined,
): Iterable<T> | AsyncIterable<T> {
  if (limit === undefined) return source;
  if (Symbol.asyncIterator in source) return takeAsync(source, limit);
  return takeSync(source, limit);
}

function* takeSync<T>(source: Iterable<T>, limit: number): Generator<T> {
  if (limit <= 0) return;
  let taken = 0;
  for (const item of source) {
    yield item;
    if (++taken >= limit) return;
  }
}

async function* takeAsync<T>(source: AsyncIterable<T>, limit: number): AsyncGenerator<T> {
  if (limit <= 0) return;
  let taken = 0;
  for await (const item of source) {
    yield item;
    if (++taken >= limit) return;
  }
}
