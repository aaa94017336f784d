import { setTimeout as sleep } from 'node:timers/promises';
import { type AvroCodec, defaultCodec, encodeEpisode } from '../codec/codec.js';
import type { Episode } from '../episode/episode.js';
import type { Producer, ProducerRecord } from '../transport/transport.js';

/**
 * Sends a stream of episodes to the episodes topic: Avro-encoded, keyed by task id (so every
 * episode of a task lands on one partition, in order), in small batches, with a bounded
 * number of batches waiting for their acknowledgement, optionally at a fixed rate.
 */

export interface SendOptions {
  readonly producer: Producer;
  readonly topic: string;
  /** Episodes per second; 0 or absent sends as fast as the broker acknowledges. */
  readonly rate?: number;
  /**
   * Batches sent but not yet acknowledged, at most; 1 unless given. While one batch is on
   * its way the next is built, so 1 already overlaps encoding with sending. More is safe
   * only with a producer whose retries cannot reorder records across sends: kafkajs's
   * idempotent producer (the Kafka transport's) rolls back the sequence numbers of a whole
   * failed request, so a later send can reuse them and the broker refuses it with
   * OUT_OF_ORDER_SEQUENCE_NUMBER, or drops it as a duplicate.
   */
  readonly maxInFlight?: number;
  /** Avro bytes a batch may hold; 768 KiB unless given. */
  readonly maxBatchBytes?: number;
  /** Episodes a batch may hold; 500 unless given. */
  readonly maxBatchEpisodes?: number;
  /** Aborting stops reading the source; what was read is still sent and acknowledged. */
  readonly signal?: AbortSignal;
  /** Called after each acknowledged batch with the totals so far. */
  readonly onProgress?: (progress: SendProgress) => void;
  readonly codec?: AvroCodec;
}

export interface SendProgress {
  /** Episodes acknowledged by the broker. */
  readonly episodes: number;
  /** Bytes of their Avro values. */
  readonly bytes: number;
  readonly batches: number;
  /** Seconds since the first episode was read. */
  readonly seconds: number;
}

export interface SendSummary extends SendProgress {
  /** Whether the signal stopped the run before the source ended. */
  readonly wasInterrupted: boolean;
}

/**
 * With a rate, a batch waits at most this long for more episodes, so a slow stream still
 * reaches the broker promptly instead of when a batch fills.
 */
const LINGER_MS = 50;

/**
 * Kafka refuses a record batch over the topic's `max.message.bytes` (1 MB by default), and
 * one send writes each partition's share of a batch as one record batch. Keeping a whole
 * batch under that limit, with room for record overheads, keeps every share under it,
 * whatever the partitioning; larger batches mean fewer requests, which the idempotent
 * producer sends one at a time per broker.
 */
const DEFAULT_BATCH_BYTES = 768 * 1024;

/**
 * Reads `source` to its end (or until the signal), sending as it goes, and resolves once
 * every episode read is acknowledged. An error from the source or from a send stops the
 * reading; batches already sent are awaited first, then the first error is thrown.
 */
export async function sendEpisodes(
  source: Iterable<Episode> | AsyncIterable<Episode>,
  options: SendOptions,
): Promise<SendSummary> {
  const sender = new BatchSender(options);
  let failure: { error: unknown } | undefined;
  let wasInterrupted = false;

  try {
    for await (const episode of interruptible(source, options.signal)) {
      await sender.add(episode);
    }
    wasInterrupted = options.signal?.aborted === true;
  } catch (error) {
    failure = { error };
  }

  // Whatever stopped the reading, what was read is sent and acknowledged before returning.
  const sendFailure = await sender.finish();
  if (failure) throw failure.error;
  if (sendFailure) throw sendFailure.error;
  return { ...sender.progress(), wasInterrupted };
}

class BatchSender {
  private batch: ProducerRecord[] = [];
  private batchBytes = 0;
  private batchStartedAt = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;
  private startedAt: number | undefined;
  private read = 0;
  private acknowledged = { episodes: 0, bytes: 0, batches: 0 };

