import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DatasetError } from './errors.js';

/**
 * Reader for the IDX format of MNIST and Fashion-MNIST: a big-endian header (magic
 * number, then one 32-bit size per dimension) followed by unsigned bytes, gzipped.
 * http://yann.lecun.com/exdb/mnist/ describes it.
 */

/** Magic number of an IDX file of unsigned bytes with three dimensions (images). */
export const IDX_IMAGES_MAGIC = 2051;
/** Magic number of an IDX file of unsigned bytes with one dimension (labels). */
export const IDX_LABELS_MAGIC = 2049;

export interface IdxImages {
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  /** `count * rows * cols` pixel intensities, 0 to 255, image after image. */
  readonly pixels: Uint8Array;
}

const gunzipAsync = promisify(gunzip);

export async function readIdxImages(path: string): Promise<IdxImages> {
  const bytes = await readGzip(path);
  checkMagic(path, bytes, IDX_IMAGES_MAGIC, 16);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(4);
  const rows = view.getUint32(8);
  const cols = view.getUint32(12);
  checkLength(path, bytes, 16, count * rows * cols, `${count} images of ${rows} x ${cols}`);
  return { count, rows, cols, pixels: bytes.subarray(16) };
}

export async function readIdxLabels(path: string): Promise<Uint8Array> {
  const bytes = await readGzip(path);
  checkMagic(path, bytes, IDX_LABELS_MAGIC, 8);

  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4);
  checkLength(path, bytes, 8, count, `${count} labels`);
  return bytes.subarray(8);
}

async function readGzip(path: string): Promise<Uint8Array> {
  let compressed: Buffer;
  try {
    compressed = await readFile(path);
  } catch (cause) {
    throw new DatasetError('missing', path, 'cannot read the file', { cause });
  }
  try {
    return await gunzipAsync(compressed);
  } catch (cause) {
    const detail = `not a complete gzip file (${(cause as Error).message})`;
    throw new DatasetError('unreadable', path, detail, { cause });
  }
}

function checkMagic(path: string, bytes: Uint8Array, magic: number, headerSize: number): void {
  if (bytes.length < headerSize) {
    const detail = `holds ${bytes.length} bytes; an IDX header needs ${headerSize}`;
    throw new DatasetError('wrong-size', path, detail);
  }
  const received = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  if (received !== magic) {
    throw new DatasetError('bad-magic', path, `magic number ${received}; expected ${magic}`);
  }
}

function checkLength(
  path: string,
  bytes: Uint8Array,
  headerSize: number,
  expected: number,
  what: string,
): void {
  const received = bytes.length - headerSize;
  if (received !== expected) {
    const detail = `header announces ${what} (${expected} bytes); the file holds ${received}`;
    throw new DatasetError('wrong-size', path, detail);
  }
}
