import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
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
  stepsPerUpdate: 100,
};

/**
 * The event loop while a meta-update runs: its delay (milliseconds) and its utilisation,
 * the share of the time it was busy running code rather than waiting for events. Delay
 * also grows when a loaded host does not schedule the thread; utilisation does not.
 */
async function loopDuring(update: () => Promise<unknown>) {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const before = performance.eventLoopUtilization();
  const started = performance.now();
  await update();
  const wallMs = performance.now() - started;
  const utilisation = performance.eventLoopUtilization(before).utilization;
  histogram.disable();
  return { p99: histogram.percentile(99) / 1e6, utilisation, wallMs };
}

describe('a meta-update in the worker thread', () => {
  const training = sinusoids(404, 128);

  it('does not block the event loop while it trains, unlike one on the caller thread', async () => {
    const measure = async (placement: 'worker' | 'inline') => {
      const learner = sinusoidLearner(engine, { placement, schedule });
      await stream(engine, learner, training);
      const loop = await loopDuring(() => learner.update());
      await learner.close();
      return loop;
    };
    const worker = await measure('worker');
    const inline = await measure('inline');

    // Measured: the worker's loop busy 0.5% of a 5 s, 150-step update, p99 delay under
    // 30 ms; inline, busy 100% of the time.
    // Bounds: busy under 10% of the time, 99% of turns within 100 ms (slack for a host
    // whose 2 cores are shared); the same update inline keeps the loop busy over half.
    expect(worker.wallMs).toBeGreaterThan(500);
    expect(worker.utilisation).toBeLessThan(0.1);
    expect(worker.p99).toBeLessThan(100);
    expect(inline.utilisation).toBeGreaterThan(0.5);
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
