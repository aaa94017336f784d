import { afterAll, describe, expect, it } from 'vitest';
import { AllmapProcess } from '../support/learner-process.js';
import { badInputs, sinusoidRecords } from '../support/stream-inputs.js';
import { type StreamSetup, streamSetup } from '../support/stream-kafka.js';
import {
  countByKey,
  isFullyCommitted,
  readAll,
  readDeadLetters,
  readModels,
  waitFor,
} from '../support/stream-topics.js';

/**
 * Every kind of bad input through a real broker and a real `allmap run` process: each lands
 * on the dead-letter topic with its reason, where it came from and its original bytes and
 * headers, and the stream goes on around it.
 */
describe('allmap run with bad input, on Kafka', () => {
  let setup: StreamSetup;
  let learner: AllmapProcess | undefined;
  afterAll(async () => {
    learner?.kill('SIGKILL');
    await setup?.close();
  });

  it('dead-letters every bad record, tombstone and invalid union branch included', async () => {
    setup = await streamSetup('bad');
    const good = sinusoidRecords(60);
    const bad = badInputs();
    // One partition for the bad records, so their offsets can be checked in order.
    await setup.produce([
      ...good.slice(0, 30),
      ...bad.map((input) => ({ ...input.record, partition: 1 })),
      ...good.slice(30),
    ]);

    learner = new AllmapProcess(['run'], setup.env);
    const { transport, topics, groupId } = setup;
    await waitFor(
      () => isFullyCommitted(transport, groupId, topics.episodes),
      'commits',
      90_000,
      500,
    );

    const letters = await readDeadLetters(transport, topics.deadLetter);
    expect(new Map(letters.map((letter) => [letter.key, letter.reason]))).toEqual(
      new Map(bad.map((input) => [input.record.key, input.reason])),
    );
    const episodes = await readAll(transport, topics.episodes);
    for (const letter of letters) {
      const original = episodes.find((record) => record.key === letter.key)!;
      expect(letter.sourceTopic).toBe(topics.episodes);
      expect(letter.sourcePartition).toBe(original.partition);
      expect(letter.sourceOffset).toBe(original.offset);
      expect(letter.value).toEqual(original.value);
      expect(letter.error?.length).toBeGreaterThan(10);
      for (const [name, value] of Object.entries(original.headers)) {
        expect(letter.headers[name]).toEqual(value);
      }
    }
    const tombstone = letters.find((letter) => letter.key === 'bad-tombstone')!;
    expect(tombstone.value).toBeNull();
    expect(letters.find((letter) => letter.key === 'bad-union')!.error).toMatch(
      /invalid-union-branch/,
    );

    const models = await readModels(transport, topics.models);
    const counts = countByKey(models);
    for (const record of good) expect(counts.get(record.key)).toBe(1);
    expect(models.find((model) => model.taskId === 'bad-diverged')!.onnx.length).toBe(0);

    learner.kill('SIGTERM');
    expect((await learner.exited).code).toBe(0);
  });
});
