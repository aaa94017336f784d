import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Schema } from 'avsc';
import { describe, expect, it } from 'vitest';
import { AvroCodec, defaultCodec } from '../../../src/codec/codec.js';
import { float32ToBytes } from '../../../src/codec/convert.js';
import { DecodeError, SchemaError } from '../../../src/codec/errors.js';
import type { BankEntryRecord, LabelledSetRecord } from '../../../src/codec/records.js';
import { findSchemasDir } from '../../../src/codec/schema-files.js';

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

/**
 * The real evolution of BankEntry: version 2 added an optional query set. Entries on the
 * compacted bank topic written by version 1 must still restore after an upgrade.
 */
describe('BankEntry version 1 to version 2', () => {
  const bankAt = { topic: 'allmap.bank', partition: 0, offset: '7' };
  const version1Schema = JSON.parse(
    readFileSync(join(findSchemasDir(), 'history', 'BankEntry.v1.avsc'), 'utf8'),
  ) as Schema;
  type BankEntryV1 = Omit<BankEntryRecord, 'query'>;
  const writerV1 = new AvroCodec<{ BankEntry: BankEntryV1 }>({
    current: [version1Schema],
    history: [],
  });
  const current = defaultCodec();

  const labelledSet = (...values: number[]): LabelledSetRecord => ({
    inputDim: 1,
    inputs: float32ToBytes(new Float32Array(values)),
    targets: {
      'allmap.v1.RegressionTargets': {
        outputDim: 1,
        values: float32ToBytes(new Float32Array(values.map((value) => value * 2))),
      },
    },
  });
  const entryV1: BankEntryV1 = {
    taskId: 'task-3',
    family: 'sinusoid',
    metaVersion: 4,
    support: labelledSet(0.5, -1),
    theta: float32ToBytes(new Float32Array([0.25, 1.5])),
    metrics: {
      lossBefore: 1,
      lossAfter: 0.5,
      accuracyBefore: null,
      accuracyAfter: null,
      steps: 5,
      status: 'ok',
      failure: null,
      adaptMs: 2,
    },
    rememberedAt: 1_700_000_000_000,
  };

  it('marks version 1 and version 2 messages with different headers', () => {
    expect(writerV1.headerOf('BankEntry')).not.toBe(current.headerOf('BankEntry'));
  });

  it('reads a version 1 entry with the current reader, its query set null', () => {
    const old = writerV1.encode('BankEntry', entryV1);
    const read = current.decode('BankEntry', old.value, old.headers, bankAt);
    expect(read.query).toBeNull();
    expect(JSON.parse(JSON.stringify(read))).toEqual(
      JSON.parse(JSON.stringify({ ...entryV1, query: null })),
    );
  });

  it('round-trips a version 2 entry with its query set', () => {
    const entry: BankEntryRecord = { ...entryV1, query: labelledSet(3, 4, 5) };
    const message = current.encode('BankEntry', entry);
    const read = current.decode('BankEntry', message.value, message.headers, bankAt);
    expect(read.query?.inputs).toEqual(entry.query?.inputs);
    expect(JSON.parse(JSON.stringify(read))).toEqual(JSON.parse(JSON.stringify(entry)));
  });

  it('lets a version 1 reader that learned version 2 read its entries without the query set', () => {
    const message = current.encode('BankEntry', { ...entryV1, query: labelledSet(3) });
    const reader = new AvroCodec<{ BankEntry: BankEntryV1 }>({
      current: [version1Schema],
      history: [],
    });
    for (const { header, schema } of current.writerSchemas()) reader.learnSchema(header, schema);

    const read = reader.decode('BankEntry', message.value, message.headers, bankAt);
    expect(read).not.toHaveProperty('query');
    expect(read.taskId).toBe('task-3');
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
