import { afterAll, describe, expect, it } from 'vitest';
import { defaultCodec } from '../../src/codec/codec.js';
import { readLatestByKey } from '../../src/transport/read-to-end.js';
import { AllmapProcess } from '../support/learner-process.js';
import { sinusoidRecords } from '../support/stream-inputs.js';
import { type StreamSetup, streamSetup } from '../support/stream-kafka.js';
import { isFullyCommitted, readModels, waitFor } from '../support/stream-topics.js';

const GRACE_MS = 8_000;

/**
 * Stop with SIGTERM, start again: the learner drains and exits 0 within its grace period,
 * and the next one restores phi/psi from the meta topic and the bank from the bank topic,
 * so it adapts with the last meta version instead of starting cold.
 */
describe('allmap run stopped and started again, on Kafka', () => {
  let setup: StreamSetup;
  const learners: AllmapProcess[] = [];
  afterAll(async () => {
    for (const learner of learners) learner.kill('SIGKILL');
    await setup?.close();
  });

  it('goes on with the last meta version, not a cold start', async () => {
    setup = await streamSetup(
      'restart',
      {
        ALLMAP_META_EVERY_EPISODES: '100',
        ALLMAP_META_MIN_BANK_SIZE: '100',
        ALLMAP_META_STEPS_PER_UPDATE: '60',
        ALLMAP_STREAM_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      },
      2,
    );
    const { transport, topics, groupId, env } = setup;
    const first = new AllmapProcess(['run'], env);
    learners.push(first);
    await first.waitUntilConsuming(topics.episodes);

    // Tasks keep coming until a meta-update is adopted (a candidate no better is not).
    const isAdopted = () =>
      first.logs.some((line) => line.msg === 'meta version in use from the next batch');
    for (let wave = 0; !isAdopted(); wave++) {
      expect(wave, first.tail()).toBeLessThan(30);
      await setup.produce(sinusoidRecords(100, 100 + wave));
      await waitFor(
        () => isFullyCommitted(transport, groupId, topics.episodes),
        'a wave',
        60_000,
        200,
      );
    }
    const [meta] = (await readLatestByKey(transport, topics.meta)).values();
    const last = defaultCodec().decode(
      'MetaVersion',
      meta!.value!,
      meta!.headers,
      meta!,
    ).metaVersion;

    const stoppedAt = Date.now();
    first.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(GRACE_MS);

    const second = new AllmapProcess(['run'], env);
    learners.push(second);
    const recovered = await second.waitForLog(
      (line) => line.msg === 'recovered meta versions and bank',
      'recovery',
    );
    expect(recovered.metaVersions).toBe(1);
    expect(recovered.bankEntries).toBeGreaterThanOrEqual(100);
    await second.waitUntilConsuming(topics.episodes);
    const port = Number(second.logs.find((line) => line.msg?.startsWith('serving /metrics'))!.port);
    const readiness = await (await fetch(`http://127.0.0.1:${port}/readyz`)).json();
    expect(readiness).toMatchObject({
      isReady: true,
      isColdStart: false,
      metaVersions: { sinusoid: last },
    });

    const fresh = sinusoidRecords(20, 7, 'after-restart');
    await setup.produce(fresh);
    await waitFor(
      () => isFullyCommitted(transport, groupId, topics.episodes),
      'the new tasks',
      60_000,
      200,
    );
    const models = await readModels(transport, topics.models);
    const keys = new Set(fresh.map((record) => record.key));
    const used = models.filter((model) => keys.has(model.taskId)).map((model) => model.metaVersion);
    expect(used).toEqual(fresh.map(() => last));

    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });
});
