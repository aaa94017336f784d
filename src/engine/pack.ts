/**
 * Packs per-task arrays into the batched tensors of the graphs and unpacks the results. Tasks
 * with fewer rows than the largest of the batch are padded with zero rows that the mask marks
 * as not theirs, so every task gets the result it would get alone.
 */
import type { ParameterLayout } from './layout.js';
import { isClassifier, type MappingSpec } from './spec.js';
import type { LabelledSet, RowSet } from './types.js';

/** The largest row count of a batch: its `N`. */
export function maxRows(sets: readonly RowSet[]): number {
  return sets.reduce((most, set) => Math.max(most, set.rows), 0);
}

/** `[B, N, width]` from per-task `rows x width` arrays, zero-padded. */
export function packRows(
  arrays: readonly Float32Array[],
  sets: readonly RowSet[],
  N: number,
  width: number,
): Float32Array {
  const packed = new Float32Array(sets.length * N * width);
  for (const [b, set] of sets.entries()) {
    packed.set(arrays[b]!.subarray(0, set.rows * width), b * N * width);
  }
  return packed;
}

/** `[B, N]`: 1 where a row belongs to its task, 0 for padding. */
export function packMask(sets: readonly RowSet[], N: number): Float32Array {
  const mask = new Float32Array(sets.length * N);
  for (const [b, set] of sets.entries()) mask.fill(1, b * N, b * N + set.rows);
  return mask;
}

/** `[B, N, outputDim]`: targets as they are, or one-hot rows of a classifier's labels. */
export function packTargets(spec: MappingSpec, sets: readonly LabelledSet[], N: number) {
  if (!isClassifier(spec)) {
    const targets = sets.map((set) => set.targets as Float32Array);
    return packRows(targets, sets, N, spec.outputDim);
  }

  const C = spec.outputDim;
  const oneHot = new Float32Array(sets.length * N * C);
  for (const [b, set] of sets.entries()) {
    for (const [row, label] of (set.targets as Int32Array).entries()) {
      oneHot[(b * N + row) * C + label] = 1;
    }
  }
  return oneHot;
}

/** `[B, P]` from `B` vectors of length `P`. */
export function stack(vectors: readonly Float32Array[], P: number): Float32Array {
  const stacked = new Float32Array(vectors.length * P);
  for (const [b, vector] of vectors.entries()) stacked.set(vector, b * P);
  return stacked;
}

/** Row `b` of a `[B, width]` result, as a fresh array. */
export function row(data: Float32Array, b: number, width: number): Float32Array {
  return data.slice(b * width, (b + 1) * width);
}

/**
 * One block per parameter tensor, holding that tensor of every task in turn (`[B, ...shape]`),
 * copied straight out of each task's theta.
 */
export function packTensors(layout: ParameterLayout, thetas: readonly Float32Array[]) {
  return layout.tensors.map((tensor) => {
    const block = new Float32Array(thetas.length * tensor.size);
    for (const [b, theta] of thetas.entries()) {
      block.set(theta.subarray(tensor.offset, tensor.offset + tensor.size), b * tensor.size);
    }
    return block;
  });
}

/** The inverse of `packTensors`: each task's theta from the per-tensor blocks. */
export function unpackTensors(
  layout: ParameterLayout,
  blocks: readonly Float32Array[],
  tasks: number,
): Float32Array[] {
  return Array.from({ length: tasks }, (_, b) => {
    const theta = new Float32Array(layout.size);
    for (const [t, tensor] of layout.tensors.entries()) {
      theta.set(blocks[t]!.subarray(b * tensor.size, (b + 1) * tensor.size), tensor.offset);
    }
    return theta;
  });
}
