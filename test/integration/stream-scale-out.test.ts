import { afterAll, describe, expect, it } from 'vitest';
import { AllmapProcess, scrapeMetrics } from '../support/learner-process.js';
import { sinusoidRecords } from '../support/stream-inputs.js';
import { type StreamSetup, streamSetup } from '../support/stream-kafka.js';
import { countByKey, isFullyCommitted, readModels, waitFor } from '../support/stream-topics.js';

const CONSUMED = 'allmap_episodes_consumed_total{family="sinusoid"}';

/**
 * Two `allmap run` processes in one consumer group on a four-partition topic: a second one
 * joins during a backlog and both are consuming within seconds; then one is stopped mid-stream
 * and its partitions move to the other, with nothing lost and nothing left uncommitted.
 */
describe.each([
  ['at-least-once', (count: number) => count >= 1],
  ['exactly-once', (count: number) => count === 1],
] as const)('allmap run scaled out to two instances (%s, on Kafka)', (delivery, isAllowed) => {
  let setup: StreamSetup;
  const learners: AllmapProcess[] = [];
  afterAll(async () => {
    for (const learner of learners) learner.kill('SIGKILL');
    await setup?.close();
  });

  it('splits the partitions, settles fast when one joins, hands them over when one stops', async () => {
    setup = await streamSetup(`scale-${delivery}`, {
      ALLMAP_STREAM_SHUTDOWN_GRACE_MS: '8000',
      ALLMAP_KAFKA_DELIVERY: delivery,
    });
    const { transport, topics, groupId, env } = setup;
    const first = new AllmapProcess(['run'], env);
    learners.push(first);
    await first.waitUntilConsuming(topics.episodes);
    const firstPort = metricsPort(first);

    // The backlog arrives while the second instance starts (its start takes seconds), so it
    // is there, over 1,000 episodes, when the second one joins the group.
    const second = new AllmapProcess(['run'], env);
    learners.push(second);
    await second.waitForLog((line) => line.msg?.startsWith('serving /metrics') === true, 'a port');
    const records = sinusoidRecords(3_000);
    await setup.produce(records);
    await second.waitForLog((line) => line.msg === 'consuming episodes', 'joining the group');
    const joinedAt = Date.now();
    const backlogAtJoin = await backlog(setup);
    expect(backlogAtJoin).toBeGreaterThan(1_000);

    // Settled: each owns two partitions, and each is taking episodes from them.
    const secondPort = metricsPort(second);
    const before = await consumed(firstPort);
    await waitFor(
      async () =>
        first.assignedPartitions(topics.episodes).length === 2 &&
        second.assignedPartitions(topics.episodes).length === 2 &&
        (await consumed(secondPort)) > 0 &&
        (await consumed(firstPort)) > before,
      'both instances consuming',
      20_000,
      100,
    );
    const settleMs = Date.now() - joinedAt;
    expect(settleMs).toBeLessThan(10_000);
    expect([leads(first), leads(second)].filter(Boolean)).toHaveLength(1);
    expect(
      [
        ...first.assignedPartitions(topics.episodes),
        ...second.assignedPartitions(topics.episodes),
      ].sort(),
    ).toEqual([0, 1, 2, 3]);

    // Stop one mid-stream: it drains, commits and leaves; the other takes its partitions over.
    expect(await backlog(setup)).toBeGreaterThan(0);
    first.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    await waitFor(
      () => second.assignedPartitions(topics.episodes).length === 4,
      'the handover',
      30_000,
    );
    await waitFor(
      () => isFullyCommitted(transport, groupId, topics.episodes),
      'all commits',
      120_000,
      250,
    );

    const counts = countByKey(await readModels(transport, topics.models));
    const wrong = records.filter((record) => !isAllowed(counts.get(record.key) ?? 0));
    expect(wrong.map((record) => `${record.key}: ${counts.get(record.key) ?? 0}`)).toEqual([]);
    // Partition 0 moved to the second instance, and with it the meta-updates.
    expect(leads(second)).toBe(true);
    process.stderr.write(
      `[scale-out ${delivery}] second instance joined with ${backlogAtJoin} episodes waiting ` +
        `and settled in ${settleMs} ms\n`,
    );

    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });
});

/** Whether the process's last word on meta-updates is that it runs them. */
function leads(learner: AllmapProcess): boolean {
  const line = learner.logs.findLast((entry) => entry.msg?.includes('the meta-updater') === true);
  return line?.msg === 'this instance is the meta-updater now';
}

function metricsPort(learner: AllmapProcess): number {
  return Number(learner.logs.find((line) => line.msg?.startsWith('serving /metrics'))!.port);
}

async function consumed(port: number): Promise<number> {
  return (await scrapeMetrics(port)).get(CONSUMED) ?? 0;
}

async function backlog({ transport, groupId, topics }: StreamSetup): Promise<number> {
  const ends = await transport.fetchTopicOffsets(topics.episodes);
  const committed = await transport.fetchCommittedOffsets(groupId, topics.episodes);
  return ends.reduce((sum, { partition, high }) => {
    const offset = Number(committed.find((entry) => entry.partition === partition)?.offset ?? -1);
    return sum + Number(high) - Math.max(0, offset);
  }, 0);
}
