import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransportError } from '../../src/transport/errors.js';
import { partitionForKey } from '../../src/transport/partitioner.js';
import { readLatestByKey } from '../../src/transport/read-to-end.js';
import type {
  ConsumedRecord,
  Consumer,
  ConsumerOptions,
  ProducerRecord,
  RecordBatch,
  TopicPartition,
  Transport,
} from '../../src/transport/transport.js';

/**
 * The behaviour every transport must show, run against the embedded log (unit tests) and a
 * real Kafka broker (integration tests). Each case uses topics and groups of its own, so the
 * cases share one transport and one broker without seeing each other's records.
 */

export interface ContractOptions {
  /** How long to wait before concluding that nothing more will be delivered. */
  quietMs: number;
  /** How long to wait for something that should happen (a delivery, a rebalance). */
  timeoutMs: number;
}

export function describeTransportContract(
  name: string,
  makeTransport: () => Promise<Transport>,
  options: ContractOptions,
): void {
  describe(`${name} transport contract`, () => {
    let transport: Transport;
    const consumers: Consumer[] = [];

    beforeAll(async () => {
      transport = await makeTransport();
    });

    afterAll(async () => {
      await Promise.allSettled(consumers.map((consumer) => consumer.stop()));
      await transport?.close();
    });

    /** A topic with a name no other case uses. */
    async function newTopic(partitions: number, configs?: Record<string, string>) {
      const topic = `contract-${randomUUID().slice(0, 8)}`;
      await transport.createTopics([{ topic, numPartitions: partitions, configs }]);
      return topic;
    }

    /** Starts a consumer that keeps what it receives, and waits for its first assignment. */
    async function collect(
      topic: string,
      overrides: Partial<ConsumerOptions> = {},
      { awaitAssignment = true } = {},
    ) {
      const received: ConsumedRecord[] = [];
      const events: string[] = [];
      const consumer = await transport.consume({
        groupId: overrides.groupId ?? `group-${randomUUID().slice(0, 8)}`,
        topics: [topic],
        autoOffsetReset: 'earliest',
        ...overrides,
        eachBatch: async (batch: RecordBatch) => {
          received.push(...batch.records);
          await overrides.eachBatch?.(batch);
        },
        onPartitionsAssigned: (partitions) =>
          events.push(`assigned ${describePartitions(partitions)}`),
        onPartitionsRevoked: (partitions) =>
          events.push(`revoked ${describePartitions(partitions)}`),
      });
      consumers.push(consumer);
      if (awaitAssignment) {
        await waitFor(() => consumer.assignment().length > 0, 'the first assignment');
      }
      return { consumer, received, events };
    }

    async function waitFor(condition: () => boolean, what: string): Promise<void> {
      const deadline = Date.now() + options.timeoutMs;
      while (!condition()) {
        if (Date.now() > deadline)
          throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`);
        await sleep(20);
      }
    }

    async function produce(topic: string, records: ProducerRecord[]) {
      const producer = await transport.producer();
      try {
        return await producer.send(topic, records);
      } finally {
        await producer.disconnect();
      }
    }

    it('keeps the records of a partition in order, at increasing offsets', async () => {
      const topic = await newTopic(1);
      const first = await produce(topic, values('a', 0, 5));
      const second = await produce(topic, values('a', 5, 10));

      const { received } = await collect(topic);
      await waitFor(() => received.length === 10, '10 records');

      expect(received.map((record) => record.value?.toString())).toEqual(
        Array.from({ length: 10 }, (_, index) => `value-${index}`),
      );
      const offsets = received.map((record) => BigInt(record.offset));
      expect(offsets.every((offset, index) => index === 0 || offset > offsets[index - 1]!)).toBe(
        true,
      );
      expect(received.map((record) => record.offset)).toEqual(
        [...first, ...second].map((metadata) => metadata.offset),
      );
    });

    it('acknowledges every record of sends made concurrently on one producer', async () => {
      const topic = await newTopic(4);
      const producer = await transport.producer();
      const sends = Array.from({ length: 50 }, (_, batch) =>
        producer.send(topic, values(`batch-${batch}`, batch * 10, batch * 10 + 10)),
      );
      const acknowledged = (await Promise.all(sends)).flat();
      await producer.disconnect();

      const { received } = await collect(topic);
      await waitFor(() => received.length >= 500, '500 records');
      expect(new Set(acknowledged.map((meta) => `${meta.partition}:${meta.offset}`)).size).toBe(
        500,
      );
      expect(received.map((record) => record.value?.toString()).sort()).toEqual(
        Array.from({ length: 500 }, (_, index) => `value-${index}`).sort(),
      );
    });

    it('sends a key to the same partition every time, the one Kafka would choose', async () => {
      const topic = await newTopic(4);
      const keys = Array.from({ length: 12 }, (_, index) => `task-${index}`);
      const records = keys.map((key) => ({ key, value: Buffer.from(key) }));

      const first = await produce(topic, records);
      const second = await produce(topic, records);

      expect(second.map((metadata) => metadata.partition)).toEqual(
        first.map((metadata) => metadata.partition),
      );
      expect(first.map((metadata) => metadata.partition)).toEqual(
        keys.map((key) => partitionForKey(key, 4)),
      );
      expect(new Set(first.map((metadata) => metadata.partition)).size).toBeGreaterThan(1);
    });

    it('delivers headers, tombstones and explicit partitions as they were sent', async () => {
      const topic = await newTopic(3);
      const sent = await produce(topic, [
        {
          key: 'with-headers',
          value: Buffer.from([0, 1, 2, 255]),
          headers: { 'content-type': 'application/avro', trace: Buffer.from([7, 8]) },
          partition: 2,
        },
        { key: 'deleted', value: null, partition: 2 },
      ]);
      expect(sent.map((metadata) => metadata.partition)).toEqual([2, 2]);

      const { received } = await collect(topic);
      await waitFor(() => received.length === 2, '2 records');
      const [withHeaders, tombstone] = received;

      expect(withHeaders?.key).toBe('with-headers');
      expect(withHeaders?.value).toEqual(Buffer.from([0, 1, 2, 255]));
      expect(withHeaders?.headers['content-type']?.toString()).toBe('application/avro');
      expect(withHeaders?.headers.trace).toEqual(Buffer.from([7, 8]));
      expect(Number(withHeaders?.timestamp)).toBeGreaterThan(Date.now() - 60_000);
      expect(tombstone).toMatchObject({ key: 'deleted', value: null, partition: 2 });
    });

    it('lets a new consumer of the group resume after the committed offset', async () => {
      const topic = await newTopic(1);
      const groupId = `group-${randomUUID().slice(0, 8)}`;
      const sent = await produce(topic, values('k', 0, 6));

      const first = await collect(topic, { groupId });
      await waitFor(() => first.received.length === 6, '6 records');
      await first.consumer.commit([{ topic, partition: 0, offset: sent[3]!.offset }]);
      await first.consumer.stop();

      expect(await transport.fetchCommittedOffsets(groupId, topic)).toEqual([
        { partition: 0, offset: sent[3]!.offset },
      ]);
      const second = await collect(topic, { groupId });
      await waitFor(() => second.received.length === 3, '3 records');
      expect(second.received.map((record) => record.value?.toString())).toEqual([
        'value-3',
        'value-4',
        'value-5',
      ]);
    });

    it('starts a consumer without committed offsets at the end when told latest', async () => {
      const topic = await newTopic(1);
      await produce(topic, values('k', 0, 2));

      const { received } = await collect(topic, { autoOffsetReset: 'latest' });
      await sleep(options.quietMs);
      await produce(topic, values('k', 2, 3));

      await waitFor(() => received.length === 1, 'the record produced after joining');
      await sleep(options.quietMs);
      expect(received.map((record) => record.value?.toString())).toEqual(['value-2']);
    });

    it('splits the partitions between two consumers of one group, and rebalances', async () => {
      const topic = await newTopic(4);
      const groupId = `group-${randomUUID().slice(0, 8)}`;

      const first = await collect(topic, { groupId });
      await waitFor(() => first.consumer.assignment().length === 4, 'all 4 partitions');
      const second = await collect(topic, { groupId });
      await waitFor(
        () => first.consumer.assignment().length === 2 && second.consumer.assignment().length === 2,
        'a 2 + 2 split',
      );

      const owned = [...first.consumer.assignment(), ...second.consumer.assignment()];
      expect(owned.map(describeOne).sort()).toEqual([0, 1, 2, 3].map((p) => `${topic}/${p}`));
      expect(first.events).toContain(`revoked ${describePartitions(allPartitions(topic, 4))}`);

      // Each record goes to the member that owns its partition, and to no other.
      await produce(
        topic,
        [0, 1, 2, 3].map((partition) => ({ key: 'k', value: null, partition })),
      );
      await waitFor(() => first.received.length + second.received.length === 4, '4 records');
      const ownerOf = (record: ConsumedRecord, consumer: Consumer) =>
        consumer.assignment().some((tp) => tp.partition === record.partition);
      expect(first.received.every((record) => ownerOf(record, first.consumer))).toBe(true);
      expect(second.received.every((record) => ownerOf(record, second.consumer))).toBe(true);

      await second.consumer.stop();
      await waitFor(() => first.consumer.assignment().length === 4, 'all 4 back to the first');
    });

    it('stops delivering a paused partition until it is resumed', async () => {
      const topic = await newTopic(1);
      const partition = { topic, partition: 0 };
      await produce(topic, values('k', 0, 1));
      const { consumer, received } = await collect(topic);
      await waitFor(() => received.length === 1, 'the first record');

      consumer.pause([partition]);
      await produce(topic, values('k', 1, 3));
      await sleep(options.quietMs);
      expect(received).toHaveLength(1);

      consumer.resume([partition]);
      await waitFor(() => received.length === 3, 'the records held back by the pause');
      expect(received.map((record) => record.value?.toString())).toEqual([
        'value-0',
        'value-1',
        'value-2',
      ]);
    });

    it('moves the position of a partition with seek', async () => {
      const topic = await newTopic(1);
      const sent = await produce(topic, values('k', 0, 4));
      const { consumer, received } = await collect(topic);
      const afterLast = String(BigInt(sent[3]!.offset) + 1n);
      await waitFor(() => received.length === 4, '4 records');
      await waitFor(
        () => consumer.position({ topic, partition: 0 }) === afterLast,
        `the position to reach ${afterLast}`,
      );

      consumer.seek({ topic, partition: 0, offset: sent[1]!.offset });
      await waitFor(() => received.length === 7, 'the records after the seek again');
      expect(received.slice(4).map((record) => record.value?.toString())).toEqual([
        'value-1',
        'value-2',
        'value-3',
      ]);
    });

    it('refuses to commit a partition that is not assigned to the consumer', async () => {
      const topic = await newTopic(1);
      const { consumer } = await collect(topic);

      const commit = consumer.commit([{ topic: `${topic}-other`, partition: 0, offset: '1' }]);
      await expect(commit).rejects.toMatchObject({ code: 'PARTITION_NOT_ASSIGNED' });
      await expect(commit).rejects.toThrow(/not assigned to this consumer/);
    });

    it('stops a consumer whose batch handler throws, and says why', async () => {
      const topic = await newTopic(1);
      await produce(topic, values('k', 0, 1));
      const { consumer } = await collect(
        topic,
        {
          eachBatch: async () => {
            throw new Error('undecodable episode');
          },
        },
        { awaitAssignment: false },
      );

      await expect(consumer.stopped).rejects.toThrow('undecodable episode');
    });

    it('shows read_committed readers committed transactions, never aborted ones', async () => {
      const topic = await newTopic(2);
      const producer = await transport.transactionalProducer(`tx-${randomUUID()}`);

      for (const [value, outcome] of [
        ['kept-1', 'commit'],
        ['dropped', 'abort'],
        ['kept-2', 'commit'],
      ] as const) {
        const transaction = await producer.begin();
        await transaction.send(topic, [{ key: 'task', value: Buffer.from(value) }]);
        await (outcome === 'commit' ? transaction.commit() : transaction.abort());
      }
      await producer.disconnect();

      const committed = await collect(topic, { isolationLevel: 'read_committed' });
      const everything = await collect(topic, { isolationLevel: 'read_uncommitted' });
      await waitFor(() => committed.received.length === 2, '2 committed records');
      await waitFor(() => everything.received.length === 3, 'all 3 records');
      await sleep(options.quietMs);

      expect(committed.received.map((record) => record.value?.toString())).toEqual([
        'kept-1',
        'kept-2',
      ]);
      expect(everything.received.map((record) => record.value?.toString())).toEqual([
        'kept-1',
        'dropped',
        'kept-2',
      ]);
    });

    it('holds back the records of an open transaction until it commits', async () => {
      const topic = await newTopic(1);
      const producer = await transport.transactionalProducer(`tx-${randomUUID()}`);
      const { received } = await collect(topic);

      const transaction = await producer.begin();
      await transaction.send(topic, values('k', 0, 2));
      await sleep(options.quietMs);
      expect(received).toHaveLength(0);
      expect(await transport.fetchTopicOffsets(topic)).toEqual([
        { partition: 0, low: '0', high: '0' },
      ]);

      await transaction.commit();
      await waitFor(() => received.length === 2, 'the committed records');
      await producer.disconnect();
    });

    it('commits the offsets sent in a transaction with it, and drops them on abort', async () => {
      const topic = await newTopic(1);
      const groupId = `group-${randomUUID().slice(0, 8)}`;
      const producer = await transport.transactionalProducer(`tx-${randomUUID()}`);

      const aborted = await producer.begin();
      await aborted.sendOffsets(groupId, [{ topic, partition: 0, offset: '5' }]);
      await aborted.abort();
      expect(await transport.fetchCommittedOffsets(groupId, topic)).toEqual([
        { partition: 0, offset: '-1' },
      ]);

      const committed = await producer.begin();
      await committed.send(topic, values('k', 0, 1));
      await committed.sendOffsets(groupId, [{ topic, partition: 0, offset: '7' }]);
      await committed.commit();
      expect(await transport.fetchCommittedOffsets(groupId, topic)).toEqual([
        { partition: 0, offset: '7' },
      ]);
      await producer.disconnect();
    });

    it('fences the older producer when a newer one takes its transactional id', async () => {
      const topic = await newTopic(1);
      const transactionalId = `tx-${randomUUID()}`;
      const older = await transport.transactionalProducer(transactionalId);
      const stale = await older.begin();
      await stale.send(topic, [{ key: 'k', value: Buffer.from('from-the-older') }]);

      const newer = await transport.transactionalProducer(transactionalId);
      const error = await stale.commit().then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(TransportError);
      expect(error).toMatchObject({ code: 'PRODUCER_FENCED', isRetriable: false });

      const current = await newer.begin();
      await current.send(topic, [{ key: 'k', value: Buffer.from('from-the-newer') }]);
      await current.commit();
      const { received } = await collect(topic);
      await waitFor(() => received.length === 1, 'the newer producer record');
      await sleep(options.quietMs);
      expect(received.map((record) => record.value?.toString())).toEqual(['from-the-newer']);
      await Promise.allSettled([older.disconnect(), newer.disconnect()]);
    });

    it('reports the offsets of each partition and the group', async () => {
      const topic = await newTopic(2);
      const groupId = `group-${randomUUID().slice(0, 8)}`;
      await produce(
        topic,
        values('k', 0, 3).map((record) => ({ ...record, partition: 0 })),
      );

      expect(await transport.fetchTopicOffsets(topic)).toEqual([
        { partition: 0, low: '0', high: '3' },
        { partition: 1, low: '0', high: '0' },
      ]);
      expect(await transport.fetchCommittedOffsets(groupId, topic)).toEqual([
        { partition: 0, offset: '-1' },
        { partition: 1, offset: '-1' },
      ]);

      const { consumer, received } = await collect(topic, { groupId });
      await waitFor(() => received.length === 3, '3 records');
      await consumer.commit([{ topic, partition: 0, offset: '2' }]);
      expect(await transport.fetchCommittedOffsets(groupId, topic)).toEqual([
        { partition: 0, offset: '2' },
        { partition: 1, offset: '-1' },
      ]);
    });

    it('reads the latest value of every key of a compacted topic to its end', async () => {
      const topic = await newTopic(2, { 'cleanup.policy': 'compact' });
      await produce(topic, [
        { key: 'task-1', value: Buffer.from('v1') },
        { key: 'task-2', value: Buffer.from('v1') },
        { key: 'task-1', value: Buffer.from('v2') },
        { key: 'task-3', value: Buffer.from('v1') },
      ]);

      // A transaction last, so the log of its partitions ends in a marker, not a record.
      const producer = await transport.transactionalProducer(`tx-${randomUUID()}`);
      const transaction = await producer.begin();
      await transaction.send(topic, [{ key: 'task-3', value: null }]);
      await transaction.commit();
      await producer.disconnect();

      const latest = await readLatestByKey(transport, topic, { timeoutMs: options.timeoutMs });
      const entries = [...latest].map(([key, record]) => `${key}=${record.value?.toString()}`);
      expect(entries.sort()).toEqual(['task-1=v2', 'task-2=v1']);
    });
  });
}

function values(key: string, from: number, to: number): ProducerRecord[] {
  return Array.from({ length: to - from }, (_, index) => ({
    key,
    value: Buffer.from(`value-${from + index}`),
  }));
}

function allPartitions(topic: string, count: number): TopicPartition[] {
  return Array.from({ length: count }, (_, partition) => ({ topic, partition }));
}

function describeOne({ topic, partition }: TopicPartition): string {
  return `${topic}/${partition}`;
}

function describePartitions(partitions: TopicPartition[]): string {
  return partitions.map(describeOne).sort().join(',');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
