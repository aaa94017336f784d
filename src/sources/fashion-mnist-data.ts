import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_PIXELS } from '../episode/families.js';
import { DatasetError } from './errors.js';
import { readIdxImages, readIdxLabels } from './idx.js';

/**
 * Fashion-MNIST (Zalando Research): 28 x 28 grey images of clothing in ten classes,
 * 60,000 for training and 10,000 for testing, read from the dataset's gzipped IDX files.
 */

export type FashionMnistSplitName = 'train' | 'test';

/** Where the Debian package `dataset-fashion-mnist` puts the files. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
} as const;

export interface FashionMnistSplit {
  readonly split: FashionMnistSplitName;
  readonly dir: string;
  readonly count: number;
  /**
   * Pixel intensities 0 to 255, image after image. Kept as bytes (a quarter of the
   * memory of floats); `copyImage` scales them to [0, 1] as episodes are built.
   */
  readonly pixels: Uint8Array;
  /** Class 0 to 9 of each image. */
  readonly labels: Uint8Array;
  /** The image indices of each class, so episodes can sample a class directly. */
  readonly indicesByClass: readonly Int32Array[];
}

export interface FashionMnistLocationOptions {
  /** Folder holding the files (`--data-dir`); wins over the environment. */
  readonly dataDir?: string | undefined;
  /** Read for `ALLMAP_DATA`; the process environment unless given. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The folder to read: the explicit option, else `ALLMAP_DATA`, else the Debian path. */
export function resolveFashionMnistDir(options: FashionMnistLocationOptions = {}): {
  dir: string;
  origin: string;
} {
  const fromEnv = (options.env ?? process.env).ALLMAP_DATA;
  if (options.dataDir) return { dir: resolve(options.dataDir), origin: 'the data-dir option' };
  if (fromEnv) return { dir: resolve(fromEnv), origin: 'ALLMAP_DATA' };
  return { dir: DEFAULT_FASHION_MNIST_DIR, origin: 'the default folder' };
}

const cache = new Map<string, Promise<FashionMnistSplit>>();

/**
 * Loads one split, once per process: later calls for the same folder and split share
 * the first load. A failed load is forgotten so that a later call can try again.
 */
export function loadFashionMnist(
  split: FashionMnistSplitName,
  options: FashionMnistLocationOptions = {},
): Promise<FashionMnistSplit> {
  const { dir, origin } = resolveFashionMnistDir(options);
  const key = `${dir}\0${split}`;
  let loading = cache.get(key);
  if (!loading) {
    loading = readSplit(split, dir, origin);
    loading.catch(() => cache.delete(key));
    cache.set(key, loading);
  }
  return loading;
}

/** Writes image `index`, scaled to [0, 1], into `target` from `offset` on. */
export function copyImage(
  data: FashionMnistSplit,
  index: number,
  target: Float32Array,
  offset: number,
): void {
  const start = index * FASHION_MNIST_PIXELS;
  for (let i = 0; i < FASHION_MNIST_PIXELS; i++) {
    target[offset + i] = (data.pixels[start + i] ?? 0) / 255;
  }
}

async function readSplit(
  split: FashionMnistSplitName,
  dir: string,
  origin: string,
): Promise<FashionMnistSplit> {
  const files = FASHION_MNIST_FILES[split];
  const imagesPath = join(dir, files.images);
  const labelsPath = join(dir, files.labels);
  for (const path of [imagesPath, labelsPath]) {
    if (!existsSync(path)) throw missingFile(path, origin);
  }

  const [images, labels] = await Promise.all([
    readIdxImages(imagesPath),
    readIdxLabels(labelsPath),
  ]);
  if (images.rows * images.cols !== FASHION_MNIST_PIXELS) {
    const detail = `images are ${images.rows} x ${images.cols}; Fashion-MNIST images are 28 x 28`;
    throw new DatasetError('wrong-size', imagesPath, detail);
  }
  if (labels.length !== images.count) {
    const detail = `${labels.length} labels for ${images.count} images in ${imagesPath}`;
    throw new DatasetError('mismatch', labelsPath, detail);
  }

  const indicesByClass = groupByClass(labels, labelsPath);
  return { split, dir, count: images.count, pixels: images.pixels, labels, indicesByClass };
}

function groupByClass(labels: Uint8Array, path: string): Int32Array[] {
  const counts = new Array<number>(FASHION_MNIST_CLASSES).fill(0);
  labels.forEach((label, i) => {
    if (label >= FASHION_MNIST_CLASSES) {
      const detail = `label of image ${i} is ${label}; classes are 0 to ${FASHION_MNIST_CLASSES - 1}`;
      throw new DatasetError('mismatch', path, detail);
    }
    counts[label] = (counts[label] ?? 0) + 1;
  });

  const groups = counts.map((count) => new Int32Array(count));
  const filled = new Array<number>(FASHION_MNIST_CLASSES).fill(0);
  labels.forEach((label, i) => {
    const slot = filled[label] ?? 0;
    (groups[label] as Int32Array)[slot] = i;
    filled[label] = slot + 1;
  });
  return groups;
}

function missingFile(path: string, origin: string): DatasetError {
  return new DatasetError(
    'missing',
    path,
    `Fashion-MNIST file not found (folder from ${origin}). ` +
      'Install the Debian package (apt-get install dataset-fashion-mnist), or download ' +
      'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and ' +
      't10k-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist ' +
      '(folder data/fashion) into a folder and set ALLMAP_DATA to it, or pass --data-dir.',
  );
}
