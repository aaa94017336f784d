import { afterAll, describe, expect, it } from 'vitest';
import { initialiseTheta, MappingEngine, sinusoidSpec } from '../../src/engine/index.js';
import { LearnerInputError } from '../../src/learner/errors.js';
import { metaVersionFromRecord, metaVersionToRecord } from '../../src/learner/meta-version.js';
import { Random } from '../../src/util/random.js';
import { ADAPT, queryLoss, sinusoidLearner, sinusoids, stream } from './learner-fixtures.js';

const engine = MappingEngine.create();
afterAll(() => engine.dispose());

describe('a meta version from a small fixed-seed W1 run', () => {
  const training = sinusoids(101, 256);
  const test = sinusoids(202, 100);

  it('gives strictly lower query loss than the seeded initialisation, by a stated margin', async () => {
    const learner = sinusoidLearner(engine, { trainer: { batchSize: 16 } });
    await stream(engine, learner, training);
    const outcome = await learner.update();
    expect(outcome.adopted).toBe(true);
    expect(learner.apply(outcome.candidate)).toBe(true);

    const seeded = initialiseTheta(sinusoidSpec, new Random(7));
    const { theta0 } = await learner.initialise(test);
    const { learningRate } = learner.adaptation();
    for (const K of [0, ADAPT.steps]) {
      const generated = await queryLoss(engine, test, theta0, K, learningRate);
      const baseline = await queryLoss(
        engine,
        test,
        test.map(() => seeded),
        K,
        ADAPT.learningRate,
      );
      // Margin: the generated init must at least halve the seeded init's query MSE.
      expect(generated).toBeLessThan(0.5 * baseline);
    }
    await learner.close();
  });

  it('is the same, number for number, for the same seed and stream', async () => {
    const parameters = async () => {
      const learner = sinusoidLearner(engine, {
        schedule: { everyEpisodes: 1, everySeconds: Infinity, minBankSize: 16, stepsPerUpdate: 40 },
      });
      await stream(engine, learner, training.slice(0, 64));
      const outcome = await learner.update();
      await learner.close();
      return [...outcome.candidate.parameters.values()].map((tensor) => Array.from(tensor.values));
    };
    expect(await parameters()).toEqual(await parameters());
  });

  it('round-trips through its Avro record', async () => {
    const learner = sinusoidLearner(engine, {
      schedule: { everyEpisodes: 1, everySeconds: Infinity, minBankSize: 16, stepsPerUpdate: 5 },
    });
    await stream(engine, learner, training.slice(0, 32));
    const { candidate } = await learner.update();
    await learner.close();

    const restored = metaVersionFromRecord(metaVersionToRecord(candidate));
    expect(restored.metaVersion).toBe(1);
    expect(restored.parameters).toEqual(candidate.parameters);
  });
});

describe('the learner', () => {
  const episodes = sinusoids(303, 32);

  it('starts every task from one seeded mapping, with no code, before the first meta version', async () => {
    const learner = sinusoidLearner(engine);
    const { theta0, z } = await learner.initialise(episodes.slice(0, 3));
    expect(theta0[0]).toEqual(initialiseTheta(sinusoidSpec, new Random(7)));
    expect(theta0[1]).toEqual(theta0[0]);
    expect(z.every((code) => code.length === 0)).toBe(true);
    expect(learner.metaVersion).toBe(0);
    await learner.close();
  });

  it('moves its shared initialisation toward remembered mappings (Reptile cold start)', async () => {
    const learner = sinusoidLearner(engine);
    const before = learner.sharedInit;
    await stream(engine, learner, episodes);
    expect(learner.sharedInit).not.toEqual(before);

    const seeded = sinusoidLearner(engine, { coldStart: 'seeded' });
    await stream(engine, seeded, episodes);
    expect(seeded.sharedInit).toEqual(before);
    await Promise.all([learner.close(), seeded.close()]);
  });

  it('never changes the episodes and mappings it is handed', async () => {
    const learner = sinusoidLearner(engine);
    const episode = episodes[0]!;
    const inputs = episode.support.inputs.slice();
    const theta = new Float32Array(1761).fill(0.5);
    learner.remember([
      {
        episode,
        theta,
        metaVersion: 0,
        metrics: { lossBefore: 1, lossAfter: 1, steps: 1, status: 'ok', adaptMs: 1 },
      },
    ]);
    theta.fill(0);
    expect(episode.support.inputs).toEqual(inputs);
    expect(learner.bank.get(episode.taskId)?.theta[0]).toBe(0.5);
    await learner.close();
  });

  it('is due for an update after everyEpisodes new episodes, never while one runs', async () => {
    const learner = sinusoidLearner(engine, {
      schedule: { everyEpisodes: 32, everySeconds: Infinity, minBankSize: 16, stepsPerUpdate: 2 },
    });
    await stream(engine, learner, episodes.slice(0, 16));
    expect(learner.shouldUpdate()).toBe(false);
    await stream(engine, learner, episodes.slice(16, 32));
    expect(learner.shouldUpdate()).toBe(true);

    const running = learner.update();
    expect(learner.shouldUpdate()).toBe(false);
    await running;
    await learner.close();
  });

  it('refuses an episode of another family and a version of another architecture', async () => {
    const learner = sinusoidLearner(engine);
    const other = { ...episodes[0]!, family: 'fashion-mnist-5way' };
    await expect(learner.initialise([other])).rejects.toThrow(LearnerInputError);
    await expect(learner.initialise([other])).rejects.toThrow(
      'episodes[0].family: received fashion-mnist-5way; allowed sinusoid',
    );

    const wider = sinusoidLearner(engine, {
      model: { codeDim: 8, encoderHidden: [32, 32] },
      schedule: { everyEpisodes: 1, everySeconds: Infinity, minBankSize: 16, stepsPerUpdate: 1 },
    });
    await stream(engine, wider, episodes);
    const { candidate } = await wider.update();
    expect(() => learner.apply(candidate)).toThrow(/meta parameter encoder: received shape \[/);
    await Promise.all([learner.close(), wider.close()]);
  });
});
