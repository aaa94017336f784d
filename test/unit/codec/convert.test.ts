import { describe, expect, it } from 'vitest';
import {
  bytesToFloat32,
  episodeFromRecord,
  episodeToRecord,
  float32ToBytes,
  tensorFromRecord,
  tensorToRecord,
} from '../../../src/codec/convert.js';
import { classificationEpisode } from '../../support/episodes.js';

describe('conversions between records and domain values', () => {
  it('write float32 bytes little-endian and read them back exactly', () => {
    const values = new Float32Array([1, -0.5, Math.PI, 3e38]);
    const bytes = float32ToBytes(values);
    expect(bytes).toHaveLength(16);
    expect(bytes.readFloatLE(4)).toBe(-0.5);
    expect(bytesToFloat32(bytes)).toEqual(values);
  });

  it('read float32 values from unaligned bytes', () => {
    const shifted = Buffer.concat([Buffer.from([9]), float32ToBytes(new Float32Array([2.5]))]);
    expect([...bytesToFloat32(shifted.subarray(1))]).toEqual([2.5]);
    expect(() => bytesToFloat32(shifted)).toThrow(/come in fours; received 5 bytes/);
  });

  it('write only the viewed part of a Float32Array', () => {
    const view = new Float32Array([1, 2, 3, 4]).subarray(1, 3);
    expect([...bytesToFloat32(float32ToBytes(view))]).toEqual([2, 3]);
  });

  it('round-trip tensors and refuse data that does not fill the shape', () => {
    const tensor = { name: 'w', shape: [2, 2], values: new Float32Array([1, 2, 3, 4]) };
    expect(tensorFromRecord(tensorToRecord(tensor))).toEqual(tensor);
    const short = { name: 'w', shape: [3, 2], data: Buffer.alloc(16) };
    expect(() => tensorFromRecord(short)).toThrow(
      /tensor w of shape \[3, 2\] needs 6 values; received 4/,
    );
  });

  it('round-trip an episode through its record without touching the original', () => {
    const episode = classificationEpisode();
    const record = episodeToRecord(episode);
    expect(record.support.targets).toEqual({
      'allmap.v1.ClassificationTargets': { classCount: 2, labels: [0, 1] },
    });
    expect(episodeFromRecord(record)).toEqual(episode);
    expect(episodeFromRecord(record).support.inputs).not.toBe(episode.support.inputs);
  });
});
