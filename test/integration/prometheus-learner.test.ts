import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadinessReport } from '../../src/observability/readiness.js';
import { AllmapProcess, scrapeMetrics } from '../support/learner-process.js';
import { freePort, type Prometheus, type Sample, startPrometheus } from '../support/prometheus.js';
import { sinusoidRecords } from '../support/stream-inputs.js';
import { type StreamSetup, streamSetup } from '../support/stream-kafka.js';
import { waitFor } from '../support/stream-topics.js';

/** The steady stream: 5 sinusoid episodes every 100 ms, 50 a second, for 12 s. */
const EPISODES_PER_TICK = 5;
const TICK_MS = 100;
const TICKS = 120;
const EPISODES = EPISODES_PER_TICK * TICKS;
const EPISODES_PER_SECOND = (EPISODES_PER_TICK * 1000) / TICK_MS;

/** Long enough to hold the whole stream, so a pause of the learner cannot empty the window. */
const WINDOW = '30s';
const SINUSOID = 'family="sinusoid"';

/** One `/readyz` answer, as the learner gave it while it started. */
interface ReadinessAnswer {
  status: number;
  report: ReadinessReport;
}

/**
 * A real Prometheus (the Debian binary) scrapes a real `allmap run` learner on the test
 * broker while a steady stream of sinusoid episodes flows through it: the rate of published
 * models and the median adaptation and end-to-end latencies come out of Prometheus' query
 * API non-zero and finite, `/readyz` turns 200 once the learner consumes, and `/metrics`
 * shows the counts, the meta version, the bank size and the consumer lag of the run.
 */
