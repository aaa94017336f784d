/**
 * Conversions between the episode's labelled sets (targets tagged as regression values or
 * class labels) and the engine's (targets as a bare typed array), plus the row glue the
 * encoders need: concatenating the rows of many tasks and taking seeded row subsets.
 */
import type { LabelledSet as EngineSet, RowSet } from '../engine/index.js';
import { type LabelledSet, rowCount } from '../episode/episode.js';
import type { Random } from '../util/random.js';

export type { LabelledSet as EngineSet, RowSet } from '../engine/index.js';

/** The engine's view of an episode's set; shares the set's memory (nothing is copied). */
export function toEngineSet(set: LabelledSet): EngineSet {
  const targets = set.targets.kind === 'regression' ? set.targets.values : set.targets.labels;
  return { inputs: set.inputs, rows: rowCount(set), targets };
}

/** All rows of many sets as one set, task after task. */
export function concatRows(sets: readonly RowSet[], inputDim: number): RowSet {
  const rows = sets.reduce((total, set) => total + set.rows, 0);
  const inputs = new Float32Array(rows * inputDim);
  let offset = 0;
  for (const set of sets) {
    inputs.set(set.inputs.subarray(0, set.rows * inputDim), offset);
    offset += set.rows * inputDim;
  }
  return { inputs, rows };
}

/**
 * At most `limit` rows of a labelled set, drawn without replacement; the set itself when
 * it is no larger. Meta-training judges a generated mapping on such a subset of the query
 * set: the gradient stays unbiased and a step costs a fraction of the full set.
 */
export function sampleRows(
  set: EngineSet,
  inputDim: number,
  limit: number,
  random: Random,
): EngineSet {
  if (set.rows <= limit) return set;

  const chosen = random.shuffle(Array.from({ length: set.rows }, (_, row) => row)).slice(0, limit);
  const inputs = new Float32Array(limit * inputDim);
  const width = set.targets.length / set.rows;
  const targets =
    set.targets instanceof Int32Array ? new Int32Array(limit) : new Float32Array(limit * width);

  for (const [i, row] of chosen.entries()) {
    inputs.set(set.inputs.subarray(row * inputDim, (row + 1) * inputDim), i * inputDim);
    targets.set(set.targets.subarray(row * width, (row + 1) * width), i * width);
  }
  return { inputs, rows: limit, targets };
}

/** The row-wise concatenation `[inputs | targets]` of a regression set (the encoder's pairs). */
export function pairRows(set: EngineSet, inputDim: number): Float32Array {
  const outputDim = set.targets.length / set.rows;
  const width = inputDim + outputDim;
  const pairs = new Float32Array(set.rows * width);
  for (let row = 0; row < set.rows; row++) {
    pairs.set(set.inputs.subarray(row * inputDim, (row + 1) * inputDim), row * width);
    pairs.set(set.targets.subarray(row * outputDim, (row + 1) * outputDim), row * width + inputDim);
  }
  return pairs;
}

/** `vectors` stacked row after row into one array. */
export function stackRows(vectors: readonly Float32Array[]): Float32Array {
  const width = vectors[0]?.length ?? 0;
  const stacked = new Float32Array(vectors.length * width);
  for (const [i, vector] of vectors.entries()) stacked.set(vector, i * width);
  return stacked;
}

/** A `rows x width` array split into `rows` fresh arrays. */
export function splitRows(data: Float32Array, width: number): Float32Array[] {
  const rows = data.length / width;
  return Array.from({ length: rows }, (_, i) => data.slice(i * width, (i + 1) * width));
}
