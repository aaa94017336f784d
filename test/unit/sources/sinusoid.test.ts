import { describe, expect, it } from 'vitest';
import type { Episode } from '../../../src/episode/episode.js';
import { validateEpisode } from '../../../src/episode/validate.js';
import { sinusoidEpisodes } from '../../../src/sources/sinusoid.js';

const fixedClock = () => 1_700_000_000_000;

function take(seed: number, count: number, extra = {}): Episode[] {
  return [...sinusoidEpisodes({ seed, count, clock: fixedClock, ...extra })];
}

function regressionValues(episode: Episode, set: 'support' | 'query'): Float32Array {
  const targets = episode[set].targets;
  if (targets.kind !== 'regression') throw new Error('sinusoid targets are regression values');
  return targets.values;
}

describe('sinusoid episodes (W1)', () => {
  it('are the same for the same seed and differ for another', () => {
    expect(take(7, 5)).toEqual(take(7, 5));
    expect(take(8, 5)[0]?.support.inputs).not.toEqual(take(7, 5)[0]?.support.inputs);
  });

  it('have 10 support and 10 query points of one input and one output by default', () => {
    for (const episode of take(1, 20)) {
      expect(validateEpisode(episode).name).toBe('sinusoid');
      expect(episode.support.inputs).toHaveLength(10);
      expect(episode.query.inputs).toHaveLength(10);
      expect(regressionValues(episode, 'query')).toHaveLength(10);
    }
  });

  it('follow y = A sin(x + b) with the A and b their metadata gives', () => {
    for (const episode of take(2, 20)) {
      const amplitude = Number(episode.metadata?.amplitude);
      const phase = Number(episode.metadata?.phase);
      const values = regressionValues(episode, 'support');
      episode.support.inputs.forEach((x, i) => {
        expect(values[i]).toBeCloseTo(amplitude * Math.sin(x + phase), 5);
      });
    }
  });

  it('draw A from [0.1, 5], b from [0, pi] and x from [-5, 5]', () => {
    const episodes = take(3, 300);
    const amplitudes = episodes.map((episode) => Number(episode.metadata?.amplitude));
    const phases = episodes.map((episode) => Number(episode.metadata?.phase));
    const inputs = episodes.flatMap((episode) => [
      ...episode.support.inputs,
      ...episode.query.inputs,
    ]);
    expect(Math.min(...amplitudes)).toBeGreaterThanOrEqual(0.1);
    expect(Math.max(...amplitudes)).toBeLessThanOrEqual(5);
    // 300 uniform draws cover most of the range: a wrong range would show here.
    expect(Math.max(...amplitudes) - Math.min(...amplitudes)).toBeGreaterThan(4.5);
    expect(Math.min(...phases)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...phases)).toBeLessThanOrEqual(Math.PI);
    expect(Math.min(...inputs)).toBeGreaterThanOrEqual(-5);
    expect(Math.max(...inputs)).toBeLessThanOrEqual(5);
  });

  it('take their sizes and ranges from the options', () => {
    const [episode] = take(4, 1, {
      supportSize: 5,
      querySize: 20,
      amplitudeRange: [2, 2],
      phaseRange: [0, 0],
    });
    expect(episode?.support.inputs).toHaveLength(5);
    expect(episode?.query.inputs).toHaveLength(20);
    expect(episode?.metadata).toEqual({ amplitude: '2', phase: '0' });
  });

  it('get unique task ids and the clock time', () => {
    const episodes = take(5, 3);
    expect(episodes.map((episode) => episode.taskId)).toEqual([
      'sinusoid-5-0',
      'sinusoid-5-1',
      'sinusoid-5-2',
    ]);
    expect(episodes[0]?.producedAt).toBe(fixedClock());
  });

  it('refuse impossible options when called, naming them', () => {
    expect(() => sinusoidEpisodes({ seed: 1, supportSize: 0 })).toThrow(
      /supportSize must be an integer of at least 1; received 0/,
    );
    expect(() => sinusoidEpisodes({ seed: 1, amplitudeRange: [5, 1] })).toThrow(
      /amplitudeRange must be a finite range/,
    );
    expect(() => sinusoidEpisodes({ seed: 1, count: 1.5 })).toThrow(/count must be an integer/);
  });

  it('go on for as long as they are read when no count is given', () => {
    const stream = sinusoidEpisodes({ seed: 1 });
    for (let i = 0; i < 1000; i++) expect(stream.next().done).toBe(false);
  });
});
