import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../../../src/sources/errors.js';
import {
  copyImage,
  DEFAULT_FASHION_MNIST_DIR,
  loadFashionMnist,
  resolveFashionMnistDir,
} from '../../../src/sources/fashion-mnist-data.js';
import { readIdxImages, readIdxLabels } from '../../../src/sources/idx.js';
import { idxFile, writeFashionMnistFixture } from '../../support/fashion-mnist-fixture.js';

let dir: string;

beforeAll(async () => {
  dir = await writeFashionMnistFixture({ perClass: 4 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function datasetError(promise: Promise<unknown>): Promise<DatasetError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (error instanceof DatasetError) return error;
  throw new Error(`expected a DatasetError, received ${String(error)}`);
}

describe('the Fashion-MNIST loader', () => {
  it('reads both splits, with their labels grouped by class', async () => {
    for (const split of ['train', 'test'] as const) {
      const data = await loadFashionMnist(split, { dataDir: dir });
      expect(data.count).toBe(40);
      expect(data.pixels).toHaveLength(40 * 784);
      expect(data.indicesByClass.map((indices) => indices.length)).toEqual(new Array(10).fill(4));
      expect([...(data.indicesByClass[3] ?? [])]).toEqual([3, 13, 23, 33]);
    }
  });

  it('scales pixels to [0, 1] as images are copied out', async () => {
    const data = await loadFashionMnist('train', { dataDir: dir });
    const image = new Float32Array(784 + 2);
    copyImage(data, 17, image, 2);
    expect(image[2]).toBeCloseTo(7 / 255, 6);
    expect(image[4]).toBe(1);
    expect(Math.min(...image)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...image)).toBeLessThanOrEqual(1);
  });

  it('loads a split once per process and folder', async () => {
    const first = loadFashionMnist('test', { dataDir: dir });
    const second = loadFashionMnist('test', { dataDir: `${dir}/` });
    expect(second).toBe(first);
    expect(await second).toBe(await first);
  });

  it('takes the folder from the option, else ALLMAP_DATA, else the Debian path', () => {
    const env = { ALLMAP_DATA: '/data/fm' };
    expect(resolveFashionMnistDir({ dataDir: '/x', env }).dir).toBe('/x');
    expect(resolveFashionMnistDir({ env })).toEqual({ dir: '/data/fm', origin: 'ALLMAP_DATA' });
    expect(resolveFashionMnistDir({ env: {} }).dir).toBe(DEFAULT_FASHION_MNIST_DIR);
  });

  it('says how to get the files when the folder lacks them', async () => {
    const error = await datasetError(loadFashionMnist('train', { dataDir: join(dir, 'absent') }));
    expect(error.reason).toBe('missing');
    expect(error.message).toMatch(
      /train-images-idx3-ubyte\.gz: Fashion-MNIST file not found \(folder from the data-dir option\)/,
    );
    expect(error.message).toMatch(/apt-get install dataset-fashion-mnist/);
    expect(error.message).toMatch(/zalandoresearch\/fashion-mnist/);
    expect(error.message).toMatch(/ALLMAP_DATA/);
  });
});

describe('the IDX reader', () => {
  const file = (name: string) => join(dir, name);

  it('refuses an images file with the labels magic number, naming both', async () => {
    const path = file('magic.gz');
    await writeFile(path, idxFile(2049, [1, 28, 28], new Uint8Array(784)));
    const error = await datasetError(readIdxImages(path));
    expect(error.reason).toBe('bad-magic');
    expect(error.message).toMatch(/magic number 2049; expected 2051/);
  });

  it('refuses a file holding fewer bytes than its header announces', async () => {
    const path = file('short.gz');
    await writeFile(path, idxFile(2049, [10], new Uint8Array(7)));
    const error = await datasetError(readIdxLabels(path));
    expect(error.reason).toBe('wrong-size');
    expect(error.message).toMatch(/header announces 10 labels \(10 bytes\); the file holds 7/);
  });

  it('refuses a truncated gzip file', async () => {
    const path = file('cut.gz');
    const whole = idxFile(2051, [2, 28, 28], new Uint8Array(2 * 784).fill(9));
    await writeFile(path, whole.subarray(0, whole.length - 10));
    const error = await datasetError(readIdxImages(path));
    expect(error.reason).toBe('unreadable');
    expect(error.message).toMatch(/not a complete gzip file/);
  });

  it('refuses a file too short to hold a header', async () => {
    const path = file('header.gz');
    await writeFile(path, gzipSync(Buffer.from([0, 0, 8])));
    const error = await datasetError(readIdxImages(path));
    expect(error.reason).toBe('wrong-size');
  });

  it('refuses a folder whose labels do not match its images', async () => {
    const broken = await writeFashionMnistFixture({ perClass: 2 });
    await writeFile(
      join(broken, 'train-labels-idx1-ubyte.gz'),
      idxFile(2049, [19], new Uint8Array(19)),
    );
    const error = await datasetError(loadFashionMnist('train', { dataDir: broken }));
    expect(error.reason).toBe('mismatch');
    expect(error.message).toMatch(/19 labels for 20 images/);
    await rm(broken, { recursive: true, force: true });
  });
});