  private readonly maxInFlight: number;
  private readonly maxBatchBytes: number;
  private readonly maxBatchEpisodes: number;
  private readonly codec: AvroCodec;

  constructor(private readonly options: SendOptions) {
    this.maxInFlight = options.maxInFlight ?? 1;
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_BATCH_BYTES;
    this.maxBatchEpisodes = options.maxBatchEpisodes ?? 500;
    this.codec = options.codec ?? defaultCodec();
  }

  async add(episode: Episode): Promise<void> {
    if (this.failure) throw this.failure.error;
    this.startedAt ??= performance.now();

    // Pacing: episode i is due i / rate seconds after the first one.
    await this.waitUntilDue(this.read);

    const { value, headers } = encodeEpisode(episode, this.codec);
    // A batch never grows past the byte budget; an episode larger than it goes alone.
    if (this.batch.length > 0 && this.batchBytes + value.length > this.maxBatchBytes) {
      await this.flush();
    }
    if (this.batch.length === 0) this.batchStartedAt = performance.now();
    this.batch.push({ key: episode.taskId, value, headers });
    this.batchBytes += value.length;
    this.read += 1;

    const isFull =
      this.batchBytes >= this.maxBatchBytes || this.batch.length >= this.maxBatchEpisodes;
    if (isFull || this.hasLingered()) await this.flush();
  }

  /** Sends the last batch and waits for every acknowledgement; returns the first failure. */
  async finish(): Promise<{ error: unknown } | undefined> {
    if (!this.failure && this.batch.length > 0) await this.flush().catch(() => {});
    await Promise.allSettled([...this.inFlight]);
    return this.failure;
  }

  progress(): SendProgress {
    const seconds = this.startedAt === undefined ? 0 : (performance.now() - this.startedAt) / 1000;
    return { ...this.acknowledged, seconds };
  }

  private async waitUntilDue(index: number): Promise<void> {
    const rate = this.options.rate ?? 0;
    if (rate <= 0 || this.startedAt === undefined) return;

    const waitMs = this.startedAt + (index * 1000) / rate - performance.now();
    if (waitMs <= 0) return;
    // A batch that would wait past the linger time goes now rather than after the sleep.
    if (this.batch.length > 0 && performance.now() + waitMs - this.batchStartedAt >= LINGER_MS) {
      await this.flush();
    }
    await sleep(waitMs);
  }

  private hasLingered(): boolean {
    const rate = this.options.rate ?? 0;
    return rate > 0 && performance.now() - this.batchStartedAt >= LINGER_MS;
  }

  /** Sends the current batch; waits first while `maxInFlight` batches are unacknowledged. */
  private async flush(): Promise<void> {
    while (this.inFlight.size >= this.maxInFlight) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure.error;

    const records = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;

    const sending = this.options.producer.send(this.options.topic, records).then(
      () => this.acknowledge(records.length, bytes),
      (error: unknown) => {
        this.failure ??= { error };
      },
    );
    const tracked = sending.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private acknowledge(episodes: number, bytes: number): void {
    this.acknowledged = {
      episodes: this.acknowledged.episodes + episodes,
      bytes: this.acknowledged.bytes + bytes,
      batches: this.acknowledged.batches + 1,
    };
    this.options.onProgress?.(this.progress());
  }
}

/**
 * Iterates `source` until it ends or `signal` aborts. A pending read (a line from standard
 * input that may never come) is abandoned on abort rather than awaited.
 */
async function* interruptible<T>(
  source: Iterable<T> | AsyncIterable<T>,
  signal: AbortSignal | undefined,
): AsyncGenerator<T> {
  const iterator =
    Symbol.asyncIterator in source
      ? source[Symbol.asyncIterator]()
      : (source as Iterable<T>)[Symbol.iterator]();
  const aborted = new Promise<'aborted'>((resolve) => {
    if (signal?.aborted) resolve('aborted');
    signal?.addEventListener('abort', () => resolve('aborted'), { once: true });
  });

  try {
    while (!signal?.aborted) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === 'aborted' || next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: an async source busy with a read finishes that read first.
    void Promise.resolve(iterator.return?.()).catch(() => {});
  }
}
