import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClassificationTargets, Episode, LabelledSet } from '../../../src/episode/episode.js';
import { validateEpisode } from '../../../src/episode/validate.js';
import { fashionMnistEpisodes } from '../../../src/sources/fashion-mnist.js';
import { fashionMnistContinualEpisodes } from '../../../src/sources/fashion-mnist-continual.js';
import {
  type FashionMnistSplit,
  loadFashionMnist,
} from '../../../src/sources/fashion-mnist-data.js';
import {
  classOfRow,
  serialOfRow,
  writeFashionMnistFixture,
} from '../../support/fashion-mnist-fixture.js';

let dir: string;
let train: FashionMnistSplit;
const clock = () => 1_700_000_000_000;

beforeAll(async () => {
  dir = await writeFashionMnistFixture({ perClass: 20 });
  train = await loadFashionMnist('train', { dataDir: dir });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function labelsOf(set: LabelledSet): Int32Array {
  return (set.targets as ClassificationTargets).labels;
}

/** Each row's class (read from the fixture's pixel 0) must be the one its label stands for. */
function expectLabelsMatchClasses(episode: Episode, classes: number[]): void {
  for (const set of [episode.support, episode.query]) {
    labelsOf(set).forEach((label, row) => {
      expect(classOfRow(set.inputs, row)).toBe(classes[label]);
    });
  }
}

describe('Fashion-MNIST few-shot episodes (W2)', () => {
  it('are 5-way 1-shot with 15 queries per class by default', () => {
    const [episode] = fashionMnistEpisodes(train, { seed: 1, count: 1, clock });
    if (!episode) throw new Error('no episode');
    expect(validateEpisode(episode).name).toBe('fashion-mnist-5way');
    expect(episode.support.inputs).toHaveLength(5 * 784);
    expect(episode.query.inputs).toHaveLength(75 * 784);
    expect([...labelsOf(episode.support)].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(labelsOf(episode.query)).size).toBe(5);
  });

  it('take ways, shots and queries from the options', () => {
    const [episode] = fashionMnistEpisodes(train, {
      seed: 1,
      count: 1,
      ways: 3,
      shots: 5,
      queriesPerClass: 2,
    });
    expect(episode?.family).toBe('fashion-mnist-3way');
    expect(episode && labelsOf(episode.support)).toHaveLength(15);
    expect(episode && labelsOf(episode.query)).toHaveLength(6);
  });

  it('are the same for the same seed and differ for another', () => {
    const first = [...fashionMnistEpisodes(train, { seed: 9, count: 3, clock })];
    expect([...fashionMnistEpisodes(train, { seed: 9, count: 3, clock })]).toEqual(first);
    expect([...fashionMnistEpisodes(train, { seed: 10, count: 3, clock })]).not.toEqual(first);
  });

  it('assign classes to labels in a fresh order each episode, said in metadata', () => {
    const episodes = [...fashionMnistEpisodes(train, { seed: 2, count: 30 })];
    const orders = new Set(episodes.map((episode) => episode.metadata?.classes));
    expect(orders.size).toBeGreaterThan(25);
    for (const episode of episodes) {
      const classes = (episode.metadata?.classes ?? '').split(',').map(Number);
      expect(new Set(classes).size).toBe(5);
      expectLabelsMatchClasses(episode, classes);
    }
  });

  it('never use one image twice within an episode', () => {
    for (const episode of fashionMnistEpisodes(train, {
      seed: 3,
      count: 10,
      shots: 5,
      queriesPerClass: 15,
    })) {
      const images = new Set<string>();
      for (const set of [episode.support, episode.query]) {
        for (let row = 0; row < labelsOf(set).length; row++) {
          images.add(`${classOfRow(set.inputs, row)}/${serialOfRow(set.inputs, row)}`);
        }
      }
      expect(images.size).toBe(100);
    }
  });

  it('refuse episodes needing more images of a class than the split has', () => {
    const tooMany = fashionMnistEpisodes(train, {
      seed: 1,
      count: 1,
      shots: 10,
      queriesPerClass: 11,
    });
    expect(() => [...tooMany]).toThrow(/needs 21 images of class \d; the train split has 20/);
  });
});

describe('Fashion-MNIST continual episodes (W3)', () => {
  const options = { seed: 4, episodesPerTask: 3, revisitEpisodesPerTask: 2, clock };

  it('learn each two-class task in turn, then revisit every task', () => {
    const episodes = [...fashionMnistContinualEpisodes(train, options)];
    expect(episodes).toHaveLength(5 * 3 + 5 * 2);
    const sequence = episodes.map(
      (episode) => `${episode.metadata?.phase}:${episode.metadata?.sequenceIndex}`,
    );
    expect(sequence.slice(0, 6)).toEqual([
      'learn:0',
      'learn:0',
      'learn:0',
      'learn:1',
      'learn:1',
      'learn:1',
    ]);
    expect(sequence.slice(15, 19)).toEqual(['revisit:0', 'revisit:0', 'revisit:1', 'revisit:1']);
    expect(episodes.map((episode) => episode.metadata?.episodeIndex)).toEqual(
      episodes.map((_, i) => String(i)),
    );
  });

  it('give every episode of a task its task id and its classes, always with the same labels', () => {
    for (const episode of fashionMnistContinualEpisodes(train, options)) {
      const index = Number(episode.metadata?.sequenceIndex);
      expect(episode.taskId).toBe(`fashion-mnist-continual-${index}`);
      expect(episode.family).toBe('fashion-mnist-2way');
      expect(episode.metadata?.classes).toBe(`${2 * index},${2 * index + 1}`);
      expectLabelsMatchClasses(episode, [2 * index, 2 * index + 1]);
      validateEpisode(episode);
    }
  });

  it('follow a custom task sequence and are reproducible', () => {
    const custom = {
      ...options,
      tasks: [
        [9, 3, 5],
        [0, 1, 2],
      ],
      revisitEpisodesPerTask: 0,
    };
    const episodes = [...fashionMnistContinualEpisodes(train, custom)];
    expect(episodes.map((episode) => episode.metadata?.classes)).toEqual([
      ...new Array(3).fill('9,3,5'),
      ...new Array(3).fill('0,1,2'),
    ]);
    expect(episodes[0]?.family).toBe('fashion-mnist-3way');
    expect([...fashionMnistContinualEpisodes(train, custom)]).toEqual(episodes);
  });

  it('refuse tasks of unequal or invalid classes', () => {
    expect(() => [
      ...fashionMnistContinualEpisodes(train, { seed: 1, tasks: [[0, 1], [2]] }),
    ]).toThrow(/task 1 has classes \[2\]; every task needs 2 distinct classes/);
    expect(() => [...fashionMnistContinualEpisodes(train, { seed: 1, tasks: [[0, 10]] })]).toThrow(
      RangeError,
    );
  });
});
