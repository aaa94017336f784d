/**
 * End-to-end throughput and latency of `allmap run` through a real Kafka broker, for W1
 * (sinusoid) and W2 (5-way 1-shot Fashion-MNIST), next to its two ceilings:
 * - the raw pipe: the same episode records consumed and produced again through the same
 *   broker, nothing learnt (what Kafka and the client allow on this machine);
 * - the engine alone: the same episodes through phi, psi, adapt, evaluate and export, in one
 *   process, no Kafka (what the numeric work allows).
 * The learner runs as its own process (`node --import tsx src/cli/entry.ts run`, default
 * config: micro-batches of 16 within 20 ms, 10 adaptation steps, at-least-once); latency is
 * from handing an episode to the producer to receiving its model on the models topic.
 * Meta-updates are switched off so that the stream itself is measured.
 *
 *   npm run bench:stream [-- --workloads w1,w2 --w1 3000 --w2 240]
 *
 * The broker comes from KAFKA_BROKERS, or is started from the jars as the tests start it.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { firstValueFrom, of } from 'rxjs';
import { defaultCodec, encodeEpisode } from '../src/codec/index.js';
import { loadConfig } from '../src/config/load.js';
import { type TopicNames, topicNames, topicSpecs } from '../src/config/topics.js';
import { MappingEngine } from '../src/engine/index.js';
import type { Episode } from '../src/episode/episode.js';
import { defaultEpisodeLimits, validateEpisode } from '../src/episode/validate.js';
import { createRootLogger } from '../src/log/logger.js';
import { fashionMnistEpisodes } from '../src/sources/fashion-mnist.js';
import { loadFashionMnist } from '../src/sources/fashion-mnist-data.js';
import { sinusoidEpisodes } from '../src/sources/sinusoid.js';
import { sendOutputs } from '../src/stream/delivery.js';
import { LearnerPort, specOf } from '../src/stream/learner-port.js';
import {
  adaptMappings,
  encodeTasks,
  evaluateMappings,
  exportModels,
  generateMappings,
} from '../src/stream/operators/learn.js';
import type { Accepted } from '../src/stream/types.js';
import { connectKafka } from '../src/transport/kafka.js';
import type { Consumer, ProducerRecord, Transport } from '../src/transport/transport.js';
import { startKafkaBroker } from '../test/support/kafka-broker.js';
import { AllmapProcess } from '../test/support/learner-process.js';

const { values } = parseArgs({
  options: {
    workloads: { type: 'string', default: 'w1,w2' },
    w1: { type: 'string', default: '3000' },
    w2: { type: 'string', default: '240' },
  },
});

const config = loadConfig({});
const log = createRootLogger({ level: 'warn' });
const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);

interface Workload {
  readonly name: string;
  readonly episodes: (count: number, seed: number) => Promise<Episode[]>;
  readonly count: number;
}

const allWorkloads: Workload[] = [
  {
    name: 'W1 sinusoid',
    count: Number(values.w1),
    episodes: async (count, seed) => [...sinusoidEpisodes({ seed, count })],
  },
  {
    name: 'W2 fashion 5-way 1-shot',
    count: Number(values.w2),
    episodes: async (count, seed) => [
      ...fashionMnistEpisodes(await loadFashionMnist('train'), { seed, count, ways: 5, shots: 1 }),
    ],
  },
];
const workloads = allWorkloads.filter((_, i) => values.workloads.split(',').includes(`w${i + 1}`));

interface Figures {
  engine: number;
  pipe: number;
  saturation: Run;
  half: Run;
}

interface Run {
  offered: number;
  throughput: number;
  p50: number;
  p99: number;
}

const broker = await startKafkaBroker({ onProgress: progress });
progress(broker.description);
const transport = await connectKafka({ brokers: broker.brokers, clientId: 'bench', logger: log });
const results: Array<[string, Figures]> = [];
try {
  for (const workload of workloads) results.push([workload.name, await measure(workload)]);
} finally {
  await transport.close();
  await broker.stop();
}
process.stdout.write(table(results));

async function measure(workload: Workload): Promise<Figures> {
  const episodes = await workload.episodes(workload.count, 1);
  progress(`${workload.name}: ${episodes.length} episodes`);

  const engine = await engineAlone(episodes);
  progress(`${workload.name}: engine alone ${engine.toFixed(0)} episodes/s`);
  const pipe = await rawPipe(episodes);
  progress(`${workload.name}: raw pipe ${pipe.toFixed(0)} episodes/s`);

  const learner = await startLearnerProcess();
  try {
    await learner.run(await workload.episodes(Math.min(200, episodes.length), 2), 0);
    const saturation = await learner.run(records(episodes, 'saturation'), 0);
    progress(
      `${workload.name}: learner at saturation ${saturation.throughput.toFixed(0)} episodes/s`,
    );
    const halfEpisodes = await workload.episodes(episodes.length, 3);
    const half = await learner.run(records(halfEpisodes, 'half'), saturation.throughput / 2);
    return { engine, pipe, saturation, half };
  } finally {
    await learner.stop();
  }
}

function records(episodes: readonly Episode[], phase: string): Episode[] {
  return episodes.map((episode, i) => ({ ...episode, taskId: `${phase}-${i}` }));
}

/** phi, psi, adapt, evaluate and export on decoded episodes, batch after batch, in process. */
async function engineAlone(episodes: readonly Episode[]): Promise<number> {
  const engine = MappingEngine.create();
  const port = new LearnerPort(engine, {
    adapt: config.adapt,
    meta: config.meta,
    updateEngine: {},
    seed: 1,
    placement: 'inline',
  });
  const accepted = episodes.map(
    (episode): Accepted => ({
      kind: 'accepted',
      inbound: undefined as never,
      episode,
      family: validateEpisode(episode, defaultEpisodeLimits),
      acceptedAt: 0,
      stageMs: {},
    }),
  );
  const learn = (items: Accepted[]) =>
    firstValueFrom(
      of({ family: items[0]!.family, spec: specOf(items[0]!.family), items, stageMs: {} }).pipe(
        encodeTasks(port),
        generateMappings(port),
        adaptMappings(engine),
        evaluateMappings(engine),
        exportModels(engine),
      ),
    );

  const size = config.stream.batchSize;
  await learn(accepted.slice(0, size)); // sessions built outside the measurement
  const started = performance.now();
  for (let i = 0; i < accepted.length; i += size) await learn(accepted.slice(i, i + size));
  const seconds = (performance.now() - started) / 1000;
  await port.close();
  await engine.dispose();
  return accepted.length / seconds;
}

