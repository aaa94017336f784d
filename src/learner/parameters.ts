import type { Tensor } from '../codec/convert.js';
import { LearnerInputError } from './errors.js';

export type { Tensor } from '../codec/convert.js';

/**
 * Named float32 tensors: the meta parameters of one family (encoder, ideal-code encoder,
 * generator, learning rates), in a fixed order. This is what a meta version carries and
 * what the `MetaVersion` Avro record serialises, one `Tensor` record per entry.
 */
export type ParameterSet = ReadonlyMap<string, Tensor>;

/** A parameter set from tensors; names must be unique and sizes must match shapes. */
export function parameterSet(tensors: readonly Tensor[]): ParameterSet {
  const set = new Map<string, Tensor>();
  for (const tensor of tensors) {
    if (set.has(tensor.name)) {
      throw new LearnerInputError('tensor name', tensor.name, 'each name once');
    }
    checkSize(tensor);
    set.set(tensor.name, tensor);
  }
  return set;
}

/** A deep copy: later updates of either never show in the other. */
export function cloneParameters(parameters: ParameterSet): Map<string, Tensor> {
  const copy = new Map<string, Tensor>();
  for (const [name, tensor] of parameters) {
    copy.set(name, { name, shape: tensor.shape.slice(), values: tensor.values.slice() });
  }
  return copy;
}

/** The values of tensor `name`; throws naming the tensor when it is missing. */
export function valuesOf(parameters: ParameterSet, name: string): Float32Array {
  const tensor = parameters.get(name);
  if (!tensor) {
    throw new LearnerInputError(
      `meta parameter ${name}`,
      'nothing',
      `one of ${[...parameters.keys()].join(', ')}`,
    );
  }
  return tensor.values;
}

/**
 * Checks that `parameters` holds exactly the tensors of `expected`, shape for shape: a
 * meta version built for another architecture cannot be applied.
 */
export function checkCompatible(parameters: ParameterSet, expected: ParameterSet): void {
  for (const [name, tensor] of expected) {
    const found = parameters.get(name);
    const shape = `[${tensor.shape.join(', ')}]`;
    if (!found) throw new LearnerInputError(`meta parameter ${name}`, 'nothing', shape);

    const foundShape = `[${found.shape.join(', ')}]`;
    if (foundShape !== shape) {
      throw new LearnerInputError(`meta parameter ${name}`, `shape ${foundShape}`, shape);
    }
  }
  for (const name of parameters.keys()) {
    if (!expected.has(name)) {
      throw new LearnerInputError(`meta parameter ${name}`, 'an unknown tensor', 'none');
    }
  }
}

function checkSize(tensor: Tensor): void {
  const size = tensor.shape.reduce((product, extent) => product * extent, 1);
  if (size !== tensor.values.length) {
    throw new LearnerInputError(
      `tensor ${tensor.name}`,
      `${tensor.values.length} values`,
      `${size} values for shape [${tensor.shape.join(', ')}]`,
    );
  }
}
