import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * Small Fashion-MNIST look-alikes for tests: real IDX files, gzipped, with few images.
 * Pixel 0 of every image holds its class and pixel 1 its index within the class, so a
 * test can tell from an episode's inputs which image was drawn.
 */

const PIXELS = 28 * 28;

export interface FixtureOptions {
  /** Images per class in each split; 8 unless given. */
  readonly perClass?: number;
}

/** Writes the four files of a tiny dataset into a new temporary folder; returns it. */
export async function writeFashionMnistFixture(options: FixtureOptions = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'allmap-fashion-'));
  const perClass = options.perClass ?? 8;
  await writeSplit(dir, 'train', perClass);
  await writeSplit(dir, 't10k', perClass);
  return dir;
}

async function writeSplit(dir: string, prefix: string, perClass: number): Promise<void> {
  const count = perClass * 10;
  const pixels = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  for (let image = 0; image < count; image++) {
    // Interleave the classes, as the real files do.
    const cls = image % 10;
    labels[image] = cls;
    fillImage(pixels.subarray(image * PIXELS, (image + 1) * PIXELS), cls, Math.floor(image / 10));
  }
  await writeFile(
    join(dir, `${prefix}-images-idx3-ubyte.gz`),
    idxFile(2051, [count, 28, 28], pixels),
  );
  await writeFile(join(dir, `${prefix}-labels-idx1-ubyte.gz`), idxFile(2049, [count], labels));
}

function fillImage(image: Uint8Array, cls: number, serial: number): void {
  for (let i = 0; i < image.length; i++) image[i] = (i * 7 + cls) % 256;
  image[0] = cls;
  image[1] = serial;
  // The brightest pixel, so scaling to [0, 1] can be checked at both ends.
  image[2] = 255;
}

/** The gzipped bytes of an IDX file: a big-endian magic number and sizes, then `data`. */
export function idxFile(magic: number, sizes: readonly number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * sizes.length);
  header.writeUInt32BE(magic, 0);
  for (const [i, size] of sizes.entries()) header.writeUInt32BE(size, 4 + 4 * i);
  return gzipSync(Buffer.concat([header, data]));
}

/** The class an input row of a fixture episode was drawn from (pixel 0, scaled back). */
export function classOfRow(inputs: Float32Array, row: number): number {
  return Math.round((inputs[row * PIXELS] ?? -1) * 255);
}

/** The index within its class of the image a row was drawn from (pixel 1). */
export function serialOfRow(inputs: Float32Array, row: number): number {
  return Math.round((inputs[row * PIXELS + 1] ?? -1) * 255);
}