describe('Prometheus scraping a live allmap run learner, on Kafka', () => {
  let setup: StreamSetup | undefined;
  let prometheus: Prometheus | undefined;
  let learner: AllmapProcess | undefined;
  let stream: SteadyStream | undefined;
  let port: number;
  const readiness: ReadinessAnswer[] = [];

  beforeAll(async () => {
    port = await freePort();
    setup = await streamSetup(
      'prometheus',
      {
        ALLMAP_METRICS_PORT: String(port),
        // Meta-updates early and quick, so that a meta version is adopted within the stream.
        ALLMAP_META_EVERY_EPISODES: '100',
        ALLMAP_META_MIN_BANK_SIZE: '100',
        ALLMAP_META_STEPS_PER_UPDATE: '60',
      },
      2,
    );
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${port}`] });

    learner = new AllmapProcess(['run'], setup.env);
    const serving = await learner.waitForLog(
      (line) => line.msg?.startsWith('serving /metrics') === true,
      'the metrics server',
    );
    expect(serving.port).toBe(port);
    await watchReadiness(learner, port, readiness);

    stream = produceSteadily(setup);
  });

  afterAll(async () => {
    stream?.stop();
    await stream?.done.catch(() => undefined);
    learner?.kill('SIGKILL');
    await Promise.allSettled([learner?.exited, prometheus?.stop()]);
    await setup?.close();
  });

  it('answers /readyz with 503 while starting, then 200 once consuming', async () => {
    const [first] = readiness;
    const last = readiness.at(-1);
    const consuming = await learner!.waitForLog(
      (line) => line.msg === 'consuming episodes',
      'consuming',
      5_000,
    );

    expect(first?.status).toBe(503);
    expect(first?.report.missing.some((why) => why.startsWith('consuming'))).toBe(true);
    expect(last).toEqual({
      status: 200,
      report: {
        isReady: true,
        missing: [],
        isConsuming: true,
        isColdStart: true,
        metaVersions: {},
      },
    });
    expect(consuming.topic).toBe(setup!.topics.episodes);
  });

  it('is scraped by Prometheus', async () => {
    const up = await prometheus!.waitFor('up{job="allmap"} == 1');

    expect(up).toHaveLength(1);
  });

  it('gives a non-zero rate of published models', async () => {
    const published = await waitForPositive(
      `sum(rate(allmap_models_published_total{${SINUSOID}}[${WINDOW}]))`,
    );
    const consumed = await waitForPositive(
      `sum(rate(allmap_episodes_consumed_total{${SINUSOID}}[${WINDOW}]))`,
    );

    // Catching up after a pause may run ahead of the stream for a while, never ten times.
    expect(published).toBeLessThan(10 * EPISODES_PER_SECOND);
    expect(consumed).toBeLessThan(10 * EPISODES_PER_SECOND);
  });

  it('gives median adaptation and end-to-end latencies inside the histogram buckets', async () => {
    const adapt = await waitForPositive(
      `histogram_quantile(0.5, sum by (le) ` +
        `(rate(allmap_adapt_duration_seconds_bucket{${SINUSOID}}[${WINDOW}])))`,
    );
    const endToEnd = await waitForPositive(
      `histogram_quantile(0.5, sum by (le) ` +
        `(rate(allmap_end_to_end_latency_seconds_bucket{${SINUSOID}}[${WINDOW}])))`,
    );

    // The largest finite bucket is 10 s; a median beyond it would read as exactly 10.
    expect(adapt).toBeLessThan(10);
    expect(endToEnd).toBeLessThan(10);
    // An episode's trip includes its adaptation run, so its median cannot be much shorter.
    expect(endToEnd).toBeGreaterThan(adapt / 2);
  });

  // The gauge is set on each fetch and after each commit, so a learner that keeps up reads 0
  // at every scrape: what must hold is that every partition reports a whole number.
  it('sees consumer lag for every partition while episodes arrive', async () => {
    const series = `allmap_consumer_lag_records{topic="${setup!.topics.episodes}"}`;
    const partitions = await waitForPositive(`count(max_over_time(${series}[${WINDOW}]))`);
    const lag = (await waitForPositive(`count(${series} >= 0)`)) > 0;

    expect(partitions).toBe(2);
    expect(lag).toBe(true);
  });

  it('shows the run on /metrics: counts, meta version, bank size, consumer lag', async () => {
    expect(await stream!.done).toBe(EPISODES);
    let metrics = new Map<string, number>();
    await waitFor(
      async () => {
        metrics = await scrapeMetrics(port);
        const published = metrics.get(`allmap_models_published_total{${SINUSOID}}`) ?? 0;
        return published === EPISODES && (metrics.get(`allmap_meta_version{${SINUSOID}}`) ?? 0) > 0;
      },
      `${EPISODES} models published and a meta version adopted`,
      30_000,
      250,
    ).catch((error: unknown) => {
      const shown = seriesOf(metrics, 'allmap_').filter(([series]) => !series.includes('_bucket'));
      throw new Error(`${String(error)}\n/metrics: ${JSON.stringify(shown)}\n${learner!.tail()}`);
    });

    expect(metrics.get(`allmap_episodes_consumed_total{${SINUSOID}}`)).toBe(EPISODES);
    expect(metrics.get(`allmap_episodes_adapted_total{${SINUSOID}}`)).toBe(EPISODES);
    expect(metrics.get(`allmap_meta_version{${SINUSOID}}`)).toBeGreaterThanOrEqual(1);
    // Every adapted mapping is remembered while the bank is below its capacity (4,096).
    expect(metrics.get(`allmap_bank_mappings{${SINUSOID}}`)).toBe(EPISODES);
    const lag = seriesOf(metrics, `allmap_consumer_lag_records{topic="${setup!.topics.episodes}"`);
    expect(lag.map(([series]) => series).sort()).toEqual([
      `allmap_consumer_lag_records{topic="${setup!.topics.episodes}",partition="0"}`,
      `allmap_consumer_lag_records{topic="${setup!.topics.episodes}",partition="1"}`,
    ]);
    for (const [, records] of lag) {
      expect(Number.isInteger(records) && records >= 0).toBe(true);
    }
  });

  /** Repeats an instant query until it gives one finite value above zero, and returns it. */
  async function waitForPositive(promql: string): Promise<number> {
    const isPositive = (samples: Sample[]) =>
      samples.length === 1 && Number.isFinite(samples[0]!.value) && samples[0]!.value > 0;

    const samples = await prometheus!
      .waitFor(promql, { until: isPositive, timeoutMs: 30_000 })
      .catch((error: unknown) => {
        throw new Error(`${String(error)}\nlearner log:\n${learner!.tail()}`);
      });
    return samples[0]!.value;
  }
});

/**
 * Asks `/readyz` every 100 ms until it answers 200, keeping every answer. The metrics server
 * starts before the learner reads its meta versions and joins its group, so the first answers
 * are 503s.
 */
async function watchReadiness(
  learner: AllmapProcess,
  port: number,
  answers: ReadinessAnswer[],
): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (answers.at(-1)?.status !== 200) {
    if (Date.now() > deadline) {
      throw new Error(`/readyz never answered 200 in 90 s:\n${learner.tail()}`);
    }
    const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch((error: unknown) => {
      throw new Error(`/readyz did not answer (${String(error)}):\n${learner.tail()}`);
    });
    answers.push({ status: response.status, report: (await response.json()) as ReadinessReport });
    await sleep(100);
  }
}

/** Episodes sent at a steady rate in the background; `done` resolves to how many. */
interface SteadyStream {
  readonly done: Promise<number>;
  stop(): void;
}

function produceSteadily(setup: StreamSetup): SteadyStream {
  let isStopped = false;
  const startedAt = Date.now();

  const done = (async () => {
    let sent = 0;
    for (let tick = 0; tick < TICKS && !isStopped; tick++) {
      // A seed per tick: each tick's task ids are new.
      await setup.produce(sinusoidRecords(EPISODES_PER_TICK, 1_000 + tick, 'steady'));
      sent += EPISODES_PER_TICK;
      await sleep(Math.max(0, startedAt + (tick + 1) * TICK_MS - Date.now()));
    }
    return sent;
  })();
  // Whoever awaits `done` sees its failure; this only keeps it from counting as unhandled.
  done.catch(() => undefined);

  return {
    done,
    stop: () => {
      isStopped = true;
    },
  };
}

function seriesOf(metrics: Map<string, number>, prefix: string): Array<[string, number]> {
  return [...metrics].filter(([series]) => series.startsWith(prefix));
}
