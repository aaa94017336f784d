/**
 * The last two stages: publish the outputs of finished episodes, then commit their offsets.
 * Both run several batches at once (publishing one batch need not wait for the previous
 * one's acknowledgement); the delivery keeps the guarantees (see delivery.ts).
 */
import { mergeMap, type OperatorFunction } from 'rxjs';
import type { LearnerMetrics } from '../../observability/metrics.js';
import type { Delivery } from '../delivery.js';
import type { Finished } from '../types.js';
import { startClock } from './checks.js';

/** publish: writes outputs; emits the episodes written (those of revoked partitions are not). */
export function publishOutputs(
  delivery: Delivery,
  metrics?: LearnerMetrics,
): OperatorFunction<Finished[], Finished[]> {
  return mergeMap(async (finished) => {
    const stop = metrics?.startStage('publish') ?? startClock();
    const published = await delivery.publish(finished);
    stop();
    if (metrics) recordPublished(published, metrics);
    return published;
  });
}

/** commit: marks the episodes done and commits the offsets that became committable. */
export function commitOffsets(
  delivery: Delivery,
  metrics?: LearnerMetrics,
): OperatorFunction<Finished[], Finished[]> {
  return mergeMap(async (published) => {
    const stop = metrics?.startStage('commit') ?? startClock();
    await delivery.commit(published);
    stop();
    return published;
  });
}

function recordPublished(published: readonly Finished[], metrics: LearnerMetrics): void {
  const now = performance.now();
  for (const { inbound, outcome } of published) {
    if (outcome.status === 'adapted') {
      const family = outcome.family!;
      metrics.recordPublished(family);
      metrics.observeEndToEnd(family, (now - inbound.consumedAt) / 1000);
    } else {
      metrics.recordDeadLetter(outcome.family, outcome.reason ?? 'decode');
    }
  }
}
