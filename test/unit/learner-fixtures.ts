/**
 * Small fixed-seed W1 runs shared by the learner's tests: stream sinusoid episodes through
 * a learner exactly as the live service would, and score initialisations on held-out ones.
 */
import type { MappingEngine } from '../../src/engine/index.js';
import { sinusoidSpec } from '../../src/engine/index.js';
import type { Episode } from '../../src/episode/episode.js';
import { Learner, type LearnerOptions } from '../../src/learner/learner.js';
import { toEngineSet } from '../../src/learner/sets.js';
import { sinusoidEpisodes } from '../../src/sources/sinusoid.js';

export const ADAPT = { steps: 10, learningRate: 0.01 };

export function sinusoids(seed: number, count: number): Episode[] {
  return [...sinusoidEpisodes({ seed, count, clock: () => 0 })];
}

/** A W1 learner whose updates are due only when the test asks for one. */
export function sinusoidLearner(
  engine: MappingEngine,
  overrides: Partial<LearnerOptions> = {},
): Learner {
  let tick = 0;
  return new Learner({
    family: 'sinusoid',
    spec: sinusoidSpec,
    engine,
    seed: 7,
    adapt: ADAPT,
    schedule: {
      everyEpisodes: 1,
      everySeconds: Number.POSITIVE_INFINITY,
      minBankSize: 16,
      stepsPerUpdate: 200,
    },
    bankCapacity: 512,
    model: { codeDim: 16, encoderHidden: [32, 32] },
    trainer: { batchSize: 16 },
    placement: 'inline',
    clock: () => tick++,
    ...overrides,
  });
}

/** Initialise, adapt and remember `episodes` in batches of 16, as the stream does. */
export async function stream(engine: MappingEngine, learner: Learner, episodes: Episode[]) {
  for (let start = 0; start < episodes.length; start += 16) {
    const batch = episodes.slice(start, start + 16);
    const { theta0 } = await learner.initialise(batch);
    const { steps, learningRate } = learner.adaptation();
    const adapted = await engine.adaptBatch(sinusoidSpec, {
      theta0,
      support: batch.map((episode) => toEngineSet(episode.support)),
      steps,
      learningRate,
    });
    learner.remember(
      batch.map((episode, b) => ({
        episode,
        theta: adapted[b]!.theta,
        metaVersion: learner.metaVersion,
        metrics: { lossBefore: 0, lossAfter: 0, steps, status: 'ok' as const, adaptMs: 0 },
      })),
    );
  }
}

/** Mean query MSE of `episodes` after K steps from `theta0s`, at the given rates. */
export async function queryLoss(
  engine: MappingEngine,
  episodes: Episode[],
  theta0s: Float32Array[],
  K: number,
  learningRate: Parameters<MappingEngine['adaptBatch']>[1]['learningRate'],
): Promise<number> {
  const thetas =
    K === 0
      ? theta0s
      : (
          await engine.adaptBatch(sinusoidSpec, {
            theta0: theta0s,
            support: episodes.map((episode) => toEngineSet(episode.support)),
            steps: K,
            learningRate,
          })
        ).map((result) => result.theta);
  const results = await engine.evaluateBatch(
    sinusoidSpec,
    thetas,
    episodes.map((episode) => toEngineSet(episode.query)),
  );
  return results.reduce((sum, result) => sum + result.loss, 0) / results.length;
}
