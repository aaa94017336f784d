import type { Episode, LabelledSet } from '../episode/episode.js';
import { SINUSOID } from '../episode/families.js';
import { Random } from '../util/random.js';
import {
  episodeIndices,
  requireCount,
  requireInteger,
  requireRange,
  type SourceOptions,
} from './options.js';

/**
 * Workload W1: each task is a sine curve `y = A sin(x + b)` with its own amplitude A
 * and phase b, seen through a few points (after Finn et al., MAML, 2017).
 */
export interface SinusoidOptions extends SourceOptions {
  /** Support points per episode; 10 unless given. */
  readonly supportSize?: number;
  /** Query points per episode; 10 unless given. */
  readonly querySize?: number;
  /** A is drawn uniformly from this range; [0.1, 5] unless given. */
  readonly amplitudeRange?: readonly [number, number];
  /** b is drawn uniformly from this range; [0, pi] unless given. */
  readonly phaseRange?: readonly [number, number];
  /** x is drawn uniformly from this range; [-5, 5] unless given. */
  readonly inputRange?: readonly [number, number];
}

/**
 * A reproducible stream of sinusoid episodes. Each episode's metadata carries its true
 * `amplitude` and `phase`, so evaluations can compare codes z with task parameters.
 */
export function sinusoidEpisodes(options: SinusoidOptions): Generator<Episode> {
  // Options are checked at the call, not when the first episode is read.
  return generateSinusoids(sinusoidSettings(options), options);
}

function* generateSinusoids(settings: SinusoidSettings, options: SinusoidOptions) {
  const random = new Random(options.seed);
  const clock = options.clock ?? Date.now;

  for (const index of episodeIndices(options.count)) {
    // One generator per episode: an episode's numbers do not depend on the sizes of earlier ones.
    yield sinusoidEpisode(random.fork(), index, settings, options.seed, clock());
  }
}

interface SinusoidSettings {
  readonly supportSize: number;
  readonly querySize: number;
  readonly amplitudeRange: readonly [number, number];
  readonly phaseRange: readonly [number, number];
  readonly inputRange: readonly [number, number];
}

function sinusoidSettings(options: SinusoidOptions): SinusoidSettings {
  requireCount(options.count);
  const settings = {
    supportSize: requireInteger('supportSize', options.supportSize ?? 10, 1),
    querySize: requireInteger('querySize', options.querySize ?? 10, 1),
    amplitudeRange: options.amplitudeRange ?? [0.1, 5],
    phaseRange: options.phaseRange ?? [0, Math.PI],
    inputRange: options.inputRange ?? [-5, 5],
  } as const;
  requireRange('amplitudeRange', settings.amplitudeRange);
  requireRange('phaseRange', settings.phaseRange);
  requireRange('inputRange', settings.inputRange);
  return settings;
}

function sinusoidEpisode(
  random: Random,
  index: number,
  settings: SinusoidSettings,
  seed: number,
  producedAt: number,
): Episode {
  const amplitude = random.uniform(...settings.amplitudeRange);
  const phase = random.uniform(...settings.phaseRange);
  const curve = (x: number) => amplitude * Math.sin(x + phase);

  return {
    taskId: `sinusoid-${seed}-${index}`,
    family: SINUSOID.name,
    support: samplePoints(random, settings.supportSize, settings.inputRange, curve),
    query: samplePoints(random, settings.querySize, settings.inputRange, curve),
    producedAt,
    metadata: { amplitude: String(amplitude), phase: String(phase) },
  };
}

function samplePoints(
  random: Random,
  size: number,
  range: readonly [number, number],
  curve: (x: number) => number,
): LabelledSet {
  const inputs = new Float32Array(size);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    inputs[i] = random.uniform(...range);
    // The target is computed from the stored float32 input, so x and y agree exactly.
    values[i] = curve(inputs[i] ?? 0);
  }
  return { inputs, inputDim: 1, targets: { kind: 'regression', values, outputDim: 1 } };
}
