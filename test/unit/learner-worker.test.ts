import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { MappingEngine } from '../../src/engine/index.js';
import type { UpdateSchedule } from '../../src/learner/learner.js';
import { sinusoidLearner, sinusoids, stream } from './learner-fixtures.js';

const engine = MappingEngine.create();
afterAll(() => engine.dispose());

const schedule: UpdateSchedule = {
  everyEpisodes: 1,
  everySeconds: Number.POSITIVE_INFINITY,
  minBankSize: 16,
  stepsPerUpdate: 150,
};

/** Event-loop delay while a meta-update runs, in milliseconds. */
async function delayDuring(update: () => Promise<unknown>) {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const started = performance.now();
  await update();
  const wallMs = performance.now() - started;
  histogram.disable();
  return { max: histogram.max / 1e6, p99: histogram.percentile(99) / 1e6, wallMs };
}

describe('a meta-update in the worker thread', () => {
  const training = sinusoids(404, 128);

  it('does not block the event loop while it trains', async () => {
    const learner = sinusoidLearner(engine, { placement: 'worker', schedule });
    await stream(engine, learner, training);

    const delay = await delayDuring(() => learner.update());
    await learner.close();

    // The update trains for seconds; the event loop must stay responsive throughout.
    // Bound: 99% of turns within 50 ms, none beyond 250 ms (slack for a busy 2-core host).
    expect(delay.wallMs).toBeGreaterThan(500);
    expect(delay.p99).toBeLessThan(50);
    expect(delay.max).toBeLessThan(250);
  });

  it('computes the same meta version as an update on the caller thread', async () => {
    const candidate = async (placement: 'worker' | 'inline') => {
      const learner = sinusoidLearner(engine, {
        placement,
        schedule: { ...schedule, stepsPerUpdate: 20 },
      });
      await stream(engine, learner, training.slice(0, 64));
      const outcome = await learner.update();
      await learner.close();
      return [...outcome.candidate.parameters.values()].map((tensor) => Array.from(tensor.values));
    };
    expect(await candidate('worker')).toEqual(await candidate('inline'));
  });
});
