import { describe, expect, it } from 'vitest';
import {
  fashionMnistFamily,
  findFamily,
  knownFamilies,
  outputWidth,
  SINUSOID,
} from '../../../src/episode/families.js';

describe('task families', () => {
  it('describes the sinusoid family as one input and one regression output', () => {
    expect(findFamily('sinusoid')).toEqual({
      name: 'sinusoid',
      kind: 'regression',
      inputDim: 1,
      outputDim: 1,
    });
    expect(outputWidth(SINUSOID)).toBe(1);
  });

  it('describes N-way Fashion-MNIST families as 784 inputs and N classes', () => {
    const family = findFamily('fashion-mnist-5way');
    expect(family).toEqual({
      name: 'fashion-mnist-5way',
      kind: 'classification',
      inputDim: 784,
      classCount: 5,
    });
    expect(family && outputWidth(family)).toBe(5);
  });

  it('knows nothing of misspelt or impossible families', () => {
    for (const name of [
      '',
      'Sinusoid',
      'fashion-mnist-1way',
      'fashion-mnist-11way',
      'fashion-mnist-05way',
      'fashion-mnist-way',
    ]) {
      expect(findFamily(name), name).toBeUndefined();
    }
  });

  it('lists every known family once, each findable by its name', () => {
    const names = knownFamilies().map((family) => family.name);
    expect(names).toHaveLength(10);
    expect(new Set(names).size).toBe(10);
    for (const name of names) expect(findFamily(name)?.name).toBe(name);
  });

  it('refuses to build a family with fewer than 2 or more than 10 ways', () => {
    expect(() => fashionMnistFamily(1)).toThrow(/2 to 10 classes; received 1 ways/);
    expect(() => fashionMnistFamily(11)).toThrow(RangeError);
  });
});
