import { afterAll, describe, expect, it } from 'vitest';
import { encodeEpisode } from '../../src/codec/codec.js';
import { sinusoidEpisodes } from '../../src/sources/sinusoid.js';
import { sendOutputs } from '../../src/stream/delivery.js';
import type { ProducerRecord } from '../../src/transport/transport.js';
import { AllmapProcess, scrapeMetrics } from '../support/learner-process.js';
import { type StreamSetup, streamSetup } from '../support/stream-kafka.js';
import { countByKey, isFullyCommitted, readModels, waitFor } from '../support/stream-topics.js';

const MAX_IN_FLIGHT = 64;
/**
 * Resident memory may grow this much over the burst: heap churn and ONNX Runtime's arenas
 * move it by tens of MiB whatever the backlog; a backlog held in memory would come on top.
 */
const MAX_GROWTH = 100 * 2 ** 20;
/** Query points per episode: about 8 kB an episode, so a buffered backlog would show in RSS. */
const QUERY_SIZE = 1_000;
const BURST = 1_200;
/** Support points and steps that make adapting cost more than moving the bytes. */
const SUPPORT_SIZE = 200;

/** One producer per partition, all sending at once: a burst as fast as the broker takes it. */
async function produceInParallel(setup: StreamSetup, burst: ProducerRecord[]): Promise<void> {
  const partitions = [0, 1, 2, 3];
  const producers = await Promise.all(partitions.map(() => setup.transport.producer()));
  await Promise.all(
    partitions.map(async (partition) => {
      const outputs = burst
        .filter((_, i) => i % partitions.length === partition)
        .map((record) => ({ topic: setup.topics.episodes, record: { ...record, partition } }));
      const producer = producers[partition]!;
      await sendOutputs((topic, chunk) => producer.send(topic, chunk), outputs);
    }),
  );
  await Promise.all(producers.map((producer) => producer.disconnect()));
}

function records(count: number, seed: number): ProducerRecord[] {
  return [
    ...sinusoidEpisodes({ seed, count, querySize: QUERY_SIZE, supportSize: SUPPORT_SIZE }),
  ].map((episode, i) => {
    const taskId = `burst-${seed}-${i}`;
    return { key: taskId, ...encodeEpisode({ ...episode, taskId }) };
  });
}

/**
 * A burst of episodes ten times faster than the learner can adapt them. The backlog stays in
 * Kafka: the learner holds at most `stream.maxInFlight` episodes, its resident memory stays
 * within a fixed bound of where it was before the burst, and every episode gets its model.
 * The in-flight bound is what keeps memory flat; at this backlog size (about 10 MiB, what a
 * test can produce and drain in half a minute on two cores) RSS alone would not tell a
 * bounded learner from one that buffers everything.
 */
describe('allmap run under a burst, on Kafka', () => {
  let setup: StreamSetup;
  let learner: AllmapProcess | undefined;
  afterAll(async () => {
    learner?.kill('SIGKILL');
    await setup?.close();
  });

  it('keeps resident memory bounded and loses nothing', async () => {
    setup = await streamSetup('burst', {
      ALLMAP_STREAM_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
      ALLMAP_STREAM_MAX_EPISODE_BYTES: String(1 << 20),
      // Enough steps that adapting, not moving bytes, bounds the learner: the burst must
      // arrive ten times faster than the learner can take it, however fast the engine gets.
      ALLMAP_ADAPT_STEPS: '150',
    });
    const { transport, topics, groupId, env } = setup;
    learner = new AllmapProcess(['run'], env);
    const port = Number(
      (
        await learner.waitForLog(
          (line) => line.msg?.startsWith('serving /metrics') === true,
          'a port',
        )
      ).port,
    );

    // Warm up: sessions built, heap grown to its working size.
    const warmUp = records(300, 1);
    await setup.produce(warmUp);
    await waitFor(
      () => isFullyCommitted(transport, groupId, topics.episodes),
      'warm-up',
      60_000,
      100,
    );
    const baseline = (await scrapeMetrics(port)).get('process_resident_memory_bytes')!;

    const burst = records(BURST, 2);
    const producedAt = Date.now();
    await produceInParallel(setup, burst);
    const offered = BURST / ((Date.now() - producedAt) / 1000);

    let peakMemory = baseline;
    let peakInFlight = 0;
    await waitFor(
      async () => {
        const metrics = await scrapeMetrics(port);
        peakMemory = Math.max(peakMemory, metrics.get('process_resident_memory_bytes')!);
        peakInFlight = Math.max(peakInFlight, metrics.get('allmap_episodes_in_flight')!);
        return isFullyCommitted(transport, groupId, topics.episodes);
      },
      'the burst',
      150_000,
      250,
    );

    // The learner at saturation is its sustainable rate; the burst came ten times faster.
    const sustainable = BURST / ((Date.now() - producedAt) / 1000);
    const backlogBytes = burst.reduce((sum, record) => sum + record.value!.length, 0);
    process.stderr.write(
      `[burst] sustainable ${sustainable.toFixed(0)}/s, offered ${offered.toFixed(0)}/s, ` +
        `peak in flight ${peakInFlight}, RSS ${(baseline / 2 ** 20).toFixed(0)} -> ` +
        `${(peakMemory / 2 ** 20).toFixed(0)} MiB, backlog ${(backlogBytes / 2 ** 20).toFixed(0)} MiB\n`,
    );

    expect(offered).toBeGreaterThan(10 * sustainable);
    expect(peakInFlight).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(peakMemory - baseline).toBeLessThan(MAX_GROWTH);
    const counts = countByKey(await readModels(transport, topics.models));
    expect([...warmUp, ...burst].filter((record) => !counts.has(record.key))).toEqual([]);
  });
});
