import { describe, expect, it } from 'vitest';
import {
  type Episode,
  episodeByteSize,
  inputRow,
  labelAt,
  rowCount,
  targetRow,
} from '../../../src/episode/episode.js';
import {
  defaultEpisodeLimits,
  EpisodeValidationError,
  type EpisodeValidationReason,
  validateEpisode,
} from '../../../src/episode/validate.js';
import { AllmapError } from '../../../src/errors.js';
import { classificationEpisode, sinusoidEpisode } from '../../support/episodes.js';

function refusal(episode: Episode, limits = defaultEpisodeLimits): EpisodeValidationError {
  try {
    validateEpisode(episode, limits);
  } catch (error) {
    if (error instanceof EpisodeValidationError) return error;
    throw error;
  }
  throw new Error('the episode was accepted');
}

function expectRefusal(episode: Episode, reason: EpisodeValidationReason, message: RegExp) {
  const error = refusal(episode);
  expect(error.reason).toBe(reason);
  expect(error.message).toMatch(message);
  expect(error.taskId).toBe(episode.taskId);
  expect(error).toBeInstanceOf(AllmapError);
  expect(error.isRetriable).toBe(false);
}

describe('episode helpers', () => {
  it('count and read rows of a set without copying', () => {
    const episode = classificationEpisode();
    expect(rowCount(episode.support)).toBe(2);
    const row = inputRow(episode.support, 1);
    expect(row).toHaveLength(784);
    expect(row.buffer).toBe(episode.support.inputs.buffer);
    expect(row[0]).toBeCloseTo((784 % 256) / 255, 6);
    expect(() => inputRow(episode.support, 2)).toThrow(/row 2 is outside the set's 2 rows/);
  });

  it('read regression targets and class labels by row', () => {
    const sinusoid = sinusoidEpisode();
    const targets = sinusoid.query.targets;
    if (targets.kind !== 'regression') throw new Error('expected regression targets');
    expect([...targetRow(targets, 1)]).toEqual([2.5]);

    const labels = classificationEpisode().query.targets;
    if (labels.kind !== 'classification') throw new Error('expected labels');
    expect(labelAt(labels, 0)).toBe(1);
    expect(() => labelAt(labels, 3)).toThrow(RangeError);
  });

  it('size an episode by the bytes of its numbers', () => {
    expect(episodeByteSize(sinusoidEpisode())).toBe((3 + 3 + 2 + 2) * 4);
  });
});

describe('validateEpisode', () => {
  it('accepts valid episodes and returns their family', () => {
    expect(validateEpisode(sinusoidEpisode()).name).toBe('sinusoid');
    expect(validateEpisode(classificationEpisode()).name).toBe('fashion-mnist-2way');
  });

  it('refuses an unknown family, naming it and what is allowed', () => {
    expectRefusal(
      sinusoidEpisode({ family: 'cosine' }),
      'unknown-family',
      /"cosine" is not known; allowed: sinusoid/,
    );
  });

  it('refuses NaN and infinite inputs and targets, naming the position', () => {
    const base = sinusoidEpisode();
    const nanInput = { ...base.support, inputs: new Float32Array([0, Number.NaN, 1]) };
    expectRefusal(
      { ...base, support: nanInput },
      'non-finite',
      /support set input 1 \(row 1\) is NaN/,
    );

    const infTarget = {
      ...base.query,
      targets: {
        kind: 'regression' as const,
        values: new Float32Array([1, Infinity]),
        outputDim: 1,
      },
    };
    expectRefusal({ ...base, query: infTarget }, 'non-finite', /query set target 1 is Infinity/);
    expectRefusal(sinusoidEpisode({ producedAt: Number.NaN }), 'non-finite', /producedAt is NaN/);
  });

  it('refuses inputs of the wrong width for the family', () => {
    const episode = classificationEpisode();
    const narrow = { ...episode.support, inputs: new Float32Array(2 * 100), inputDim: 100 };
    expectRefusal(
      { ...episode, support: narrow },
      'wrong-dimensions',
      /support set has 100 inputs per row; family fashion-mnist-2way has 784/,
    );
  });

  it('refuses inputs that are not a whole number of rows', () => {
    const episode = classificationEpisode();
    const ragged = { ...episode.query, inputs: new Float32Array(784 * 3 - 1) };
    expectRefusal(
      { ...episode, query: ragged },
      'wrong-dimensions',
      /2351 values, not a whole number of rows of 784/,
    );
  });

  it('refuses targets that disagree with the inputs or the family', () => {
    const episode = classificationEpisode();
    const fewLabels = {
      ...episode.query,
      targets: { kind: 'classification' as const, labels: new Int32Array([0]), classCount: 2 },
    };
    expectRefusal(
      { ...episode, query: fewLabels },
      'wrong-dimensions',
      /3 rows of inputs but 1 labels/,
    );

    const wrongClasses = {
      ...episode.support,
      targets: { kind: 'classification' as const, labels: new Int32Array([0, 1]), classCount: 5 },
    };
    expectRefusal(
      { ...episode, support: wrongClasses },
      'wrong-dimensions',
      /support set has 5 classes; family fashion-mnist-2way has 2/,
    );

    const sinusoid = sinusoidEpisode();
    const labels = { ...sinusoid.support, targets: wrongClasses.targets };
    expectRefusal(
      { ...sinusoid, support: labels },
      'wrong-dimensions',
      /classification targets; family sinusoid is regression/,
    );
  });

  it('refuses an empty support set and an empty query set', () => {
    const base = sinusoidEpisode();
    const empty = {
      inputs: new Float32Array(0),
      inputDim: 1,
      targets: { kind: 'regression' as const, values: new Float32Array(0), outputDim: 1 },
    };
    expectRefusal({ ...base, support: empty }, 'empty-support', /support set has no rows/);
    expectRefusal({ ...base, query: empty }, 'empty-query', /query set has no rows/);
  });

  // A JSON Lines episode with `"inputs": []` has no width to read, so it arrives as width 0.
  it('calls an empty set of unknown width empty, not of the wrong dimensions', () => {
    const base = sinusoidEpisode();
    const empty = {
      inputs: new Float32Array(0),
      inputDim: 0,
      targets: { kind: 'regression' as const, values: new Float32Array(0), outputDim: 1 },
    };
    expectRefusal({ ...base, support: empty }, 'empty-support', /support set has no rows/);
    expectRefusal({ ...base, query: empty }, 'empty-query', /query set has no rows/);
  });

  it('refuses labels outside [0, classCount)', () => {
    const episode = classificationEpisode();
    for (const label of [2, -1]) {
      const bad = {
        ...episode.query,
        targets: {
          kind: 'classification' as const,
          labels: new Int32Array([0, label, 1]),
          classCount: 2,
        },
      };
      expectRefusal(
        { ...episode, query: bad },
        'label-out-of-range',
        new RegExp(`row 1 is ${label}; allowed 0 to 1`),
      );
    }
  });

  it('refuses episodes over the row and byte limits', () => {
    const episode = sinusoidEpisode();
    const rows = { ...defaultEpisodeLimits, maxSupportRows: 2 };
    const byRows = refusal(episode, rows);
    expect(byRows.reason).toBe('oversized');
    expect(byRows.message).toMatch(/support set has 3 rows; at most 2/);

    const bytes = refusal(episode, { ...defaultEpisodeLimits, maxBytes: 16 });
    expect(bytes.message).toMatch(/holds 40 bytes of values; at most 16/);
  });
});
