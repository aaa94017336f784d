/**
 * The task families allmap knows. A family fixes the shape of a task's data: how many
 * inputs a row has and what it predicts. Every mapping of one family shares one MLP
 * architecture, which the engine derives from this description.
 */

export type FamilyKind = 'regression' | 'classification';

export interface RegressionFamily {
  readonly name: string;
  readonly kind: 'regression';
  readonly inputDim: number;
  readonly outputDim: number;
}

export interface ClassificationFamily {
  readonly name: string;
  readonly kind: 'classification';
  readonly inputDim: number;
  readonly classCount: number;
}

export type Family = RegressionFamily | ClassificationFamily;

/** Workload W1: `y = A sin(x + b)`, one input, one output. */
export const SINUSOID: RegressionFamily = Object.freeze({
  name: 'sinusoid',
  kind: 'regression',
  inputDim: 1,
  outputDim: 1,
});

/** Fashion-MNIST images are 28 x 28 pixels, flattened. */
export const FASHION_MNIST_PIXELS = 28 * 28;

/** Fashion-MNIST has ten classes, so an N-way task picks N of them. */
export const FASHION_MNIST_CLASSES = 10;

const FASHION_MNIST_NAME = /^fashion-mnist-(\d+)way$/;

/** The family of N-way Fashion-MNIST tasks (workloads W2 and W3), e.g. `fashion-mnist-5way`. */
export function fashionMnistFamily(ways: number): ClassificationFamily {
  if (!Number.isInteger(ways) || ways < 2 || ways > FASHION_MNIST_CLASSES) {
    throw new RangeError(
      `Fashion-MNIST tasks pick 2 to ${FASHION_MNIST_CLASSES} classes; received ${ways} ways`,
    );
  }
  return Object.freeze({
    name: `fashion-mnist-${ways}way`,
    kind: 'classification',
    inputDim: FASHION_MNIST_PIXELS,
    classCount: ways,
  });
}

/** The family named `name`, or `undefined` when allmap does not know it. */
export function findFamily(name: string): Family | undefined {
  if (name === SINUSOID.name) return SINUSOID;

  const match = FASHION_MNIST_NAME.exec(name);
  const ways = match ? Number(match[1]) : Number.NaN;
  const isKnownWays = Number.isInteger(ways) && ways >= 2 && ways <= FASHION_MNIST_CLASSES;
  return isKnownWays && name === `fashion-mnist-${ways}way` ? fashionMnistFamily(ways) : undefined;
}

/** Every family allmap knows, in a stable order. */
export function knownFamilies(): Family[] {
  const ways = Array.from({ length: FASHION_MNIST_CLASSES - 1 }, (_, i) => i + 2);
  return [SINUSOID, ...ways.map(fashionMnistFamily)];
}

/** How many outputs the family's mapping has: the regression width or the class count. */
export function outputWidth(family: Family): number {
  return family.kind === 'regression' ? family.outputDim : family.classCount;
}
