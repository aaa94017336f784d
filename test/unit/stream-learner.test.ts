import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { topicNames, topicSpecs } from '../../src/config/topics.js';
import { createRootLogger } from '../../src/log/logger.js';
import { type LearnerService, startLearner } from '../../src/stream/learner-service.js';
import type { EpisodeOutcome } from '../../src/stream/types.js';
import { EmbeddedTransport } from '../../src/transport/embedded.js';
import { TransportError } from '../../src/transport/errors.js';
import type {
  ProducerRecord,
  Transaction,
  TransactionalProducer,
} from '../../src/transport/transport.js';
import { badInputs, MAX_EPISODE_BYTES, sinusoidRecords } from '../support/stream-inputs.js';
import {
  countByKey,
  isFullyCommitted,
  readAll,
  readDeadLetters,
  readModels,
  waitFor,
} from '../support/stream-topics.js';

/**
 * The whole learner on the embedded transport: the same pipeline, delivery and recovery code
 * as on Kafka, in milliseconds. test/integration/stream-*.test.ts repeat the essentials on a
 * real broker, with real processes.
 */

function testConfig(overrides: Record<string, unknown> = {}): Config {
  const { stream, meta, kafka, ...rest } = overrides as Record<string, Record<string, unknown>>;
  return loadConfig({
    flags: {
      logLevel: (process.env.ALLMAP_LOG_LEVEL ?? 'error') as never,
      metrics: { enabled: false },
      adapt: { steps: 3 },
      kafka: { partitions: 2, ...kafka },
      stream: { batchSize: 8, batchWindowMs: 5, maxEpisodeBytes: MAX_EPISODE_BYTES, ...stream },
      meta: { everyEpisodes: 100_000, ...meta },
      ...rest,
    },
  });
}

const services: LearnerService[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.stop()));
});

/**
 * The embedded transport, except that the first `failures` transaction commits fail as a
 * broker timeout would: what the learner must survive by recreating its producer.
 */
class FailingCommits extends EmbeddedTransport {
  readonly producersCreated: string[] = [];

  constructor(private failures: number) {
    super();
  }

  override async transactionalProducer(id: string): Promise<TransactionalProducer> {
    this.producersCreated.push(id);
    const producer = await super.transactionalProducer(id);
    return {
      transactionalId: id,
      disconnect: () => producer.disconnect(),
      begin: async (): Promise<Transaction> => {
        const transaction = await producer.begin();
        return {
          send: (topic, records) => transaction.send(topic, records),
          sendOffsets: (group, offsets) => transaction.sendOffsets(group, offsets),
          abort: () => transaction.abort(),
          commit: async () => {
            if (this.failures-- > 0) {
              throw new TransportError('REQUEST_TIMED_OUT', 'commit timed out', {
                isRetriable: true,
              });
            }
            await transaction.commit();
          },
        };
      },
    };
  }
}

async function start(config: Config, transport: EmbeddedTransport) {
  const logger = createRootLogger({ level: config.logLevel }).child({ component: 'stream' });
  const service = await startLearner({ config, transport, logger });
  services.push(service);
  const outcomes: EpisodeOutcome[] = [];
  service.outcomes$.subscribe((outcome) => outcomes.push(outcome));
  return { service, outcomes };
}

async function produce(transport: EmbeddedTransport, config: Config, records: ProducerRecord[]) {
  await transport.createTopics(topicSpecs(config));
  const producer = await transport.producer();
  await producer.send(topicNames(config).episodes, records);
}

describe.each(['at-least-once', 'exactly-once'] as const)(
  'allmap run (%s, embedded)',
  (delivery) => {
    it('publishes one model per episode, dead-letters every bad input, and commits it all', async () => {
      const config = testConfig({ kafka: { delivery } });
      const topics = topicNames(config);
      const transport = new EmbeddedTransport();
      const good = sinusoidRecords(40);
      const bad = badInputs();
      await produce(transport, config, [
        ...good.slice(0, 20),
        ...bad.map((b) => b.record),
        ...good.slice(20),
      ]);

      const { outcomes } = await start(config, transport);
      await waitFor(() => outcomes.length === good.length + bad.length, 'every episode');
      await waitFor(
        () => isFullyCommitted(transport, config.kafka.groupId, topics.episodes),
        'commits',
      );

      const models = await readModels(transport, topics.models);
      const counts = countByKey(models);
      for (const record of good) expect(counts.get(record.key)).toBe(1);
      expect(models.find((model) => model.taskId === 'bad-diverged')?.metrics.status).toBe(
        'failed',
      );
      expect(models.filter((model) => model.metrics.status === 'ok')).toHaveLength(good.length);

      const deadLetters = await readDeadLetters(transport, topics.deadLetter);
      expect(new Map(deadLetters.map((letter) => [letter.key, letter.reason]))).toEqual(
        new Map(bad.map((input) => [input.record.key, input.reason])),
      );
      const union = deadLetters.find((letter) => letter.key === 'bad-union')!;
      expect(union.value).toEqual(bad.find((input) => input.name === 'union')!.record.value);
      expect(union.sourceTopic).toBe(topics.episodes);
      expect(union.error).toMatch(/invalid-union-branch/);
      expect(union.headers['allmap-schema']?.toString()).toMatch(/^Episode@/);

      const metrics = await readAll(transport, topics.metrics);
      expect(metrics.length).toBe(good.length + 1);
    });
  },
);

