import {
  asyncScheduler,
  type Observable,
  type OperatorFunction,
  Observable as RxObservable,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { LearnerMetrics } from '../../observability/metrics.js';
import { specOf } from '../learner-port.js';
import type { Accepted, EpisodeBatch } from '../types.js';

export interface BatchOptions {
  /** The most episodes one micro-batch holds. */
  readonly size: number;
  /**
   * How long the first episode of a batch may wait for more while the engine is free; a
   * full batch never waits. While the engine is busy, episodes gather anyway.
   */
  readonly windowMs: number;
}

interface Waiting {
  readonly item: Accepted;
  /** `scheduler.now()` when it arrived. */
  readonly at: number;
}

/**
 * batch: micro-batches of one family each, learnt one at a time by `learn`. A batch is
 * taken when the learning stage is free and a family has a full batch, or its oldest
 * episode has waited `windowMs`; so under load a batch holds whatever arrived while the
 * previous one was learnt (up to `size`), and the engine's fixed cost per run is shared by
 * more episodes exactly when the stream needs it. Families take turns by their oldest
 * episode. The engine adapts a whole batch in one run, so a batch shares one architecture:
 * episodes of different families never meet. When the source completes, what waits is learnt
 * without waiting for windows, and then the output completes.
 */
export function learnInBatches<R>(
  options: BatchOptions,
  learn: (batch: EpisodeBatch) => Observable<R>,
  metrics?: LearnerMetrics,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<Accepted, R> {
  return (source) =>
    new RxObservable<R>((subscriber) => {
      const waiting = new Map<string, Waiting[]>();
      let isBusy = false;
      let isSourceDone = false;
      let running: Subscription | undefined;
      let timer: Subscription | undefined;

      /** The family whose batch may go now, the one waiting longest first. */
      const eligible = (): string | undefined => {
        let chosen: string | undefined;
        let oldest = Number.POSITIVE_INFINITY;
        for (const [family, queue] of waiting) {
          const first = queue[0]!.at;
          const isReady =
            isSourceDone ||
            queue.length >= options.size ||
            scheduler.now() - first >= options.windowMs;
          if (isReady && first < oldest) {
            chosen = family;
            oldest = first;
          }
        }
        return chosen;
      };

      const scheduleWindow = () => {
        if (waiting.size === 0) return;
        const firsts = [...waiting.values()].map((queue) => queue[0]!.at);
        const delay = Math.max(0, Math.min(...firsts) + options.windowMs - scheduler.now());
        timer = scheduler.schedule(startNext, delay);
      };

      function startNext(): void {
        if (isBusy) return;
        timer?.unsubscribe();
        timer = undefined;

        const family = eligible();
        if (family === undefined) {
          if (isSourceDone && waiting.size === 0) subscriber.complete();
          else scheduleWindow();
          return;
        }
        const queue = waiting.get(family)!;
        const taken = queue.splice(0, options.size).map((entry) => entry.item);
        if (queue.length === 0) waiting.delete(family);

        isBusy = true;
        running = learn(toBatch(taken, metrics)).subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => subscriber.error(error),
          // On the scheduler, not inline: a `learn` that completes at once must not recurse.
          complete: () => {
            isBusy = false;
            scheduler.schedule(startNext);
          },
        });
      }

      const subscription = source.subscribe({
        next: (item) => {
          const family = item.family.name;
          const queue = waiting.get(family) ?? [];
          queue.push({ item, at: scheduler.now() });
          waiting.set(family, queue);
          if (!isBusy && (queue.length >= options.size || timer === undefined)) startNext();
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          isSourceDone = true;
          if (!isBusy) startNext();
        },
      });

      return () => {
        subscription.unsubscribe();
        running?.unsubscribe();
        timer?.unsubscribe();
      };
    });
}

function toBatch(items: Accepted[], metrics: LearnerMetrics | undefined): EpisodeBatch {
  const now = performance.now();
  const waited = items.map((item) => {
    const ms = now - item.acceptedAt;
    metrics?.observeStage('batch-wait', ms / 1000);
    return { ...item, stageMs: { ...item.stageMs, 'batch-wait': ms } };
  });
  const family = items[0]!.family;
  return { family, spec: specOf(family), items: waited, stageMs: {} };
}
