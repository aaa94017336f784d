import type { Schema } from 'avsc';
import { describe, expect, it } from 'vitest';
import { AvroCodec } from '../../../src/codec/codec.js';
import { DecodeError, SchemaError } from '../../../src/codec/errors.js';

/**
 * Two versions of one schema, as a change would leave them: version 2 adds a field with
 * a default. Old data must stay readable by the new reader (from history), and new data
 * readable by an old reader once it has learned the new writer schema.
 */
const version1 = {
  type: 'record',
  name: 'Reading',
  namespace: 'allmap.test',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'values', type: { type: 'array', items: 'float' } },
  ],
} as Schema;

const version2 = {
  type: 'record',
  name: 'Reading',
  namespace: 'allmap.test',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'unit', type: 'string', default: 'kelvin' },
    { name: 'values', type: { type: 'array', items: 'float' } },
    { name: 'quality', type: ['null', 'double'], default: null },
  ],
} as Schema;

interface ReadingV1 {
  sensor: string;
  values: number[];
}

interface ReadingV2 extends ReadingV1 {
  unit: string;
  quality: number | null;
}

const at = { topic: 'allmap.readings', partition: 1, offset: '42' };

describe('schema evolution', () => {
  const oldCodec = new AvroCodec<{ Reading: ReadingV1 }>({ current: [version1], history: [] });
  const newCodec = new AvroCodec<{ Reading: ReadingV2 }>({
    current: [version2],
    history: [version1],
  });

  it('gives versions with different fields different headers', () => {
    expect(oldCodec.headerOf('Reading')).not.toBe(newCodec.headerOf('Reading'));
  });

  it('reads old data with the new reader, filling added fields with their defaults', () => {
    const old = oldCodec.encode('Reading', { sensor: 's1', values: [1.5, 2] });
    const read = newCodec.decode('Reading', old.value, old.headers, at);
    expect({ ...read }).toEqual({ sensor: 's1', unit: 'kelvin', values: [1.5, 2], quality: null });
  });

  it('reads new data with an old reader that has learned the new schema, skipping added fields', () => {
    const fresh = newCodec.encode('Reading', {
      sensor: 's2',
      unit: 'celsius',
      values: [3],
      quality: 0.5,
    });
    const learner = new AvroCodec<{ Reading: ReadingV1 }>({ current: [version1], history: [] });
    for (const { header, schema } of newCodec.writerSchemas()) learner.learnSchema(header, schema);

    const read = learner.decode('Reading', fresh.value, fresh.headers, at);
    expect({ ...read }).toEqual({ sensor: 's2', values: [3] });
  });

  it('refuses new data in an old reader that has not learned its schema', () => {
    const fresh = newCodec.encode('Reading', {
      sensor: 's2',
      unit: 'c',
      values: [],
      quality: null,
    });
    const error = catchDecode(() => oldCodec.decode('Reading', fresh.value, fresh.headers, at));
    expect(error.reason).toBe('unknown-schema');
    expect(error.message).toMatch(/topic allmap.readings partition 1 offset 42/);
    expect(error.message).toMatch(
      /no known Reading schema has fingerprint [0-9a-f]{32}; known: Reading@/,
    );
  });

  it('refuses a learned schema whose fingerprint differs from the one announced', () => {
    const header = oldCodec.headerOf('Reading');
    expect(() => oldCodec.learnSchema(header, version2)).toThrow(SchemaError);
    expect(() => oldCodec.learnSchema(header, version2)).toThrow(
      /announced as Reading@\w+ hashes to Reading@\w+/,
    );
    expect(() => oldCodec.learnSchema(header, '{not json')).toThrow(/not valid JSON/);
  });

  it('refuses data whose writer schema cannot be resolved against the reader', () => {
    const incompatible = {
      type: 'record',
      name: 'Reading',
      namespace: 'allmap.test',
      fields: [
        { name: 'sensor', type: 'string' },
        { name: 'values', type: { type: 'array', items: 'string' } },
      ],
    } as Schema;
    const writer = new AvroCodec<{ Reading: { sensor: string; values: string[] } }>({
      current: [incompatible],
      history: [],
    });
    const codec = new AvroCodec<{ Reading: ReadingV1 }>({
      current: [version1],
      history: [incompatible],
    });

    const message = writer.encode('Reading', { sensor: 's', values: ['hot'] });
    const error = catchDecode(() => codec.decode('Reading', message.value, message.headers, at));
    expect(error.reason).toBe('unresolvable-schema');
    expect(error.message).toMatch(/cannot be read as Reading@/);
  });
});

function catchDecode(decode: () => unknown): DecodeError {
  try {
    decode();
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw error;
  }
  throw new Error('the message was decoded');
}
