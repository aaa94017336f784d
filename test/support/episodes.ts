import type { Episode } from '../../src/episode/episode.js';

/** A small valid sinusoid episode; `overrides` replace top-level fields. */
export function sinusoidEpisode(overrides: Partial<Episode> = {}): Episode {
  return {
    taskId: 'task-1',
    family: 'sinusoid',
    producedAt: 1_700_000_000_000,
    support: {
      inputs: new Float32Array([-1, 0, 1]),
      inputDim: 1,
      targets: { kind: 'regression', values: new Float32Array([0.5, 1, 1.5]), outputDim: 1 },
    },
    query: {
      inputs: new Float32Array([2, 3]),
      inputDim: 1,
      targets: { kind: 'regression', values: new Float32Array([2, 2.5]), outputDim: 1 },
    },
    metadata: { amplitude: '1.5', phase: '0.25' },
    ...overrides,
  };
}

/** A small valid 2-way episode of 784-pixel inputs. */
export function classificationEpisode(overrides: Partial<Episode> = {}): Episode {
  const rows = (count: number) => new Float32Array(count * 784).map((_, i) => (i % 256) / 255);
  return {
    taskId: 'task-2',
    family: 'fashion-mnist-2way',
    producedAt: 1_700_000_000_000,
    support: {
      inputs: rows(2),
      inputDim: 784,
      targets: { kind: 'classification', labels: new Int32Array([0, 1]), classCount: 2 },
    },
    query: {
      inputs: rows(3),
      inputDim: 784,
      targets: { kind: 'classification', labels: new Int32Array([1, 0, 1]), classCount: 2 },
    },
    ...overrides,
  };
}