describe('allmap run on the embedded transport', () => {
  it('recreates a transactional producer whose commit failed, and still commits exactly once', async () => {
    const config = testConfig({ kafka: { delivery: 'exactly-once', partitions: 1 } });
    const topics = topicNames(config);
    const transport = new FailingCommits(2);
    const records = sinusoidRecords(30);
    await produce(transport, config, records);

    const { outcomes } = await start(config, transport);
    await waitFor(() => outcomes.length === 30, 'every episode');

    const id = `${config.kafka.groupId}.${topics.episodes}.0`;
    expect(transport.producersCreated.filter((created) => created === id)).toHaveLength(3);
    const counts = countByKey(await readModels(transport, topics.models));
    for (const record of records) expect(counts.get(record.key)).toBe(1);
    expect(await isFullyCommitted(transport, config.kafka.groupId, topics.episodes)).toBe(true);
  });

  it('keeps episodes in flight under stream.maxInFlight, pausing and resuming the consumer', async () => {
    const config = testConfig({ stream: { maxInFlight: 12, batchSize: 4 } });
    const transport = new EmbeddedTransport();
    await produce(transport, config, sinusoidRecords(300));

    const { service, outcomes } = await start(config, transport);
    let highest = 0;
    const sampler = setInterval(() => {
      highest = Math.max(highest, service.inFlight);
    }, 1);
    await waitFor(() => outcomes.length === 300, 'every episode');
    clearInterval(sampler);

    expect(highest).toBeGreaterThan(0);
    expect(highest).toBeLessThanOrEqual(12);
  });

  it('drains on stop: what was taken is published and committed, the rest is read after a restart', async () => {
    const config = testConfig();
    const topics = topicNames(config);
    const transport = new EmbeddedTransport();
    const records = sinusoidRecords(400);
    await produce(transport, config, records);

    const first = await start(config, transport);
    await waitFor(() => first.outcomes.length >= 50, 'some episodes');
    await first.service.stop();
    const done = first.outcomes.length;
    expect(done).toBeLessThan(400);
    expect(first.service.inFlight).toBe(0);

    const second = await start(config, transport);
    await waitFor(() => done + second.outcomes.length >= 400, 'the rest');
    const counts = countByKey(await readModels(transport, topics.models));
    for (const record of records) expect(counts.get(record.key)).toBe(1);
  });

  it('abandons a meta-update in progress on stop: publishes nothing from it', async () => {
    // One update of 400 steps on a bank of 150 takes seconds; its result must be dropped.
    const config = testConfig({
      kafka: { partitions: 1 },
      meta: { everyEpisodes: 100, minBankSize: 100, stepsPerUpdate: 400 },
    });
    const topics = topicNames(config);
    const transport = new EmbeddedTransport();
    await produce(transport, config, sinusoidRecords(150));

    const first = await start(config, transport);
    await waitFor(() => first.outcomes.length >= 150, 'every episode');
    await first.service.stop();

    expect(await readAll(transport, topics.meta)).toEqual([]);
  });

  it('applies meta versions between batches and, after a restart, goes on from the last one', async () => {
    const config = testConfig({
      kafka: { partitions: 1 },
      meta: { everyEpisodes: 100, minBankSize: 100, stepsPerUpdate: 60 },
    });
    const topics = topicNames(config);
    const transport = new EmbeddedTransport();
    await produce(transport, config, sinusoidRecords(200));

    const first = await start(config, transport);
    const versions: number[] = [];
    first.service.metaVersions$.subscribe((version) => versions.push(version.metaVersion));
    // A candidate no better than cold start is not adopted: keep tasks coming until one is.
    for (let wave = 1; versions.length === 0; wave++) {
      await waitFor(() => first.outcomes.length >= 100 * wave, 'the episodes so far', 60_000);
      await produce(transport, config, sinusoidRecords(100, 10 + wave));
      expect(wave).toBeLessThan(40);
    }
    await first.service.stop();

    // One partition: offset order is processing order, and versions only ever go up.
    const models = await readModels(transport, topics.models);
    const used = models.map((model) => model.metaVersion);
    expect(used).toEqual([...used].sort((a, b) => a - b));

    const last = Math.max(...versions);
    const fresh = sinusoidRecords(16, 2);
    await produce(transport, config, fresh);
    const second = await start(config, transport);
    await waitFor(
      () =>
        second.outcomes.filter((outcome) => outcome.taskId?.startsWith('task-2-')).length === 16,
      'the new episodes',
    );
    const freshOutcomes = second.outcomes.filter((outcome) =>
      outcome.taskId?.startsWith('task-2-'),
    );
    expect(freshOutcomes.every((outcome) => outcome.metaVersion === last)).toBe(true);
  }, 120_000);
});
