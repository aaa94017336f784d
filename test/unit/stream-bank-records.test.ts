import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Schema } from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AvroCodec,
  type BankEntryRecord,
  defaultCodec,
  findSchemasDir,
  float32ToBytes,
  labelledSetToRecord,
} from '../../src/codec/index.js';
import { MappingEngine } from '../../src/engine/index.js';
import type { BankEntry } from '../../src/learner/bank.js';
import { decodeBankEntry } from '../../src/stream/meta-versions.js';
import { bankRecord } from '../../src/stream/records.js';
import type { ConsumedRecord, ProducerRecord } from '../../src/transport/transport.js';
import { sinusoidEpisode } from '../support/episodes.js';
import { sinusoidLearner } from './learner-fixtures.js';

/**
 * Bank entries through the bank topic's records and back into a learner's bank, as recovery
 * after a restart does: the query set a meta version is judged on must survive the trip.
 */

const codec = defaultCodec();

function bankEntry(taskId: string): BankEntry {
  const { support, query } = sinusoidEpisode();
  return {
    taskId,
    family: 'sinusoid',
    metaVersion: 2,
    support,
    query,
    theta: new Float32Array([0.5, -0.25, 1]),
    metrics: { lossBefore: 1.5, lossAfter: 0.25, steps: 3, status: 'ok', adaptMs: 4 },
    rememberedAt: 1_700_000_000_000,
  };
}

/** The produced record as a consumer of the bank topic hands it over. */
function consumed(record: ProducerRecord, offset: number): ConsumedRecord {
  const headers = Object.entries(record.headers ?? {}).map(([name, value]) => [
    name,
    Buffer.from(value as string),
  ]);
  return {
    topic: 'allmap.bank',
    partition: 0,
    offset: String(offset),
    key: record.key,
    value: record.value,
    headers: Object.fromEntries(headers),
    timestamp: '0',
  };
}

/** A bank-topic record written by a learner that still wrote BankEntry version 1. */
function version1Record(entry: BankEntry): ProducerRecord {
  const schema = JSON.parse(
    readFileSync(join(findSchemasDir(), 'history', 'BankEntry.v1.avsc'), 'utf8'),
  ) as Schema;
  const writer = new AvroCodec<{ BankEntry: Omit<BankEntryRecord, 'query'> }>({
    current: [schema],
    history: [],
  });
  const encoded = writer.encode('BankEntry', {
    taskId: entry.taskId,
    family: entry.family,
    metaVersion: entry.metaVersion,
    support: labelledSetToRecord(entry.support),
    theta: float32ToBytes(entry.theta),
    metrics: {
      ...entry.metrics,
      accuracyBefore: null,
      accuracyAfter: null,
      failure: null,
    },
    rememberedAt: entry.rememberedAt,
  });
  return { key: entry.taskId, ...encoded };
}

describe('bank-topic records', () => {
  it('keep the query set from bankRecord to decodeBankEntry', () => {
    const entry = bankEntry('task-1');
    const record = bankRecord(codec, { kind: 'stored', entry }, { 'allmap-instance': 'a' });
    const decoded = decodeBankEntry(codec, consumed(record, 0));
    expect(decoded.query).toEqual(entry.query);
    expect(decoded).toEqual(entry);
  });

  it('write no query set for an entry that has none, and read none back', () => {
    const { query: _, ...entry } = bankEntry('task-2');
    const record = bankRecord(codec, { kind: 'stored', entry }, {});
    const decoded = decodeBankEntry(codec, consumed(record, 0));
    expect(decoded).not.toHaveProperty('query');
    expect(decoded).toEqual(entry);
  });

  it('read an entry written with BankEntry version 1 without a query set', () => {
    const { query: _, ...entry } = bankEntry('task-3');
    const decoded = decodeBankEntry(codec, consumed(version1Record(bankEntry('task-3')), 0));
    expect(decoded).not.toHaveProperty('query');
    expect(decoded).toEqual(entry);
  });
});

describe('restoring the bank from bank-topic records', () => {
  const engine = MappingEngine.create();
  const learner = sinusoidLearner(engine);
  afterAll(async () => {
    await learner.close();
    await engine.dispose();
  });

  it('keeps the query sets of version 2 entries, and none for version 1 entries', () => {
    const withQuery = bankEntry('task-4');
    const records = [
      bankRecord(codec, { kind: 'stored', entry: withQuery }, {}),
      version1Record(bankEntry('task-5')),
    ];
    learner.restore(
      records.map((record, offset) => decodeBankEntry(codec, consumed(record, offset))),
    );

    expect(learner.bank.size).toBe(2);
    expect(learner.bank.get('task-4')?.query).toEqual(withQuery.query);
    expect(learner.bank.get('task-4')?.query).not.toEqual(withQuery.support);
    expect(learner.bank.get('task-5')).toBeDefined();
    expect(learner.bank.get('task-5')).not.toHaveProperty('query');
  });
});
