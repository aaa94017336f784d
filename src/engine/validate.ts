/**
 * Argument checks run before any ONNX Runtime call, so that bad input fails with an
 * `EngineInputError` naming the argument instead of a runtime error deep in a graph (or,
 * worse, NaN results). Each check names the argument as the caller wrote it.
 */
import { EngineInputError } from './errors.js';
import { parameterCount } from './layout.js';
import { isClassifier, type MappingSpec } from './spec.js';
import type { AdaptRequest, LabelledSet, LearningRate, Optimizer, RowSet } from './types.js';

/** The most steps one adaptation may take (an unrolled graph grows with K). */
export const MAX_STEPS = 1000;

export function checkSpec(spec: MappingSpec): void {
  const widths = [spec.inputDim, ...spec.hidden, spec.outputDim];
  for (const [i, width] of widths.entries()) {
    if (!Number.isInteger(width) || width < 1) {
      throw new EngineInputError('spec', `layer width ${width} at position ${i}`, 'integers >= 1');
    }
  }
  if (spec.activation !== 'relu' && spec.activation !== 'tanh') {
    throw new EngineInputError('spec.activation', String(spec.activation), "'relu' or 'tanh'");
  }
  if (spec.loss !== 'mse' && spec.loss !== 'softmax-cross-entropy') {
    throw new EngineInputError('spec.loss', String(spec.loss), "'mse' or 'softmax-cross-entropy'");
  }
  if (isClassifier(spec) && spec.outputDim < 2) {
    throw new EngineInputError('spec.outputDim', String(spec.outputDim), '>= 2 classes');
  }
}

/** A non-empty batch whose parallel lists all have the same length. */
export function checkBatch(lists: Readonly<Record<string, readonly unknown[]>>): number {
  const entries = Object.entries(lists);
  const [firstName, first] = entries[0]!;
  if (first.length === 0) throw new EngineInputError(firstName, 'an empty list', '>= 1 task');
  for (const [name, list] of entries) {
    if (list.length !== first.length) {
      throw new EngineInputError(name, `${list.length} tasks`, `${first.length}, as ${firstName}`);
    }
  }
  return first.length;
}

export function checkTheta(argument: string, theta: Float32Array, spec: MappingSpec): void {
  checkFloats(argument, theta, parameterCount(spec));
}

export function checkRowSet(argument: string, set: RowSet, spec: MappingSpec): void {
  if (!Number.isInteger(set.rows) || set.rows < 1) {
    throw new EngineInputError(
      `${argument}.rows`,
      String(set.rows),
      'an integer >= 1 (no empty set)',
    );
  }
  checkFloats(`${argument}.inputs`, set.inputs, set.rows * spec.inputDim);
}

export function checkLabelledSet(argument: string, set: LabelledSet, spec: MappingSpec): void {
  checkRowSet(argument, set, spec);
  const targets = set.targets;
  if (!isClassifier(spec)) {
    if (!(targets instanceof Float32Array)) {
      throw new EngineInputError(
        `${argument}.targets`,
        kindOf(targets),
        'a Float32Array (regression)',
      );
    }
    checkFloats(`${argument}.targets`, targets, set.rows * spec.outputDim);
    return;
  }

  if (!(targets instanceof Int32Array)) {
    throw new EngineInputError(`${argument}.targets`, kindOf(targets), 'an Int32Array of labels');
  }
  checkLength(`${argument}.targets`, targets.length, set.rows);
  for (let i = 0; i < targets.length; i++) {
    const label = targets[i]!;
    if (label < 0 || label >= spec.outputDim) {
      throw new EngineInputError(
        `${argument}.targets[${i}]`,
        String(label),
        `[0, ${spec.outputDim})`,
      );
    }
  }
}

export function checkAdaptRequest(spec: MappingSpec, request: AdaptRequest): void {
  const { steps } = request;
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) {
    throw new EngineInputError('steps', String(steps), `an integer in [1, ${MAX_STEPS}]`);
  }
  checkBatch({ theta0: request.theta0, support: request.support });
  for (const [b, theta] of request.theta0.entries()) checkTheta(`theta0[${b}]`, theta, spec);
  for (const [b, set] of request.support.entries()) checkLabelledSet(`support[${b}]`, set, spec);

  checkLearningRate(request.learningRate, steps, parameterCount(spec));
  if (request.optimizer) checkOptimizer(request.optimizer);
}

function checkLearningRate(rate: LearningRate, steps: number, P: number): void {
  if (typeof rate === 'number') {
    if (!Number.isFinite(rate) || rate < 0) {
      throw new EngineInputError('learningRate', String(rate), 'a finite number >= 0');
    }
    return;
  }
  const [name, values, length] =
    'perStep' in rate
      ? ['learningRate.perStep', rate.perStep, steps]
      : ['learningRate.perParameter', rate.perParameter, P];
  checkFloats(name, values, length);
}

function checkOptimizer(optimizer: Optimizer): void {
  const kind: string = optimizer.kind;
  if (kind !== 'sgd' && kind !== 'adam') {
    throw new EngineInputError('optimizer.kind', kind, "'sgd' or 'adam'");
  }
  if (optimizer.kind === 'sgd') return;
  for (const beta of ['beta1', 'beta2'] as const) {
    const value = optimizer[beta];
    if (value !== undefined && !(value >= 0 && value < 1)) {
      throw new EngineInputError(`optimizer.${beta}`, String(value), '[0, 1)');
    }
  }
  const epsilon = optimizer.epsilon;
  if (epsilon !== undefined && !(epsilon > 0 && Number.isFinite(epsilon))) {
    throw new EngineInputError('optimizer.epsilon', String(epsilon), 'a finite number > 0');
  }
}

/** A Float32Array of `length` finite values. */
export function checkFloats(argument: string, values: unknown, length: number): void {
  if (!(values instanceof Float32Array)) {
    throw new EngineInputError(argument, kindOf(values), `a Float32Array of ${length} values`);
  }
  checkLength(argument, values.length, length);
  const i = indexOfNonFinite(values);
  if (i >= 0) {
    throw new EngineInputError(`${argument}[${i}]`, String(values[i]), 'finite values only');
  }
}

/**
 * The index of the first NaN or infinite value, or -1. `v * 0` is 0 for every finite `v` and
 * NaN otherwise, so a block of eight values is clean when the sum of those products is 0: one
 * branch per eight values, about twice as fast per value as a loop testing each with
 * `Number.isFinite`, and ten times faster than `Float32Array.every(Number.isFinite)`.
 */
export function indexOfNonFinite(values: Float32Array): number {
  const n = values.length;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const block =
      values[i]! * 0 +
      values[i + 1]! * 0 +
      values[i + 2]! * 0 +
      values[i + 3]! * 0 +
      values[i + 4]! * 0 +
      values[i + 5]! * 0 +
      values[i + 6]! * 0 +
      values[i + 7]! * 0;
    if (block !== 0) break;
  }
  for (; i < n; i++) {
    if (!Number.isFinite(values[i]!)) return i;
  }
  return -1;
}

function checkLength(argument: string, received: number, allowed: number): void {
  if (received !== allowed) {
    throw new EngineInputError(argument, `${received} values`, `exactly ${allowed}`);
  }
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return (value as object).constructor?.name ?? typeof value;
}
