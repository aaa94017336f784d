/**
 * Packs per-task arrays into the batched tensors of the graphs and unpacks the results. Tasks
 * with fewer rows than the largest of the batch are padded with zero rows that the mask marks
 * as not theirs, so every task gets the result it would get alone.
 *
 * Every pack function writes into a buffer it is given and sets every value of it (data, zero
 * padding), so the buffer may come from a `BufferPool` and still hold an earlier batch. Values
 * are copied with typed-array `set` calls of contiguous blocks (a loop only writes the 1s of
 * one-hot targets).
 */
import type { ParameterLayout } from './layout.js';
import { isClassifier, type MappingSpec } from './spec.js';
import type { LabelledSet, RowSet } from './types.js';

/**
 * Float32 buffers kept from one run to the next, one per feed name. A batch of W2 tasks packs
 * about 0.5 MB per task; writing it into memory the process already touched is several times
 * faster than into a fresh allocation, whose pages the kernel maps and zeroes on first write.
 *
 * `take` hands a buffer out (a fresh one when none is idle or the idle one is too small) and
 * `give` takes it back once the run has finished with it, so calls that overlap never share a
 * buffer. The pool holds at most one buffer per name, the largest given back, until `clear`.
 */
export class BufferPool {
  private readonly idle = new Map<string, Float32Array>();

  /** A buffer of exactly `length` values, with arbitrary contents. */
  take(name: string, length: number): Float32Array {
    const buffer = this.idle.get(name);
    if (!buffer || buffer.length < length) return new Float32Array(length);
    this.idle.delete(name);
    return buffer.subarray(0, length);
  }

  /** Returns a buffer from `take`; the caller must not use it afterwards. */
  give(name: string, buffer: Float32Array): void {
    const whole = new Float32Array(buffer.buffer, 0, buffer.buffer.byteLength / 4);
    const kept = this.idle.get(name);
    if (!kept || kept.length < whole.length) this.idle.set(name, whole);
  }

  clear(): void {
    this.idle.clear();
  }
}

/** The largest row count of a batch: its `N`. */
export function maxRows(sets: readonly RowSet[]): number {
  return sets.reduce((most, set) => Math.max(most, set.rows), 0);
}

/** `[B, N, width]` from per-task `rows x width` arrays, zero-padded, written into `packed`. */
export function packRows(
  packed: Float32Array,
  arrays: readonly Float32Array[],
  sets: readonly RowSet[],
  N: number,
  width: number,
): Float32Array {
  for (const [b, set] of sets.entries()) {
    const start = b * N * width;
    const end = start + set.rows * width;
    packed.set(arrays[b]!.subarray(0, set.rows * width), start);
    packed.fill(0, end, start + N * width);
  }
  return packed;
}

/** `[B, N]`: 1 where a row belongs to its task, 0 for padding, written into `mask`. */
export function packMask(mask: Float32Array, sets: readonly RowSet[], N: number): Float32Array {
  for (const [b, set] of sets.entries()) {
    mask.fill(1, b * N, b * N + set.rows);
    mask.fill(0, b * N + set.rows, (b + 1) * N);
  }
  return mask;
}

/** `[B, N, outputDim]`: targets as they are, or one-hot rows of a classifier's labels. */
export function packTargets(
  packed: Float32Array,
  spec: MappingSpec,
  sets: readonly LabelledSet[],
  N: number,
): Float32Array {
  if (!isClassifier(spec)) {
    const targets = sets.map((set) => set.targets as Float32Array);
    return packRows(packed, targets, sets, N, spec.outputDim);
  }

  const C = spec.outputDim;
  packed.fill(0);
  for (const [b, set] of sets.entries()) {
    const labels = set.targets as Int32Array;
    for (let row = 0; row < labels.length; row++) packed[(b * N + row) * C + labels[row]!] = 1;
  }
  return packed;
}

/** `[B, P]` from `B` vectors of length `P`, written into `stacked`. */
export function stack(
  stacked: Float32Array,
  vectors: readonly Float32Array[],
  P: number,
): Float32Array {
  for (const [b, vector] of vectors.entries()) stacked.set(vector, b * P);
  return stacked;
}

/** Row `b` of a `[B, width]` result, as a fresh array. */
export function row(data: Float32Array, b: number, width: number): Float32Array {
  return data.slice(b * width, (b + 1) * width);
}

/**
 * Writes tensor `t` of every task into `blocks[t]` (`[B, ...shape]`), copied straight out of
 * each task's theta.
 */
export function packTensors(
  blocks: readonly Float32Array[],
  layout: ParameterLayout,
  thetas: readonly Float32Array[],
): readonly Float32Array[] {
  for (const [t, tensor] of layout.tensors.entries()) {
    const block = blocks[t]!;
    for (const [b, theta] of thetas.entries()) {
      block.set(theta.subarray(tensor.offset, tensor.offset + tensor.size), b * tensor.size);
    }
  }
  return blocks;
}

/** The inverse of `packTensors` for task `b`: its theta from the per-tensor blocks, fresh. */
export function unpackTask(
  layout: ParameterLayout,
  blocks: readonly Float32Array[],
  b: number,
): Float32Array {
  const theta = new Float32Array(layout.size);
  for (const [t, tensor] of layout.tensors.entries()) {
    theta.set(blocks[t]!.subarray(b * tensor.size, (b + 1) * tensor.size), tensor.offset);
  }
  return theta;
}