/** The same records consumed and produced again through the broker, nothing learnt. */
async function rawPipe(episodes: readonly Episode[]): Promise<number> {
  const id = randomUUID().slice(0, 8);
  const input = `bench-pipe-${id}.in`;
  const output = `bench-pipe-${id}.out`;
  await transport.createTopics([
    { topic: input, numPartitions: config.kafka.partitions },
    { topic: output, numPartitions: config.kafka.partitions },
  ]);
  await send(transport, input, episodes.map(toRecord));

  const producer = await transport.producer();
  let piped = 0;
  const started = performance.now();
  let consumer: Consumer | undefined;
  consumer = await transport.consume({
    groupId: `bench-pipe-${id}`,
    topics: [input],
    autoOffsetReset: 'earliest',
    eachBatch: async (batch) => {
      const outputs = batch.records.map((record) => ({
        topic: output,
        record: { key: record.key!, value: record.value, headers: record.headers },
      }));
      await sendOutputs((topic, chunk) => producer.send(topic, chunk), outputs);
      const last = batch.records.at(-1)!;
      await consumer?.commit([{ ...batch, offset: String(BigInt(last.offset) + 1n) }]);
      piped += batch.records.length;
    },
  });
  while (piped < episodes.length) await sleep(5);
  const seconds = (performance.now() - started) / 1000;
  await consumer.stop();
  await producer.disconnect();
  return episodes.length / seconds;
}

interface LearnerUnderTest {
  /** Sends episodes (paced at `rate` per second, or all at once for 0), waits for every model. */
  run(episodes: readonly Episode[], rate: number): Promise<Run>;
  stop(): Promise<void>;
}

