import type { Episode, LabelledSet } from '../episode/episode.js';
import {
  type ClassificationFamily,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_PIXELS,
  fashionMnistFamily,
} from '../episode/families.js';
import { Random } from '../util/random.js';
import { copyImage, type FashionMnistSplit } from './fashion-mnist-data.js';
import { episodeIndices, requireCount, requireInteger, type SourceOptions } from './options.js';

/** Workload W2: N-way K-shot classification episodes from one Fashion-MNIST split. */
export interface FashionMnistOptions extends SourceOptions {
  /** Classes per episode, N; 5 unless given. */
  readonly ways?: number;
  /** Support images per class, K; 1 unless given. */
  readonly shots?: number;
  /** Query images per class; 15 unless given. */
  readonly queriesPerClass?: number;
}

/**
 * A reproducible stream of N-way K-shot episodes. Every episode draws N classes and
 * assigns them labels 0 to N-1 in a fresh random order, so that a label means nothing
 * across episodes and the mapping must be learnt from the support set. Metadata names
 * the original class of each label (`classes`, in label order) and the split.
 */
export function fashionMnistEpisodes(
  data: FashionMnistSplit,
  options: FashionMnistOptions,
): Generator<Episode> {
  // Options are checked at the call, not when the first episode is read.
  requireCount(options.count);
  const ways = options.ways ?? 5;
  return generateEpisodes(data, options, fashionMnistFamily(ways), episodeSizes(options));
}

function* generateEpisodes(
  data: FashionMnistSplit,
  options: FashionMnistOptions,
  family: ClassificationFamily,
  sizes: EpisodeSizes,
): Generator<Episode> {
  const random = new Random(options.seed);
  const clock = options.clock ?? Date.now;
  const allClasses = Array.from({ length: FASHION_MNIST_CLASSES }, (_, i) => i);

  for (const index of episodeIndices(options.count)) {
    const episodeRandom = random.fork();
    const classes = episodeRandom.shuffle(allClasses).slice(0, family.classCount);
    const sets = sampleSets(data, episodeRandom, classes, sizes);
    yield {
      taskId: `fashion-mnist-${data.split}-${options.seed}-${index}`,
      family: family.name,
      ...sets,
      producedAt: clock(),
      metadata: { classes: classes.join(','), split: data.split },
    };
  }
}

export interface EpisodeSizes {
  readonly shots: number;
  readonly queriesPerClass: number;
}

export function episodeSizes(options: {
  shots?: number | undefined;
  queriesPerClass?: number | undefined;
}): EpisodeSizes {
  return {
    shots: requireInteger('shots', options.shots ?? 1, 1),
    queriesPerClass: requireInteger('queriesPerClass', options.queriesPerClass ?? 15, 1),
  };
}

/**
 * Draws distinct images of each class (label = position in `classes`) and splits them
 * into a support and a query set, each in random row order.
 */
export function sampleSets(
  data: FashionMnistSplit,
  random: Random,
  classes: readonly number[],
  sizes: EpisodeSizes,
): Pick<Episode, 'support' | 'query'> {
  const support: Array<[number, number]> = [];
  const query: Array<[number, number]> = [];
  classes.forEach((cls, label) => {
    const picked = pickDistinct(data, random, cls, sizes.shots + sizes.queriesPerClass);
    for (const [i, image] of picked.entries()) {
      (i < sizes.shots ? support : query).push([image, label]);
    }
  });

  return {
    support: toSet(data, random.shuffle(support), classes.length),
    query: toSet(data, random.shuffle(query), classes.length),
  };
}

function pickDistinct(
  data: FashionMnistSplit,
  random: Random,
  cls: number,
  need: number,
): number[] {
  const pool = data.indicesByClass[cls];
  if (!pool || pool.length < need) {
    const have = pool?.length ?? 0;
    throw new RangeError(
      `an episode needs ${need} images of class ${cls}; the ${data.split} split has ${have}`,
    );
  }

  // need is tiny next to the pool (16 of 6000), so redrawing the odd repeat is cheapest.
  const picked = new Set<number>();
  while (picked.size < need) picked.add(pool[random.int(pool.length)] ?? 0);
  return [...picked];
}

function toSet(
  data: FashionMnistSplit,
  rows: Array<[number, number]>,
  classCount: number,
): LabelledSet {
  const inputs = new Float32Array(rows.length * FASHION_MNIST_PIXELS);
  const labels = new Int32Array(rows.length);
  rows.forEach(([image, label], row) => {
    copyImage(data, image, inputs, row * FASHION_MNIST_PIXELS);
    labels[row] = label;
  });
  return {
    inputs,
    inputDim: FASHION_MNIST_PIXELS,
    targets: { kind: 'classification', labels, classCount },
  };
}
