import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  AvroCodec,
  decodeEpisode,
  defaultCodec,
  encodeEpisode,
  SCHEMA_HEADER,
} from '../../../src/codec/codec.js';
import { float32ToBytes } from '../../../src/codec/convert.js';
import { EncodeError } from '../../../src/codec/errors.js';
import type { AllmapRecords } from '../../../src/codec/records.js';
import { loadSchemaSet } from '../../../src/codec/schema-files.js';
import { classificationEpisode, sinusoidEpisode } from '../../support/episodes.js';

const at = { topic: 'allmap.episodes', partition: 0, offset: '0' };

const metrics = {
  lossBefore: 2.5,
  lossAfter: 0.25,
  accuracyBefore: 0.2,
  accuracyAfter: 0.8,
  steps: 10,
  status: 'ok' as const,
  failure: null,
  adaptMs: 3.5,
};

const floats = (...values: number[]) => float32ToBytes(new Float32Array(values));

const support = {
  inputDim: 1,
  inputs: floats(0.5, -1.25),
  targets: { 'allmap.v1.RegressionTargets': { outputDim: 1, values: floats(1, 2) } },
};

/** One record of every schema, with every optional field filled. */
const samples: AllmapRecords = {
  Episode: {
    taskId: 'task-7',
    family: 'fashion-mnist-2way',
    support: {
      inputDim: 2,
      inputs: floats(0, 0.5, 1, 0.25),
      targets: { 'allmap.v1.ClassificationTargets': { classCount: 2, labels: [1, 0] } },
    },
    query: support,
    producedAt: 1_700_000_000_123,
    metadata: { amplitude: '2.5' },
  },
  AdaptedModel: {
    taskId: 'task-7',
    family: 'sinusoid',
    metaVersion: 3,
    onnx: Buffer.from([8, 7, 18, 3]),
    z: [0.5, -0.25, 1],
    metrics,
    adaptedAt: 1_700_000_000_456,
  },
  EpisodeMetrics: {
    taskId: 'task-7',
    family: 'sinusoid',
    metaVersion: 3,
    queryLossBefore: 2.5,
    queryLossAfter: 0.125,
    queryAccuracyBefore: null,
    queryAccuracyAfter: null,
    steps: 5,
    supportSize: 10,
    querySize: 10,
    stageMs: { decode: 0.25, adapt: 4.5 },
    producedAt: 1_700_000_000_000,
    finishedAt: 1_700_000_000_010,
  },
  MetaVersion: {
    family: 'sinusoid',
    metaVersion: 2 ** 40,
    createdAt: 1_700_000_000_000,
    trainingLoss: 0.5,
    heldOutLoss: 0.75,
    bankSize: 4096,
    parameters: [{ name: 'generator.layer0.weight', shape: [2, 1], data: Buffer.alloc(8, 1) }],
  },
  BankEntry: {
    taskId: 'task-7',
    family: 'sinusoid',
    metaVersion: 1,
    support,
    query: {
      inputDim: 1,
      inputs: floats(3),
      targets: { 'allmap.v1.RegressionTargets': { outputDim: 1, values: floats(-4) } },
    },
    theta: Buffer.alloc(12, 2),
    metrics: {
      ...metrics,
      accuracyBefore: null,
      accuracyAfter: null,
      status: 'failed',
      failure: 'diverged',
    },
    rememberedAt: 1_700_000_000_999,
  },
};

describe('AvroCodec with the schemas in schemas/', () => {
  const codec = defaultCodec();

  for (const name of Object.keys(samples) as Array<keyof AllmapRecords>) {
    it(`round-trips a ${name} record`, () => {
      const message = codec.encode(name, samples[name]);
      expect(message.headers[SCHEMA_HEADER]).toMatch(new RegExp(`^${name}@[0-9a-f]{32}$`));
      const decoded = codec.decode(name, message.value, message.headers, at);
      expect(JSON.parse(JSON.stringify(decoded))).toEqual(
        JSON.parse(JSON.stringify(samples[name])),
      );
    });
  }

  it('round-trips domain episodes, keeping float32 values exactly', () => {
    for (const episode of [sinusoidEpisode(), classificationEpisode()]) {
      const message = encodeEpisode(episode);
      expect(decodeEpisode(message.value, message.headers, at)).toEqual(episode);
    }
  });

  it('leaves metadata out of a decoded episode that had none', () => {
    const { metadata: _, ...episode } = sinusoidEpisode();
    const message = encodeEpisode(episode);
    expect(decodeEpisode(message.value, message.headers, at)).not.toHaveProperty('metadata');
  });

  it('marks messages with the fingerprint of the canonical schema form', () => {
    const header = codec.headerOf('Episode');
    const fingerprint = avro.Type.forSchema(
      JSON.parse(codec.writerSchemas().find((s) => s.header === header)?.schema ?? 'null'),
    ).fingerprint();
    expect(header).toBe(`Episode@${fingerprint.toString('hex')}`);
  });

  it('refuses to encode a record that does not match its schema, naming the field', () => {
    const bad = { ...samples.AdaptedModel, metrics: { ...metrics, steps: 'ten' } };
    expect(() => codec.encode('AdaptedModel', bad as never)).toThrow(EncodeError);
    expect(() => codec.encode('AdaptedModel', bad as never)).toThrow(
      /field metrics\.steps expected int, received "ten"/,
    );
  });

  it('shares LabelledSet and AdaptationMetrics between schemas, field for field', () => {
    const canonical = (schema: string, record: string) => {
      const json = codec.writerSchemas().find((s) => s.header.startsWith(`${schema}@`))?.schema;
      return JSON.stringify(findNamed(JSON.parse(json ?? 'null'), `allmap.v1.${record}`));
    };
    expect(canonical('Episode', 'LabelledSet')).toContain('"inputDim"');
    expect(canonical('AdaptedModel', 'AdaptationMetrics')).toContain('"adaptMs"');
    expect(canonical('BankEntry', 'LabelledSet')).toBe(canonical('Episode', 'LabelledSet'));
    expect(canonical('BankEntry', 'AdaptationMetrics')).toBe(
      canonical('AdaptedModel', 'AdaptationMetrics'),
    );
  });

  it('can read, as the current version, everything the schemas in schemas/history/ wrote', () => {
    const { current, history } = loadSchemaSet();
    for (const old of history) {
      const writer = avro.Type.forSchema(old);
      const reader = current
        .map((schema) => avro.Type.forSchema(schema))
        .find((type) => type.name === writer.name);
      expect(reader, `current schema for ${writer.name}`).toBeDefined();
      expect(() => reader?.createResolver(writer)).not.toThrow();
    }
  });

  it('refuses two current schemas of one name', () => {
    const { current } = loadSchemaSet();
    expect(
      () => new AvroCodec({ current: [...current, ...current.slice(0, 1)], history: [] }),
    ).toThrow(/two current schemas are named/);
  });
});

/** The definition of the named type `name` inside a canonical schema, if any. */
function findNamed(schema: unknown, name: string): unknown {
  if (typeof schema !== 'object' || schema === null) return undefined;
  if ((schema as { name?: unknown }).name === name) return schema;
  for (const child of Object.values(schema)) {
    const found = findNamed(child, name);
    if (found !== undefined) return found;
  }
  return undefined;
}
