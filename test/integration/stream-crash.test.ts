import { afterEach, describe, expect, it } from 'vitest';
import { AllmapProcess } from '../support/learner-process.js';
import { sinusoidRecords } from '../support/stream-inputs.js';
import { type StreamSetup, streamSetup } from '../support/stream-kafka.js';
import { countByKey, isFullyCommitted, readModels, waitFor } from '../support/stream-topics.js';

/**
 * A learner killed with SIGKILL in the middle of a stream, then started again. Models are
 * read back with read_committed: exactly-once leaves every episode exactly one committed
 * model record; at-least-once at least one, never none.
 */
describe.each([
  ['exactly-once', (count: number) => count === 1],
  ['at-least-once', (count: number) => count >= 1],
] as const)('allmap run killed mid-stream (%s, on Kafka)', (delivery, isAllowed) => {
  let setup: StreamSetup | undefined;
  const learners: AllmapProcess[] = [];
  afterEach(async () => {
    for (const learner of learners.splice(0)) learner.kill('SIGKILL');
    await setup?.close();
  });

  it('loses nothing after a restart', async () => {
    setup = await streamSetup(`crash-${delivery}`, { ALLMAP_KAFKA_DELIVERY: delivery });
    const { transport, topics, groupId, env } = setup;
    const records = sinusoidRecords(800);
    await setup.produce(records);

    const first = new AllmapProcess(['run'], env);
    learners.push(first);
    await first.waitUntilConsuming(topics.episodes);
    // Kill it once some work is committed and much is still in flight or unread.
    await waitFor(async () => (await committedCount(setup!)) >= 150, 'first commits', 60_000, 100);
    first.kill('SIGKILL');
    await first.exited;
    expect(await committedCount(setup)).toBeLessThan(records.length);

    const second = new AllmapProcess(['run'], env);
    learners.push(second);
    await waitFor(
      () => isFullyCommitted(transport, groupId, topics.episodes),
      'all commits',
      90_000,
      250,
    );

    const counts = countByKey(await readModels(transport, topics.models));
    const wrong = records.filter((record) => !isAllowed(counts.get(record.key) ?? 0));
    expect(wrong.map((record) => `${record.key}: ${counts.get(record.key) ?? 0}`)).toEqual([]);
    if (delivery === 'exactly-once') expect(counts.size).toBe(records.length);

    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });
});

async function committedCount({ transport, groupId, topics }: StreamSetup): Promise<number> {
  const committed = await transport.fetchCommittedOffsets(groupId, topics.episodes);
  return committed.reduce((sum, { offset }) => sum + Math.max(0, Number(offset)), 0);
}