async function startLearnerProcess(): Promise<LearnerUnderTest> {
  const id = randomUUID().slice(0, 8);
  const prefix = `bench-${id}.`;
  const benchConfig = loadConfig({ flags: { kafka: { topicPrefix: prefix } } });
  const topics: TopicNames = topicNames(benchConfig);
  await transport.createTopics(topicSpecs(benchConfig));

  const learner = new AllmapProcess(['run'], {
    ALLMAP_KAFKA_BROKERS: broker.brokers.join(','),
    ALLMAP_KAFKA_TOPIC_PREFIX: prefix,
    ALLMAP_KAFKA_GROUP_ID: `bench-${id}`,
    ALLMAP_KAFKA_MAX_WAIT_TIME_MS: '100',
    ALLMAP_METRICS_PORT: '0',
    ALLMAP_META_EVERY_EPISODES: '100000000',
    ALLMAP_META_EVERY_SECONDS: '100000000',
    ALLMAP_LOG_LEVEL: 'warn',
  });
  const received = new Map<string, number>();
  const models = await transport.consume({
    groupId: `bench-models-${id}`,
    topics: [topics.models],
    autoOffsetReset: 'earliest',
    isolationLevel: 'read_uncommitted',
    eachBatch: async ({ records: batch }) => {
      const now = performance.now();
      for (const record of batch) if (!received.has(record.key!)) received.set(record.key!, now);
    },
  });
  const producer = await transport.producer();

  return {
    run: async (episodes, rate) => {
      const sentAt = new Map<string, number>();
      const started = performance.now();
      const step = rate > 0 ? Math.max(1, Math.round(rate / 100)) : 64;
      for (let i = 0; i < episodes.length; i += step) {
        const chunk = episodes.slice(i, i + step);
        const now = performance.now();
        for (const episode of chunk) sentAt.set(episode.taskId, now);
        await send(transport, topics.episodes, chunk.map(toRecord), producer);
        if (rate > 0) await sleep(((i + step) / rate) * 1000 - (performance.now() - started));
      }
      const offered = episodes.length / ((performance.now() - started) / 1000);

      await waitUntil(() => episodes.every((episode) => received.has(episode.taskId)), 600_000);
      const latencies = episodes
        .map((episode) => received.get(episode.taskId)! - sentAt.get(episode.taskId)!)
        .sort((a, b) => a - b);
      const last = Math.max(...episodes.map((episode) => received.get(episode.taskId)!));
      return {
        offered,
        throughput: episodes.length / ((last - started) / 1000),
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
      };
    },
    stop: async () => {
      learner.kill('SIGTERM');
      await learner.exited;
      await models.stop();
      await producer.disconnect();
    },
  };
}

function toRecord(episode: Episode): ProducerRecord {
  return { key: episode.taskId, ...encodeEpisode(episode, defaultCodec()) };
}

async function send(
  target: Transport,
  topic: string,
  batch: ProducerRecord[],
  producer?: Awaited<ReturnType<Transport['producer']>>,
): Promise<void> {
  const owned = producer ?? (await target.producer());
  const outputs = batch.map((record) => ({ topic, record }));
  await sendOutputs((name, chunk) => owned.send(name, chunk), outputs);
  if (producer === undefined) await owned.disconnect();
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`no models after ${timeoutMs} ms`);
    await sleep(10);
  }
}

function table(rows: Array<[string, Figures]>): string {
  const f = (value: number) => value.toFixed(0);
  const lines = [
    '| workload | engine alone | raw pipe | learner at saturation | vs slower ceiling | p50 / p99 at saturation | offered at half | achieved | p50 / p99 at half |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const [name, { engine, pipe, saturation, half }] of rows) {
    const ratio = saturation.throughput / Math.min(engine, pipe);
    lines.push(
      `| ${name} | ${f(engine)}/s | ${f(pipe)}/s | ${f(saturation.throughput)}/s | ` +
        `${(ratio * 100).toFixed(0)}% | ${f(saturation.p50)} / ${f(saturation.p99)} ms | ` +
        `${f(half.offered)}/s | ${f(half.throughput)}/s | ${f(half.p50)} / ${f(half.p99)} ms |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
