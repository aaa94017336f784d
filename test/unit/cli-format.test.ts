import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatBytes, formatNumber, formatThroughput, viewRecord } from '../../src/cli/format.js';
import { defaultCodec } from '../../src/codec/codec.js';
import type { AdaptedModelRecord, EpisodeMetricsRecord } from '../../src/codec/records.js';
import { deadLetterHeaders } from '../../src/stream/dead-letter-headers.js';
import type { ConsumedRecord } from '../../src/transport/transport.js';

const codec = defaultCodec();

function consumed(
  value: Buffer | null,
  headers: Record<string, string> = {},
  key: string | null = 'task-7',
): ConsumedRecord {
  const buffers = Object.fromEntries(
    Object.entries(headers).map(([name, text]) => [name, Buffer.from(text)]),
  );
  return {
    topic: 'allmap.models',
    partition: 2,
    offset: '118',
    key,
    value,
    headers: buffers,
    timestamp: '1700000000000',
  };
}

function model(overrides: Partial<AdaptedModelRecord> = {}): AdaptedModelRecord {
  return {
    taskId: 'task-7',
    family: 'fashion-mnist-5way',
    metaVersion: 3,
    onnx: Buffer.alloc(6_912, 7),
    z: [0.5, -0.25],
    metrics: {
      lossBefore: 1.6094,
      lossAfter: 0.41237,
      accuracyBefore: 0.2,
      accuracyAfter: 0.8667,
      steps: 10,
      status: 'ok',
      failure: null,
      adaptMs: 4.5,
    },
    adaptedAt: 1_700_000_000_000,
    ...overrides,
  };
}

function encoded(record: AdaptedModelRecord): ConsumedRecord {
  const { value, headers } = codec.encode('AdaptedModel', record);
  return consumed(value, headers);
}

describe('sizes and numbers', () => {
  it('writes sizes in SI units with three significant digits', () => {
    expect(formatBytes(812)).toBe('812 B');
    expect(formatBytes(6_912)).toBe('6.91 kB');
    expect(formatBytes(251_000_000)).toBe('251 MB');
  });

  it('writes losses with four significant digits and extremes as exponents', () => {
    expect(formatNumber(0.087213)).toBe('0.08721');
    expect(formatNumber(3)).toBe('3');
    expect(formatNumber(1.5e-7)).toBe('1.500e-7');
    expect(formatNumber(Number.NaN)).toBe('NaN');
  });

  it('writes a throughput in episodes and megabytes per second', () => {
    expect(formatThroughput(1000, 251_000_000, 4)).toBe('in 4.00 s: 250.0 episodes/s, 62.75 MB/s');
  });
});

describe('viewRecord', () => {
  it('shows a model with its task, family, meta version, metrics and size', () => {
    const view = viewRecord('models', encoded(model()), codec);
    expect(view.line).toBe(
      'model task-7 (fashion-mnist-5way, meta v3): loss 1.609 -> 0.4124, ' +
        'accuracy 20.0% -> 86.7% in 10 steps, onnx 6.91 kB [p2@118]',
    );
  });

  it('replaces the ONNX bytes of a model by their size and sha256 in JSON', () => {
    const record = model();
    const view = viewRecord('models', encoded(record), codec);
    const sha256 = createHash('sha256').update(record.onnx).digest('hex');

    const json = JSON.parse(JSON.stringify(view.json));
    expect(json.value.onnx).toEqual({ bytes: 6_912, sha256 });
    expect(json).toMatchObject({ partition: 2, offset: '118', key: 'task-7' });
    expect(json.value.metrics.lossAfter).toBeCloseTo(0.41237, 6);
  });

  it('shows why an adaptation failed instead of its metrics', () => {
    const failed = model({
      onnx: Buffer.alloc(0),
      metrics: { ...model().metrics, status: 'failed', failure: 'loss became NaN at step 4' },
    });
    const view = viewRecord('models', encoded(failed), codec);
    expect(view.line).toContain('adaptation failed: loss became NaN at step 4');
  });

  it('shows episode metrics with query loss, accuracy and end-to-end time', () => {
    const metrics: EpisodeMetricsRecord = {
      taskId: 'sinusoid-1-4',
      family: 'sinusoid',
      metaVersion: 0,
      queryLossBefore: 4.2,
      queryLossAfter: 0.31,
      queryAccuracyBefore: null,
      queryAccuracyAfter: null,
      steps: 5,
      supportSize: 10,
      querySize: 10,
      stageMs: { adapt: 2.5 },
      producedAt: 1_000,
      finishedAt: 1_042,
    };
    const { value, headers } = codec.encode('EpisodeMetrics', metrics);

    const view = viewRecord('metrics', consumed(value, headers), codec);

    expect(view.line).toBe(
      'metrics sinusoid-1-4 (sinusoid, meta v0): query loss 4.2 -> 0.31, 5 steps, ' +
        'support 10, query 10, 42 ms end to end [p2@118]',
    );
  });

  it('shows a dead letter with its reason, source and size from the headers', () => {
    const headers = deadLetterHeaders({
      reason: 'non-finite',
      sourceTopic: 'allmap.episodes',
      sourcePartition: 1,
      sourceOffset: '42',
      error: 'support set input 3 is NaN',
    });
    const view = viewRecord('dead-letter', consumed(Buffer.alloc(1_234), headers), codec);

    expect(view.line).toBe(
      'dead-letter task-7: non-finite from allmap.episodes/1@42, 1.23 kB: ' +
        'support set input 3 is NaN [p2@118]',
    );
    expect(view.json.deadLetter).toEqual({
      reason: 'non-finite',
      sourceTopic: 'allmap.episodes',
      sourcePartition: 1,
      sourceOffset: '42',
      error: 'support set input 3 is NaN',
    });
    expect((view.json.value as { bytes: number }).bytes).toBe(1_234);
  });

  it('describes a record it cannot decode instead of throwing', () => {
    const view = viewRecord('models', consumed(Buffer.from('not avro')), codec);
    expect(view.line).toContain('model');
    expect(view.line).toContain('cannot be read');
    expect(view.line).toContain('missing-schema-header');
    expect(view.json.error).toEqual(expect.stringContaining('missing-schema-header'));
  });

  it('shows a tombstone', () => {
    expect(viewRecord('models', consumed(null), codec).line).toBe(
      'models task-7: tombstone [p2@118]',
    );
  });
});
