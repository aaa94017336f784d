/**
 * The episode: one task as it arrives on the stream. Its support set shows what the
 * task looks like; its query set judges the mapping adapted from the support set.
 *
 * Rows are stored row-major in typed arrays rather than as arrays of rows so that a
 * whole set can be handed to ONNX Runtime as one tensor without copying.
 */

/** Real-valued targets: `outputDim` values per row. */
export interface RegressionTargets {
  readonly kind: 'regression';
  readonly values: Float32Array;
  readonly outputDim: number;
}

/** Class labels in `[0, classCount)`: one per row. */
export interface ClassificationTargets {
  readonly kind: 'classification';
  readonly labels: Int32Array;
  readonly classCount: number;
}

export type Targets = RegressionTargets | ClassificationTargets;

/** A support set or a query set: `inputs` holds `inputDim` values per row. */
export interface LabelledSet {
  readonly inputs: Float32Array;
  readonly inputDim: number;
  readonly targets: Targets;
}

export interface Episode {
  /** Names the task; models of one task share it (it is the key of the models topic). */
  readonly taskId: string;
  /** The task family (see families.ts): fixes the shape of inputs and targets. */
  readonly family: string;
  readonly support: LabelledSet;
  readonly query: LabelledSet;
  /** When the producer made the episode, in milliseconds since the Unix epoch. */
  readonly producedAt: number;
  /** Free-form facts about the task (a sinusoid's true amplitude and phase, say). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The number of rows in a set, judged by its inputs (validation checks targets agree). */
export function rowCount(set: LabelledSet): number {
  return set.inputDim > 0 ? Math.floor(set.inputs.length / set.inputDim) : 0;
}

/** Row `row` of the inputs, as a view that shares the set's memory. */
export function inputRow(set: LabelledSet, row: number): Float32Array {
  checkRow(set, row);
  return set.inputs.subarray(row * set.inputDim, (row + 1) * set.inputDim);
}

/** Row `row` of regression targets, as a view that shares the set's memory. */
export function targetRow(targets: RegressionTargets, row: number): Float32Array {
  return targets.values.subarray(row * targets.outputDim, (row + 1) * targets.outputDim);
}

/** The class label of row `row`. */
export function labelAt(targets: ClassificationTargets, row: number): number {
  const label = targets.labels[row];
  if (label === undefined) {
    throw new RangeError(`row ${row} is outside the ${targets.labels.length} labels`);
  }
  return label;
}

/** How many bytes the episode's numbers take in memory: what the `oversized` limit judges. */
export function episodeByteSize(episode: Episode): number {
  return setByteSize(episode.support) + setByteSize(episode.query);
}

function setByteSize(set: LabelledSet): number {
  const targets = set.targets;
  const targetBytes =
    targets.kind === 'regression' ? targets.values.byteLength : targets.labels.byteLength;
  return set.inputs.byteLength + targetBytes;
}

function checkRow(set: LabelledSet, row: number): void {
  const rows = rowCount(set);
  if (!Number.isInteger(row) || row < 0 || row >= rows) {
    throw new RangeError(`row ${row} is outside the set's ${rows} rows`);
  }
}
