import * as ort from 'onnxruntime-node';
import { firstValueFrom, from, lastValueFrom, map, of, timer, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { DecodeError, defaultCodec } from '../../src/codec/index.js';
import { loadConfig } from '../../src/config/load.js';
import { topicNames } from '../../src/config/topics.js';
import { MappingEngine } from '../../src/engine/index.js';
import { SINUSOID } from '../../src/episode/families.js';
import { defaultEpisodeLimits, EpisodeValidationError } from '../../src/episode/validate.js';
import { readDeadLetterHeaders } from '../../src/stream/dead-letter-headers.js';
import { TombstoneError } from '../../src/stream/errors.js';
import { LearnerPort } from '../../src/stream/learner-port.js';
import { learnInBatches } from '../../src/stream/operators/batch.js';
import { decodeEpisodes, validateEpisodes } from '../../src/stream/operators/checks.js';
import {
  adaptMappings,
  encodeTasks,
  evaluateMappings,
  exportModels,
  generateMappings,
  rememberTasks,
} from '../../src/stream/operators/learn.js';
import { batchOutputs } from '../../src/stream/operators/outputs.js';
import type { Accepted, Checked, EpisodeBatch, Inbound } from '../../src/stream/types.js';
import type { ProducerRecord } from '../../src/transport/transport.js';
import { badInputs, MAX_EPISODE_BYTES, sinusoidRecords } from '../support/stream-inputs.js';

const codec = defaultCodec();
const config = loadConfig({ flags: { adapt: { steps: 5 } } });
const topics = topicNames(config);
const limits = { ...defaultEpisodeLimits, maxBytes: MAX_EPISODE_BYTES };

function inbound(record: ProducerRecord, offset = 0): Inbound {
  const consumed = {
    topic: topics.episodes,
    partition: 0,
    offset: String(offset),
    key: record.key,
    value: record.value,
    headers: Object.fromEntries(
      Object.entries(record.headers ?? {}).map(([name, value]) => [name, Buffer.from(value)]),
    ),
    timestamp: '0',
  };
  return {
    record: consumed,
    ticket: { topic: topics.episodes, partition: 0, offset: String(offset), epoch: 1 },
    consumedAt: performance.now(),
  };
}

function check(records: ProducerRecord[]): Promise<Checked[]> {
  return lastValueFrom(
    from(records.map((record, i) => inbound(record, i))).pipe(
      decodeEpisodes(codec),
      validateEpisodes(limits),
      toArray(),
    ),
  );
}

describe('decode and validate', () => {
  it('accept a valid episode with its family', async () => {
    const [checked] = await check(sinusoidRecords(1));
    expect(checked?.kind).toBe('accepted');
    expect((checked as Accepted).family).toBe(SINUSOID);
    expect(Object.keys(checked!.stageMs)).toEqual(['decode', 'validate']);
  });

  it('reject every kind of bad input with its dead-letter reason, and go on', async () => {
    const inputs = badInputs().filter((input) => input.reason !== 'diverged');
    const checked = await check([...inputs.map((input) => input.record), ...sinusoidRecords(1)]);

    expect(checked.map((item) => (item.kind === 'rejected' ? item.reason : item.kind))).toEqual([
      ...inputs.map((input) => input.reason),
      'accepted',
    ]);
  });

  it('give typed errors that name what was received and where', async () => {
    const byName = new Map(badInputs().map((input) => [input.name, input.record]));
    const [tombstone, union, nan] = await check([
      byName.get('tombstone')!,
      byName.get('union')!,
      byName.get('nan')!,
    ]);

    expect(tombstone?.kind === 'rejected' && tombstone.error).toBeInstanceOf(TombstoneError);
    expect(tombstone?.kind === 'rejected' && tombstone.error.message).toMatch(
      /allmap\.episodes partition 0 offset 0 has a null value/,
    );
    const unionError = union?.kind === 'rejected' ? union.error : undefined;
    expect(unionError).toBeInstanceOf(DecodeError);
    expect((unionError as DecodeError).reason).toBe('invalid-union-branch');
    const nanError = nan?.kind === 'rejected' ? nan.error : undefined;
    expect(nanError).toBeInstanceOf(EpisodeValidationError);
    expect(nanError?.message).toMatch(/support set input 1 \(row 1\) is NaN/);
  });
});

describe('learnInBatches', () => {
  const accepted = (name: string, family = SINUSOID): Accepted => ({
    kind: 'accepted',
    inbound: inbound({ key: name, value: null }),
    episode: { taskId: name } as Accepted['episode'],
    family,
    acceptedAt: performance.now(),
    stageMs: {},
  });
  const other = { ...SINUSOID, name: 'other-family' };

  /** Learning a batch takes `learnMs` of virtual time and emits the batch's task ids. */
  function marbles(source: string, expected: string, size: number, windowMs: number, learnMs = 3) {
    const scheduler = new TestScheduler((actual, wanted) => expect(actual).toEqual(wanted));
    scheduler.run(({ cold, expectObservable }) => {
      const values = {
        a: accepted('a'),
        b: accepted('b'),
        c: accepted('c'),
        x: accepted('x', other),
      };
      const names = (batch: EpisodeBatch) =>
        batch.items.map((item) => item.episode.taskId).join('');
      const learn = (batch: EpisodeBatch) =>
        timer(learnMs, scheduler).pipe(map(() => names(batch)));
      expectObservable(
        cold(source, values).pipe(learnInBatches({ size, windowMs }, learn, undefined, scheduler)),
      ).toBe(expected, { A: 'ab', B: 'abc', C: 'c', X: 'x', Y: 'a', Z: 'bc' });
    });
  }

  it('takes a full batch at once', () => {
    marbles('ab------|', '----A---|', 2, 100);
  });

  it('takes a partial batch when its window closes while the engine is free', () => {
    marbles('abc 5ms |', '--- 5ms (B|)', 10, 5);
  });

  it('gathers what arrives while a batch is learnt into the next batch', () => {
    marbles('abc------|', '---Y--Z--|', 10, 0, 3);
  });

  it('never mixes families in one batch, and takes turns by the oldest episode', () => {
    marbles('a-x---|', '-----Y--(X|)', 10, 2);
  });
});

describe('the learning stages on a real engine', () => {
  const engine = MappingEngine.create();
  const port = new LearnerPort(engine, {
    adapt: { steps: 5, learningRate: 0.01, optimizer: 'sgd' },
    meta: { ...config.meta },
    updateEngine: {},
    seed: 1,
    placement: 'inline',
  });
  afterAll(async () => {
    await port.close();
    await engine.dispose();
  });

  async function learn(records: ProducerRecord[]) {
    const checked = await check(records);
    const items = checked.filter((item): item is Accepted => item.kind === 'accepted');
    const batch: EpisodeBatch = {
      family: SINUSOID,
      spec: port.startBatch(SINUSOID).spec,
      items,
      stageMs: {},
    };
    return firstValueFrom(
      of(batch).pipe(
        encodeTasks(port),
        generateMappings(port),
        adaptMappings(engine),
        evaluateMappings(engine),
        exportModels(engine),
        rememberTasks(port, codec, { 'allmap-instance': 'test' }),
      ),
    );
  }

  it('adapt a batch in one run and lower the support loss', async () => {
    const learned = await learn(sinusoidRecords(6));
    expect(learned.context.metaVersion).toBe(0);
    expect(learned.z.every((z) => z.length === 0)).toBe(true);
    for (const result of learned.adapted) {
      expect(result.status).toBe('adapted');
      expect(result.lossTrace).toHaveLength(5);
      expect(result.lossTrace[4]!).toBeLessThan(result.lossTrace[0]!);
    }
    expect(Object.keys(learned.stageMs)).toEqual([
      'encode',
      'generate',
      'adapt',
      'evaluate',
      'export',
    ]);
  });

  it('export models that ONNX Runtime loads and runs, matching the evaluated mapping', async () => {
    const learned = await learn(sinusoidRecords(2));
    const episode = learned.items[0]!.episode;
    const session = await ort.InferenceSession.create(learned.onnx[0]!);
    const rows = episode.query.inputs.length;
    const { y } = await session.run({
      x: new ort.Tensor('float32', episode.query.inputs, [rows, 1]),
    });

    const targets = (episode.query.targets as { values: Float32Array }).values;
    const predicted = y!.data as Float32Array;
    const mse = predicted.reduce((sum, value, i) => sum + (value - targets[i]!) ** 2, 0) / rows;
    expect(mse).toBeCloseTo(learned.after[0]!.loss, 3);
  });

  it('remember adapted tasks and write them as bank records', async () => {
    const learned = await learn(sinusoidRecords(3, 7));
    for (const records of learned.bankRecords) {
      expect(records.length).toBeGreaterThanOrEqual(1);
      expect(records[0]!.headers?.['allmap-instance']).toBe('test');
    }
    expect(port.bankSize('sinusoid')).toBeGreaterThanOrEqual(3);
  });

  it('never exports a diverged mapping: a failed model record and a dead letter instead', async () => {
    const diverged = badInputs().find((input) => input.reason === 'diverged')!;
    const learned = await learn([diverged.record, ...sinusoidRecords(1)]);
    expect(learned.adapted.map((result) => result.status)).toEqual(['diverged', 'adapted']);
    expect(learned.onnx[0]).toBeUndefined();
    expect(learned.bankRecords[0]).toEqual([]);

    const [failed, ok] = await firstValueFrom(of(learned).pipe(batchOutputs(codec, topics)));
    expect(failed!.outcome.status).toBe('diverged');
    const model = failed!.outputs.find((output) => output.topic === topics.models)!.record;
    const decoded = codec.decode('AdaptedModel', model.value!, model.headers as never, {
      topic: topics.models,
      partition: 0,
      offset: '0',
    });
    expect(decoded.onnx.length).toBe(0);
    expect(decoded.metrics.status).toBe('failed');

    const deadLetter = failed!.outputs.find((output) => output.topic === topics.deadLetter)!.record;
    expect(deadLetter.value).toEqual(diverged.record.value);
    const headers = readDeadLetterHeaders(deadLetter.headers as Record<string, string>);
    expect(headers.reason).toBe('diverged');
    expect(headers.error).toMatch(/diverged: support loss per step/);
    expect(ok!.outputs.map((output) => output.topic)).toEqual(
      expect.arrayContaining([topics.models, topics.metrics, topics.bank]),
    );
  });
});
