import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootLogger } from '../../src/log/logger.js';
import { DEAD_LETTER_REASONS, LearnerMetrics } from '../../src/observability/metrics.js';
import { Readiness } from '../../src/observability/readiness.js';
import {
  type ObservabilityServer,
  startObservabilityServer,
} from '../../src/observability/server.js';
import { type Prometheus, type Sample, startPrometheus } from '../support/prometheus.js';

/**
 * A real Prometheus (the Debian binary) scrapes a real `LearnerMetrics` server: every
 * allmap series must arrive, and the dashboard's kinds of query (rate, histogram_quantile,
 * mean of a histogram) must give sensible numbers.
 */
describe('Prometheus scraping the learner metrics', () => {
  const metrics = new LearnerMetrics({ families: ['sinusoid'] });
  let server: ObservabilityServer;
  let prometheus: Prometheus;
  let recording: NodeJS.Timeout;

  beforeAll(async () => {
    createRootLogger({ level: 'warn' });
    server = await startObservabilityServer({
      port: 0,
      host: '127.0.0.1',
      metrics,
      readiness: new Readiness(),
    });
    recordOneBatch(metrics);
    // Keep recording between scrapes, so that rate() over two scrapes sees growth.
    recording = setInterval(() => recordOneBatch(metrics), 200);
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${server.port}`] });
  });

  afterAll(async () => {
    clearInterval(recording);
    await prometheus?.stop();
    await server?.close();
  });

  it('scrapes the learner target successfully', async () => {
    const up = await prometheus.waitFor('up{job="allmap"} == 1');

    expect(up).toHaveLength(1);
    const [target] = await prometheus.targets();
    expect(target?.health).toBe('up');
  });

  it('receives every allmap series with a non-zero value', async () => {
    const expected = metrics.metricNames().filter((name) => name.startsWith('allmap_'));

    const present = await prometheus.waitFor('count by (__name__) ({__name__=~"allmap_.+"} > 0)', {
      until: (samples) => samples.length === expected.length,
    });

    expect(names(present)).toEqual(expected);
  });

  it('receives the Node process and event-loop series', async () => {
    const memory = await prometheus.waitFor('process_resident_memory_bytes > 0');
    const lag = await prometheus.waitFor('nodejs_eventloop_lag_p99_seconds');

    expect(memory[0]!.value).toBeGreaterThan(10 * 1024 * 1024);
    expect(lag[0]!.value).toBeGreaterThanOrEqual(0);
  });

  it('computes a positive consumption rate over two scrapes', async () => {
    const rate = await prometheus.waitFor(
      'sum(rate(allmap_episodes_consumed_total{family="sinusoid"}[5s]))',
      { until: (samples) => (samples[0]?.value ?? 0) > 0 },
    );

    // About 16 episodes every 200 ms; scrape timing makes it approximate.
    expect(rate[0]!.value).toBeGreaterThan(10);
    expect(rate[0]!.value).toBeLessThan(400);
  });

  it('computes adaptation latency percentiles inside the observed range', async () => {
    const p95 = await prometheus.waitFor(
      'histogram_quantile(0.95, sum by (le) (allmap_adapt_duration_seconds_bucket))',
    );

    // Every observation is 4 ms, so the quantile lies in the (2.5 ms, 5 ms] bucket.
    expect(p95[0]!.value).toBeGreaterThan(0.0025);
    expect(p95[0]!.value).toBeLessThanOrEqual(0.005);
  });

  it('computes mean query loss before and after adaptation from the histogram', async () => {
    const mean = await prometheus.waitFor(
      'sum by (adaptation) (allmap_query_loss_sum) / sum by (adaptation) (allmap_query_loss_count)',
      { until: (samples) => samples.length === 2 },
    );

    const byAdaptation = Object.fromEntries(mean.map((s) => [s.metric.adaptation, s.value]));
    expect(byAdaptation.before).toBeCloseTo(2, 6);
    expect(byAdaptation.after).toBeCloseTo(0.5, 6);
  });
});

/** One micro-batch of 16 sinusoid episodes through every stage, as the learner records it. */
function recordOneBatch(metrics: LearnerMetrics): void {
  metrics.recordConsumed('sinusoid', 16);
  metrics.addEpisodesInFlight(16);
  metrics.observeStage('decode', 0.0002);
  metrics.observeAdapt('sinusoid', 0.004, 16);
  for (let episode = 0; episode < 16; episode++) {
    metrics.observeEvaluation('sinusoid', {
      lossBefore: 2,
      lossAfter: 0.5,
      accuracyBefore: 0.4,
      accuracyAfter: 0.9,
    });
    metrics.observeEndToEnd('sinusoid', 0.03);
  }
  metrics.recordAdapted('sinusoid', 16);
  metrics.recordPublished('sinusoid', 16);
  for (const reason of DEAD_LETTER_REASONS) metrics.recordDeadLetter('sinusoid', reason);
  metrics.observeMetaUpdate('sinusoid', 'adopted', 1.2, 3);
  metrics.observeMetaUpdate('sinusoid', 'rejected', 0.8);
  metrics.setBankSize('sinusoid', 64);
  metrics.setConsumerLag('allmap.episodes', 0, 42);
  metrics.addEpisodesInFlight(-8);
}

function names(samples: Sample[]): string[] {
  return samples.map((sample) => sample.metric.__name__ ?? '').sort();
}
