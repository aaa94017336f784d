import { describe, expect, it } from 'vitest';
import {
  DEAD_LETTER_REASONS,
  type DeadLetterReason,
  InvalidObservationError,
  LearnerMetrics,
  PIPELINE_STAGES,
} from '../../src/observability/metrics.js';

const FAMILIES = ['sinusoid', 'fashion-mnist-5way'];

function learnerMetrics(): LearnerMetrics {
  return new LearnerMetrics({ families: FAMILIES, collectProcessMetrics: false });
}

/** The value of one series in the exposition text, or undefined when it is absent. */
async function seriesValue(metrics: LearnerMetrics, series: string): Promise<number | undefined> {
  const text = await metrics.metrics();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('LearnerMetrics', () => {
  it('counts consumed, adapted and published episodes per family', async () => {
    const metrics = learnerMetrics();

    metrics.recordConsumed('sinusoid', 3);
    metrics.recordAdapted('sinusoid', 2);
    metrics.recordPublished('sinusoid');

    const family = '{family="sinusoid"}';
    expect(await seriesValue(metrics, `allmap_episodes_consumed_total${family}`)).toBe(3);
    expect(await seriesValue(metrics, `allmap_episodes_adapted_total${family}`)).toBe(2);
    expect(await seriesValue(metrics, `allmap_models_published_total${family}`)).toBe(1);
  });

  it('starts every known family and dead-letter reason at zero', async () => {
    const metrics = learnerMetrics();

    const consumed = 'allmap_episodes_consumed_total{family="fashion-mnist-5way"}';
    expect(await seriesValue(metrics, consumed)).toBe(0);
    for (const reason of DEAD_LETTER_REASONS) {
      const series = `allmap_episodes_dead_lettered_total{family="sinusoid",reason="${reason}"}`;
      expect(await seriesValue(metrics, series)).toBe(0);
    }
  });

  it('records families it does not serve, and undecodable episodes, as unknown', async () => {
    const metrics = learnerMetrics();

    metrics.recordConsumed('no-such-family');
    metrics.recordDeadLetter('no-such-family', 'unknown-family');
    metrics.recordDeadLetter(undefined, 'decode');

    const text = await metrics.metrics();
    expect(text).not.toContain('no-such-family');
    expect(await seriesValue(metrics, 'allmap_episodes_consumed_total{family="unknown"}')).toBe(1);
    const deadLetter = 'allmap_episodes_dead_lettered_total{family="unknown",reason="decode"}';
    expect(await seriesValue(metrics, deadLetter)).toBe(1);
  });

  it('refuses a dead-letter reason outside the fixed set, naming the allowed ones', () => {
    const metrics = learnerMetrics();

    const call = () => metrics.recordDeadLetter('sinusoid', 'bad-luck' as DeadLetterReason);

    expect(call).toThrow(InvalidObservationError);
    expect(call).toThrow(/expected a reason among decode, schema, .*diverged, received bad-luck/);
  });

  it('records an adaptation run as a duration and a batch size', async () => {
    const metrics = learnerMetrics();

    metrics.observeAdapt('sinusoid', 0.004, 16);
    metrics.observeAdapt('sinusoid', 0.02, 3);

    const family = 'family="sinusoid"';
    expect(await seriesValue(metrics, `allmap_adapt_duration_seconds_count{${family}}`)).toBe(2);
    expect(await seriesValue(metrics, `allmap_adapt_duration_seconds_sum{${family}}`)).toBeCloseTo(
      0.024,
      9,
    );
    // 0.004 s falls in the 5 ms bucket, 0.02 s does not.
    expect(
      await seriesValue(metrics, `allmap_adapt_duration_seconds_bucket{le="0.005",${family}}`),
    ).toBe(1);
    expect(await seriesValue(metrics, `allmap_batch_size_episodes_bucket{le="4",${family}}`)).toBe(
      1,
    );
    expect(await seriesValue(metrics, `allmap_batch_size_episodes_sum{${family}}`)).toBe(19);
  });

  it('times a pipeline stage with the clock it starts', async () => {
    const metrics = learnerMetrics();

    const stop = metrics.startStage('encode');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const seconds = stop();

    expect(seconds).toBeGreaterThanOrEqual(0.015);
    expect(seconds).toBeLessThan(5);
    const sum = await seriesValue(metrics, 'allmap_stage_duration_seconds_sum{stage="encode"}');
    expect(sum).toBeCloseTo(seconds, 9);
  });

  it('refuses negative or non-finite durations with the metric name', () => {
    const metrics = learnerMetrics();

    expect(() => metrics.observeEndToEnd('sinusoid', -0.1)).toThrow(
      'metric allmap_end_to_end_latency_seconds: expected a finite number of seconds >= 0, ' +
        'received -0.1',
    );
    expect(() => metrics.observeStage('adapt', Number.NaN)).toThrow(InvalidObservationError);
    expect(() => metrics.observeAdapt('sinusoid', 0.01, 2.5)).toThrow(
      'metric allmap_batch_size_episodes: expected an integer >= 0, received 2.5',
    );
  });

  it('records query loss and accuracy before and after adaptation, skipping NaN', async () => {
    const metrics = learnerMetrics();

    metrics.observeEvaluation('fashion-mnist-5way', {
      lossBefore: 1.6,
      lossAfter: 0.4,
      accuracyBefore: 0.2,
      accuracyAfter: 0.8,
    });
    metrics.observeEvaluation('fashion-mnist-5way', { lossBefore: 1.2, lossAfter: Number.NaN });

    const labels = (adaptation: string) =>
      `{family="fashion-mnist-5way",adaptation="${adaptation}"}`;
    expect(await seriesValue(metrics, `allmap_query_loss_count${labels('before')}`)).toBe(2);
    expect(await seriesValue(metrics, `allmap_query_loss_sum${labels('before')}`)).toBeCloseTo(
      2.8,
      9,
    );
    expect(await seriesValue(metrics, `allmap_query_loss_count${labels('after')}`)).toBe(1);
    expect(await seriesValue(metrics, `allmap_query_accuracy_ratio_sum${labels('after')}`)).toBe(
      0.8,
    );
    expect(await seriesValue(metrics, `allmap_query_accuracy_ratio_count${labels('before')}`)).toBe(
      1,
    );
  });

  it('counts meta-updates by outcome; only an adopted one moves the meta version', async () => {
    const metrics = learnerMetrics();

    metrics.observeMetaUpdate('sinusoid', 'adopted', 2.5, 4);
    metrics.observeMetaUpdate('sinusoid', 'rejected', 1.5, 5);

    const updates = (outcome: string) =>
      `allmap_meta_updates_total{family="sinusoid",outcome="${outcome}"}`;
    expect(await seriesValue(metrics, updates('adopted'))).toBe(1);
    expect(await seriesValue(metrics, updates('rejected'))).toBe(1);
    expect(await seriesValue(metrics, 'allmap_meta_version{family="sinusoid"}')).toBe(4);
    expect(
      await seriesValue(metrics, 'allmap_meta_update_duration_seconds_sum{family="sinusoid"}'),
    ).toBe(4);
  });

  it('keeps consumer lag per partition and forgets a revoked partition', async () => {
    const metrics = learnerMetrics();

    metrics.setConsumerLag('allmap.episodes', 0, 120);
    metrics.setConsumerLag('allmap.episodes', 1, 7);
    metrics.removeConsumerLag('allmap.episodes', 0);

    const lag = (partition: number) =>
      `allmap_consumer_lag_records{topic="allmap.episodes",partition="${partition}"}`;
    expect(await seriesValue(metrics, lag(0))).toBeUndefined();
    expect(await seriesValue(metrics, lag(1))).toBe(7);
  });

  it('tracks bank size and episodes in flight', async () => {
    const metrics = learnerMetrics();

    metrics.setBankSize('sinusoid', 812);
    metrics.setEpisodesInFlight(10);
    metrics.addEpisodesInFlight(5);
    metrics.addEpisodesInFlight(-12);

    expect(await seriesValue(metrics, 'allmap_bank_mappings{family="sinusoid"}')).toBe(812);
    expect(await seriesValue(metrics, 'allmap_episodes_in_flight')).toBe(3);
  });

  it('keeps two instances apart, each in its own registry', async () => {
    const first = learnerMetrics();
    const second = learnerMetrics();

    first.recordConsumed('sinusoid');

    const series = 'allmap_episodes_consumed_total{family="sinusoid"}';
    expect(await seriesValue(first, series)).toBe(1);
    expect(await seriesValue(second, series)).toBe(0);
  });

  it('lists every series name, histograms by their suffixed series only', () => {
    const names = new LearnerMetrics({ families: FAMILIES }).metricNames();

    expect(names).toContain('allmap_episodes_dead_lettered_total');
    expect(names).toContain('allmap_meta_version');
    expect(names).toEqual(expect.arrayContaining(histogramSeries('allmap_stage_duration_seconds')));
    expect(names).not.toContain('allmap_stage_duration_seconds');
    // Node's own metrics come along: the dashboard plots event-loop lag.
    expect(names).toContain('nodejs_eventloop_lag_p99_seconds');
    expect(names).toContain('process_resident_memory_bytes');
    expect(names).toEqual([...names].sort());
  });

  it('prefixes every series with allmap_ and counts five counters', () => {
    const names = learnerMetrics().metricNames();

    for (const name of names) expect(name).toMatch(/^allmap_[a-z_]+$/);
    const counters = names.filter((name) => name.endsWith('_total'));
    expect(counters).toHaveLength(5);
  });

  it('covers every pipeline stage with a label value', async () => {
    const metrics = learnerMetrics();

    for (const stage of PIPELINE_STAGES) metrics.observeStage(stage, 0.001);

    const text = await metrics.metrics();
    for (const stage of PIPELINE_STAGES) {
      expect(text).toContain(`allmap_stage_duration_seconds_count{stage="${stage}"} 1`);
    }
  });
});

function histogramSeries(name: string): string[] {
  return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
}
