import type { Episode } from '../episode/episode.js';
import {
  type ClassificationFamily,
  FASHION_MNIST_CLASSES,
  fashionMnistFamily,
} from '../episode/families.js';
import { Random } from '../util/random.js';
import { type EpisodeSizes, episodeSizes, sampleSets } from './fashion-mnist.js';
import type { FashionMnistSplit } from './fashion-mnist-data.js';
import { requireInteger, type SourceOptions } from './options.js';

/**
 * Workload W3: a sequence of class-split tasks, each seen for a while and then left,
 * followed by a revisit of every task to measure what was forgotten.
 */
export interface FashionMnistContinualOptions extends Omit<SourceOptions, 'count'> {
  /** The classes of each task, in sequence order; {0,1}, {2,3}, ..., {8,9} unless given. */
  readonly tasks?: ReadonlyArray<readonly number[]>;
  /** Episodes of each task while it is learnt; 100 unless given. */
  readonly episodesPerTask?: number;
  /** Episodes of each task when it is revisited at the end; 20 unless given; 0 skips it. */
  readonly revisitEpisodesPerTask?: number;
  readonly shots?: number;
  readonly queriesPerClass?: number;
  /**
   * Whether each episode assigns labels in a fresh order. Off unless given: a task keeps
   * one mapping from class to label, so coming back to it tests memory of that mapping.
   */
  readonly shuffleLabels?: boolean;
}

export const DEFAULT_CONTINUAL_TASKS: ReadonlyArray<readonly number[]> = [
  [0, 1],
  [2, 3],
  [4, 5],
  [6, 7],
  [8, 9],
];

/**
 * The whole sequence: every task in order for `episodesPerTask` episodes (phase
 * `learn`), then every task again for `revisitEpisodesPerTask` (phase `revisit`). All
 * episodes of a task share its task id; metadata says the task's place in the sequence
 * (`sequenceIndex`), its `classes`, the `phase` and the episode's place in the stream.
 */
export function fashionMnistContinualEpisodes(
  data: FashionMnistSplit,
  options: FashionMnistContinualOptions,
): Generator<Episode> {
  // Options are checked at the call, not when the first episode is read.
  const tasks = options.tasks ?? DEFAULT_CONTINUAL_TASKS;
  const plan: ContinualPlan = {
    tasks,
    family: fashionMnistFamily(checkTasks(tasks)),
    sizes: episodeSizes(options),
    learnEpisodes: requireInteger('episodesPerTask', options.episodesPerTask ?? 100, 1),
    revisitEpisodes: requireInteger(
      'revisitEpisodesPerTask',
      options.revisitEpisodesPerTask ?? 20,
      0,
    ),
  };
  return generateSequence(data, options, plan);
}

interface ContinualPlan {
  readonly tasks: ReadonlyArray<readonly number[]>;
  readonly family: ClassificationFamily;
  readonly sizes: EpisodeSizes;
  readonly learnEpisodes: number;
  readonly revisitEpisodes: number;
}

function* generateSequence(
  data: FashionMnistSplit,
  options: FashionMnistContinualOptions,
  plan: ContinualPlan,
): Generator<Episode> {
  const { tasks, family, sizes, learnEpisodes, revisitEpisodes } = plan;
  const random = new Random(options.seed);
  const clock = options.clock ?? Date.now;

  let streamIndex = 0;
  const phases = [
    { phase: 'learn', episodes: learnEpisodes },
    { phase: 'revisit', episodes: revisitEpisodes },
  ] as const;
  for (const { phase, episodes } of phases) {
    for (const [sequenceIndex, classes] of tasks.entries()) {
      for (let i = 0; i < episodes; i++) {
        const episodeRandom = random.fork();
        const order = options.shuffleLabels ? episodeRandom.shuffle(classes) : [...classes];
        yield {
          taskId: `fashion-mnist-continual-${sequenceIndex}`,
          family: family.name,
          ...sampleSets(data, episodeRandom, order, sizes),
          producedAt: clock(),
          metadata: {
            sequenceIndex: String(sequenceIndex),
            classes: order.join(','),
            phase,
            episodeIndex: String(streamIndex++),
            split: data.split,
          },
        };
      }
    }
  }
}

/** Checks every task has the same number of distinct, valid classes; returns that number. */
function checkTasks(tasks: ReadonlyArray<readonly number[]>): number {
  const ways = tasks[0]?.length ?? 0;
  for (const [i, classes] of tasks.entries()) {
    const isValid =
      classes.length === ways &&
      new Set(classes).size === ways &&
      classes.every((cls) => Number.isInteger(cls) && cls >= 0 && cls < FASHION_MNIST_CLASSES);
    if (!isValid) {
      throw new RangeError(
        `task ${i} has classes [${classes.join(', ')}]; every task needs ${ways} distinct classes from 0 to 9`,
      );
    }
  }
  if (tasks.length === 0) throw new RangeError('option tasks must name at least one task');
  return ways;
}
