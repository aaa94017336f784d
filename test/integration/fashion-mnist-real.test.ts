import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeEpisode, encodeEpisode } from '../../src/codec/codec.js';
import type { ClassificationTargets } from '../../src/episode/episode.js';
import { validateEpisode } from '../../src/episode/validate.js';
import { fashionMnistEpisodes } from '../../src/sources/fashion-mnist.js';
import { fashionMnistContinualEpisodes } from '../../src/sources/fashion-mnist-continual.js';
import {
  FASHION_MNIST_FILES,
  loadFashionMnist,
  resolveFashionMnistDir,
} from '../../src/sources/fashion-mnist-data.js';

/**
 * Reads the real Fashion-MNIST files (Debian package dataset-fashion-mnist, or the folder
 * ALLMAP_DATA names). Needs no Kafka. Where the files are absent it is skipped, except
 * under CI, where .ci/run installs them and a missing file must fail the run.
 */
const { dir } = resolveFashionMnistDir();
const hasFiles = Object.values(FASHION_MNIST_FILES).every((files) =>
  Object.values(files).every((name) => existsSync(join(dir, name))),
);
const shouldRun = hasFiles || Boolean(process.env.CI);

describe.skipIf(!shouldRun)(`real Fashion-MNIST files in ${dir}`, () => {
  it('hold 60,000 training and 10,000 test images, evenly over ten classes', async () => {
    const train = await loadFashionMnist('train');
    const test = await loadFashionMnist('test');
    expect(train.count).toBe(60_000);
    expect(test.count).toBe(10_000);
    expect(train.indicesByClass.map((indices) => indices.length)).toEqual(new Array(10).fill(6000));
    expect(test.indicesByClass.map((indices) => indices.length)).toEqual(new Array(10).fill(1000));
    expect(Math.max(...train.pixels.subarray(0, 784 * 100))).toBe(255);
  });

  it('give valid 5-way episodes whose pixels lie in [0, 1] and survive the Avro codec', async () => {
    const test = await loadFashionMnist('test');
    const at = { topic: 'allmap.episodes', partition: 0, offset: '0' };
    for (const episode of fashionMnistEpisodes(test, { seed: 1, count: 20, shots: 5 })) {
      expect(validateEpisode(episode).name).toBe('fashion-mnist-5way');
      expect(Math.min(...episode.query.inputs)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...episode.query.inputs)).toBeLessThanOrEqual(1);
      const message = encodeEpisode(episode);
      // Re-encoding compares every value bit for bit, far faster than a deep equality.
      const decoded = decodeEpisode(message.value, message.headers, at);
      expect(encodeEpisode(decoded).value.equals(message.value)).toBe(true);
    }
  });

  it('give the continual sequence its class pairs from the training split', async () => {
    const train = await loadFashionMnist('train');
    const options = { seed: 2, episodesPerTask: 2, revisitEpisodesPerTask: 1 };
    const episodes = [...fashionMnistContinualEpisodes(train, options)];
    expect(episodes).toHaveLength(15);
    for (const episode of episodes) {
      validateEpisode(episode);
      const labels = (episode.support.targets as ClassificationTargets).labels;
      expect([...labels].sort()).toEqual([0, 1]);
    }
  });
});
