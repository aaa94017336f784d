import { describe, expect, it } from 'vitest';
import { type SendProgress, sendEpisodes } from '../../src/cli/episode-sender.js';
import { decodeEpisode, encodeEpisode } from '../../src/codec/codec.js';
import type { Episode } from '../../src/episode/episode.js';
import { sinusoidEpisodes } from '../../src/sources/sinusoid.js';
import { EmbeddedTransport } from '../../src/transport/embedded.js';
import { readToEnd } from '../../src/transport/read-to-end.js';
import type { ConsumedRecord, Producer, ProducerRecord } from '../../src/transport/transport.js';

/**
 * The sender over the embedded log: the same Transport semantics as Kafka, in memory, so
 * batching, pacing and the in-flight bound can be checked exactly and fast.
 */

const TOPIC = 'episodes';

async function embedded() {
  const transport = new EmbeddedTransport();
  await transport.createTopics([{ topic: TOPIC, numPartitions: 3 }]);
  return { transport, producer: await transport.producer() };
}

async function readAll(transport: EmbeddedTransport): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  await readToEnd(transport, TOPIC, (record) => records.push(record));
  return records;
}

/** A real producer whose sends are recorded (and optionally delayed) on their way. */
function observed(producer: Producer, delayMs = 0) {
  const batches: ProducerRecord[][] = [];
  let pending = 0;
  let mostPending = 0;
  const wrapped: Producer = {
    send: async (topic, records) => {
      batches.push(records);
      pending += 1;
      mostPending = Math.max(mostPending, pending);
      try {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return await producer.send(topic, records);
      } finally {
        pending -= 1;
      }
    },
    disconnect: () => producer.disconnect(),
  };
  return { producer: wrapped, batches, mostPending: () => mostPending };
}

describe('sendEpisodes', () => {
  it('sends every episode Avro-encoded and keyed by its task id', async () => {
    const { transport, producer } = await embedded();
    const episodes = [...sinusoidEpisodes({ seed: 3, count: 40, clock: () => 1 })];

    const summary = await sendEpisodes(episodes, { producer, topic: TOPIC });
    const records = await readAll(transport);

    expect(summary.episodes).toBe(40);
    expect(summary.wasInterrupted).toBe(false);
    expect(records).toHaveLength(40);
    for (const record of records) {
      const episode = decodeEpisode(record.value!, record.headers, record);
      expect(record.key).toBe(episode.taskId);
    }
    const sentIds = records.map((record) => record.key).sort();
    expect(sentIds).toEqual(episodes.map((episode) => episode.taskId).sort());
    await transport.close();
  });

  it('counts the Avro bytes it sent', async () => {
    const { transport, producer } = await embedded();
    const episodes = [...sinusoidEpisodes({ seed: 4, count: 10, clock: () => 1 })];
    const expected = episodes.reduce((sum, e) => sum + encodeEpisode(e).value.length, 0);

    const summary = await sendEpisodes(episodes, { producer, topic: TOPIC });

    expect(summary.bytes).toBe(expected);
    await transport.close();
  });

  it('keeps every batch within its byte budget; a larger episode goes alone', async () => {
    const { transport, producer } = await embedded();
    const small = [...sinusoidEpisodes({ seed: 5, count: 30, supportSize: 10 })];
    const large = [...sinusoidEpisodes({ seed: 6, count: 2, supportSize: 400 })];
    const budget = encodeEpisode(small[0]!).value.length * 4;
    const seen = observed(producer);

    await sendEpisodes([...small.slice(0, 15), ...large, ...small.slice(15)], {
      producer: seen.producer,
      topic: TOPIC,
      maxBatchBytes: budget,
    });

    const sizes = seen.batches.map((batch) => batch.reduce((sum, r) => sum + r.value!.length, 0));
    for (const [i, batch] of seen.batches.entries()) {
      expect(sizes[i]! <= budget || batch.length === 1).toBe(true);
    }
    expect(seen.batches.filter((batch) => batch.length === 1).length).toBeGreaterThanOrEqual(2);
    expect(seen.batches.flat()).toHaveLength(32);
    await transport.close();
  });

  it('never has more than maxInFlight batches waiting for acknowledgement', async () => {
    const { transport, producer } = await embedded();
    const seen = observed(producer, 20);

    await sendEpisodes(sinusoidEpisodes({ seed: 7, count: 60 }), {
      producer: seen.producer,
      topic: TOPIC,
      maxBatchEpisodes: 5,
      maxInFlight: 3,
    });

    expect(seen.batches).toHaveLength(12);
    expect(seen.mostPending()).toBe(3);
    expect(await readAll(transport)).toHaveLength(60);
    await transport.close();
  });

  it('paces episodes at the given rate, sending while it waits', async () => {
    const { transport, producer } = await embedded();
    const seen = observed(producer);
    const started = performance.now();

    // 30 episodes at 200/s: the last is due 145 ms after the first.
    const summary = await sendEpisodes(sinusoidEpisodes({ seed: 8, count: 30 }), {
      producer: seen.producer,
      topic: TOPIC,
      rate: 200,
    });

    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeGreaterThanOrEqual(140);
    expect(elapsedMs).toBeLessThan(5_000);
    expect(summary.episodes).toBe(30);
    // A batch waits at most 50 ms for more episodes, so 145 ms of pacing needs several.
    expect(seen.batches.length).toBeGreaterThanOrEqual(3);
    await transport.close();
  });

  it('stops reading on abort and still delivers what it read', async () => {
    const { transport, producer } = await embedded();
    const interrupt = new AbortController();
    const progress: SendProgress[] = [];

    const summary = await sendEpisodes(sinusoidEpisodes({ seed: 9 }), {
      producer,
      topic: TOPIC,
      rate: 500,
      signal: interrupt.signal,
      onProgress: (latest) => {
        progress.push(latest);
        if (latest.episodes >= 10) interrupt.abort();
      },
    });

    expect(summary.wasInterrupted).toBe(true);
    expect(summary.episodes).toBeGreaterThanOrEqual(10);
    expect(await readAll(transport)).toHaveLength(summary.episodes);
    await transport.close();
  });

  it("throws the source's error once the episodes before it are delivered", async () => {
    const { transport, producer } = await embedded();
    function* failing(): Generator<Episode> {
      yield* sinusoidEpisodes({ seed: 10, count: 5 });
      throw new RangeError('line 6 is broken');
    }

    await expect(sendEpisodes(failing(), { producer, topic: TOPIC })).rejects.toThrow(
      'line 6 is broken',
    );
    expect(await readAll(transport)).toHaveLength(5);
    await transport.close();
  });

  it('reports a send the log refuses', async () => {
    const { transport, producer } = await embedded();

    const sending = sendEpisodes(sinusoidEpisodes({ seed: 11, count: 3 }), {
      producer,
      topic: 'no-such-topic',
    });

    await expect(sending).rejects.toMatchObject({ name: 'TransportError' });
    await transport.close();
  });
});
