import { describe, expect, it } from 'vitest';
import { getLogger } from '../../src/log/logger.js';
import { ExactlyOnceDelivery } from '../../src/stream/delivery-exactly-once.js';
import { Intake } from '../../src/stream/intake.js';
import { OffsetTracker } from '../../src/stream/offsets.js';
import { EmbeddedTransport } from '../../src/transport/embedded.js';
import type { RecordBatch, TopicPartition } from '../../src/transport/transport.js';

const topic = 'episodes';
const groupId = 'learners';

/** Tells when the learner's partitions are prepared: batches after that are taken. */
class ObservedDelivery extends ExactlyOnceDelivery {
  isPrepared = false;

  override async prepare(partitions: readonly TopicPartition[]): Promise<Map<string, string>> {
    const offsets = await super.prepare(partitions);
    this.isPrepared = true;
    return offsets;
  }
}

/**
 * The intake of an exactly-once learner on the embedded transport. The group committed
 * offset 3 of a ten-record partition; `rewrite` may change the batches the consumer
 * delivers once the partition is prepared, to play a consumer whose position is not where
 * the learner sought it.
 */
async function exactlyOnceIntake(rewrite: (batch: RecordBatch) => RecordBatch) {
  const transport = new EmbeddedTransport();
  await transport.createTopics([{ topic, numPartitions: 1 }]);
  const producer = await transport.producer();
  const records = Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: Buffer.from([i]) }));
  await producer.send(
    topic,
    records.map((record) => ({ ...record, partition: 0 })),
  );
  const committer = await transport.transactionalProducer('an earlier owner');
  const transaction = await committer.begin();
  await transaction.sendOffsets(groupId, [{ topic, partition: 0, offset: '3' }]);
  await transaction.commit();

  const logger = getLogger('test');
  const tracker = new OffsetTracker();
  let intake: Intake | undefined;
  const delivery = new ObservedDelivery({
    transport,
    tracker,
    groupId,
    consumer: () => intake?.currentConsumer(),
    logger,
  });
  const failures: unknown[] = [];
  intake = new Intake({
    maxInFlight: 100,
    tracker,
    delivery,
    logger,
    onFailure: (error) => failures.push(error),
  });
  const taken: string[] = [];
  intake.inbound$.subscribe(({ record }) => taken.push(record.offset));

  const handlers = intake.handlers();
  const consumer = await transport.consume({
    groupId,
    topics: [topic],
    autoOffsetReset: 'earliest',
    isolationLevel: 'read_committed',
    ...handlers,
    eachBatch: (batch) => handlers.eachBatch(delivery.isPrepared ? rewrite(batch) : batch),
  });
  intake.attach(consumer);
  return { transport, taken, failures };
}

async function until(isDone: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!isDone() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe('Intake (exactly-once, on the embedded transport)', () => {
  it('starts the assignment at the committed offset', async () => {
    const { transport, taken, failures } = await exactlyOnceIntake((batch) => batch);

    await until(() => taken.length >= 7);
    expect(taken).toEqual(['3', '4', '5', '6', '7', '8', '9']);
    expect(failures).toEqual([]);
    await transport.close();
  });

  it('never takes a batch read from past the committed offset without the records before it', async () => {
    // The first batch comes from offset 6, as from a seek of an earlier assignment that the
    // consumer applied after the learner sought the committed offset: taking it would have
    // the transactions commit offsets past 3, 4 and 5, which nobody read.
    let isRewritten = false;
    const { transport, taken, failures } = await exactlyOnceIntake((batch) => {
      if (isRewritten) return batch;
      isRewritten = true;
      const records = batch.records.filter((record) => BigInt(record.offset) >= 6n);
      return { ...batch, records, fetchOffset: '6' };
    });

    await until(() => taken.length >= 7);
    expect(isRewritten).toBe(true);
    expect(taken).toEqual(['3', '4', '5', '6', '7', '8', '9']);
    expect(failures).toEqual([]);
    await transport.close();
  });
});
