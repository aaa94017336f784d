import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { EPISODE_VALIDATION_REASONS, type EpisodeValidationReason } from '../episode/validate.js';
import { AllmapError } from '../errors.js';

/**
 * Why an episode went to the dead-letter topic. The set is closed so that the `reason`
 * label can never grow without bound, whatever producers send.
 */
export type DeadLetterReason =
  | 'decode'
  | 'schema'
  | EpisodeValidationReason
  | 'tombstone'
  | 'diverged';

/** Bytes that do not decode, every reason validation gives, a tombstone, a diverged adaptation. */
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = [
  'decode',
  'schema',
  ...EPISODE_VALIDATION_REASONS,
  'tombstone',
  'diverged',
];

/** The steps of the learner's pipeline, in stream order, as the `stage` label names them. */
export const PIPELINE_STAGES = [
  'decode',
  'validate',
  'batch-wait',
  'encode',
  'generate',
  'adapt',
  'evaluate',
  'export',
  'publish',
  'commit',
] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

/** What became of a meta-update: its new encoder and generator were adopted, or not. */
export const META_UPDATE_OUTCOMES = ['adopted', 'rejected'] as const;
export type MetaUpdateOutcome = (typeof META_UPDATE_OUTCOMES)[number];

/** The `family` label of every episode whose family is not one the learner serves. */
export const UNKNOWN_FAMILY = 'unknown';

/** Seconds, from 1 ms to 10 s: one adaptation of a micro-batch is millisecond-scale work. */
export const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Seconds: a meta-update refits three models on the bank and may take minutes. */
export const META_UPDATE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Query losses span orders of magnitude (sinusoid MSE up to ~25, cross-entropy ~2). */
export const LOSS_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100,
];

/** Accuracy is a ratio in [0, 1]; the upper buckets are finer because that is where it lives. */
export const ACCURACY_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];

/** Episodes per micro-batch; `stream.batchSize` defaults to 16. */
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** A value handed to a metric that it cannot hold (a negative duration, a fractional count). */
export class InvalidObservationError extends AllmapError {
  constructor(
    readonly metric: string,
    readonly expected: string,
    readonly received: unknown,
  ) {
    super(`metric ${metric}: expected ${expected}, received ${String(received)}`);
  }
}

/** How one episode's adapted mapping did on its query set, before and after adaptation. */
export interface QueryEvaluation {
  /** Query loss of the initial mapping `theta0 = psi(phi(T))`. */
  lossBefore: number;
  /** Query loss of the adapted mapping `theta*`. */
  lossAfter: number;
  /** Query accuracy in [0, 1], for classification families only. */
  accuracyBefore?: number;
  accuracyAfter?: number;
}

export interface LearnerMetricsOptions {
  /**
   * The task families this learner serves. Any other family name is recorded as
   * `unknown`, which keeps the `family` label bounded whatever producers send. The
   * counters of each listed family start at zero so that `rate()` sees them at once.
   */
  families: readonly string[];
  /** Also export Node's process, heap, GC and event-loop metrics (default true). */
  collectProcessMetrics?: boolean;
}

/**
 * Every Prometheus metric of one learner process, in a registry of its own (never the
 * global default registry, so that tests and tools can hold several side by side).
 *
 * The learner records through the typed methods below; names follow Prometheus
 * conventions (`allmap_` prefix, base units, `_total` counters, `_seconds` durations).
 * docs/operations.md has the table of every series.
 */
export class LearnerMetrics {
  readonly registry = new Registry();

  private readonly families: ReadonlySet<string>;

  private readonly consumed: Counter<'family'>;
  private readonly adapted: Counter<'family'>;
  private readonly published: Counter<'family'>;
  private readonly deadLettered: Counter<'family' | 'reason'>;

  private readonly adaptDuration: Histogram<'family'>;
  private readonly endToEndLatency: Histogram<'family'>;
  private readonly stageDuration: Histogram<'stage'>;
  private readonly batchSize: Histogram<'family'>;

  private readonly queryLoss: Histogram<'family' | 'adaptation'>;
  private readonly queryAccuracy: Histogram<'family' | 'adaptation'>;

  private readonly metaUpdates: Counter<'family' | 'outcome'>;
  private readonly metaUpdateDuration: Histogram<'family'>;
  private readonly metaVersion: Gauge<'family'>;
  private readonly bankMappings: Gauge<'family'>;

  private readonly consumerLag: Gauge<'topic' | 'partition'>;
  private readonly inFlight: Gauge;

  constructor(options: LearnerMetricsOptions) {
    this.families = new Set(options.families);
    const registers = [this.registry];

    // Throughput: every episode is consumed once, then adapted or dead-lettered.
    this.consumed = new Counter({
      name: 'allmap_episodes_consumed_total',
      help: 'Episodes read from the episodes topic.',
      labelNames: ['family'],
      registers,
    });
    this.adapted = new Counter({
      name: 'allmap_episodes_adapted_total',
      help: 'Episodes whose mapping was adapted on its support set and evaluated on its query set.',
      labelNames: ['family'],
      registers,
    });
    this.published = new Counter({
      name: 'allmap_models_published_total',
      help: 'Adapted models acknowledged by the broker on the models topic.',
      labelNames: ['family'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'allmap_episodes_dead_lettered_total',
      help: 'Episodes sent to the dead-letter topic, by the reason they were refused.',
      labelNames: ['family', 'reason'],
      registers,
    });

    // Latency: one adaptation run, the whole trip through the learner, each stage.
    this.adaptDuration = new Histogram({
      name: 'allmap_adapt_duration_seconds',
      help: 'Duration of one adaptation run (omega) over a micro-batch of episodes.',
      labelNames: ['family'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.endToEndLatency = new Histogram({
      name: 'allmap_end_to_end_latency_seconds',
      help: 'Time from consuming an episode to the broker acknowledging its adapted model.',
      labelNames: ['family'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.stageDuration = new Histogram({
      name: 'allmap_stage_duration_seconds',
      help: 'Duration of one pipeline stage for one episode or micro-batch.',
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchSize = new Histogram({
      name: 'allmap_batch_size_episodes',
      help: 'Episodes per micro-batch handed to one adaptation run.',
      labelNames: ['family'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    });

    // Quality: what adaptation buys on the query set.
    this.queryLoss = new Histogram({
      name: 'allmap_query_loss',
      help: 'Query-set loss of each episode, before (theta0) and after (theta*) adaptation.',
      labelNames: ['family', 'adaptation'],
      buckets: LOSS_BUCKETS,
      registers,
    });
    this.queryAccuracy = new Histogram({
      name: 'allmap_query_accuracy_ratio',
      help: 'Query-set accuracy of each classification episode, before and after adaptation.',
      labelNames: ['family', 'adaptation'],
      buckets: ACCURACY_BUCKETS,
      registers,
    });

    // Lifelong loop: meta-updates, the meta version in use, the bank behind them.
    this.metaUpdates = new Counter({
      name: 'allmap_meta_updates_total',
      help: 'Meta-updates of encoder and generator finished, by whether they were adopted.',
      labelNames: ['family', 'outcome'],
      registers,
    });
    this.metaUpdateDuration = new Histogram({
      name: 'allmap_meta_update_duration_seconds',
      help: 'Duration of one meta-update, from reading the bank to a candidate meta version.',
      labelNames: ['family'],
      buckets: META_UPDATE_BUCKETS,
      registers,
    });
    this.metaVersion = new Gauge({
      name: 'allmap_meta_version',
      help: 'Meta version (encoder and generator) the stream currently adapts with.',
      labelNames: ['family'],
      registers,
    });
    this.bankMappings = new Gauge({
      name: 'allmap_bank_mappings',
      help: 'Adapted mappings held in the mapping bank.',
      labelNames: ['family'],
      registers,
    });

    // Kafka side: how far behind the consumer is, how much work is open.
    this.consumerLag = new Gauge({
      name: 'allmap_consumer_lag_records',
      help: 'Records between the high watermark and the committed offset of each partition.',
      labelNames: ['topic', 'partition'],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'allmap_episodes_in_flight',
      help: 'Episodes consumed whose offsets are not yet committed.',
      registers,
    });

    this.startFamiliesAtZero();
    if (options.collectProcessMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  // --- throughput -------------------------------------------------------------------

  /** Counts episodes read from the episodes topic. */
  recordConsumed(family: string, episodes = 1): void {
    this.consumed.inc({ family: this.familyLabel(family) }, checkCount(this.consumed, episodes));
  }

  /** Counts episodes adapted and evaluated (whether or not their model is published yet). */
  recordAdapted(family: string, episodes = 1): void {
    this.adapted.inc({ family: this.familyLabel(family) }, checkCount(this.adapted, episodes));
  }

  /** Counts models acknowledged on the models topic. */
  recordPublished(family: string, models = 1): void {
    this.published.inc({ family: this.familyLabel(family) }, checkCount(this.published, models));
  }

  /** Counts one episode sent to the dead-letter topic; `family` is undefined when undecodable. */
  recordDeadLetter(family: string | undefined, reason: DeadLetterReason): void {
    if (!DEAD_LETTER_REASONS.includes(reason)) {
      throw new InvalidObservationError(
        'allmap_episodes_dead_lettered_total',
        `a reason among ${DEAD_LETTER_REASONS.join(', ')}`,
        reason,
      );
    }
    this.deadLettered.inc({ family: this.familyLabel(family), reason });
  }

  // --- latency ----------------------------------------------------------------------

  /** Records one adaptation run over a micro-batch: its duration and its batch size. */
  observeAdapt(family: string, seconds: number, batchSize: number): void {
    const label = { family: this.familyLabel(family) };
    this.adaptDuration.observe(label, checkSeconds(this.adaptDuration, seconds));
    this.batchSize.observe(label, checkCount(this.batchSize, batchSize));
  }

  /** Records one episode's time from being consumed to its model being acknowledged. */
  observeEndToEnd(family: string, seconds: number): void {
    const label = { family: this.familyLabel(family) };
    this.endToEndLatency.observe(label, checkSeconds(this.endToEndLatency, seconds));
  }

  /** Records one pass through a pipeline stage. */
  observeStage(stage: PipelineStage, seconds: number): void {
    this.stageDuration.observe({ stage }, checkSeconds(this.stageDuration, seconds));
  }

  /**
   * Starts timing a pipeline stage; the returned function stops the clock, records the
   * duration and returns it in seconds. Handy around an awaited step.
   */
  startStage(stage: PipelineStage): () => number {
    const started = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.observeStage(stage, seconds);
      return seconds;
    };
  }

  // --- quality ----------------------------------------------------------------------

  /**
   * Records one episode's query loss (and accuracy, where given) before and after
   * adaptation. Non-finite values are not recorded: such an episode diverged and is
   * counted by `recordDeadLetter(family, 'diverged')` instead, and one NaN would
   * poison the histogram's sum for good.
   */
  observeEvaluation(family: string, evaluation: QueryEvaluation): void {
    const name = this.familyLabel(family);
    observeFinite(this.queryLoss, { family: name, adaptation: 'before' }, evaluation.lossBefore);
    observeFinite(this.queryLoss, { family: name, adaptation: 'after' }, evaluation.lossAfter);

    const { accuracyBefore, accuracyAfter } = evaluation;
    const accuracy = this.queryAccuracy;
    observeFinite(accuracy, { family: name, adaptation: 'before' }, accuracyBefore);
    observeFinite(accuracy, { family: name, adaptation: 'after' }, accuracyAfter);
  }

  // --- lifelong loop ----------------------------------------------------------------

  /**
   * Records a finished meta-update: its outcome and duration. When it was adopted and
   * `version` is given, the meta version gauge moves to it as well.
   */
  observeMetaUpdate(
    family: string,
    outcome: MetaUpdateOutcome,
    seconds: number,
    version?: number,
  ): void {
    const label = { family: this.familyLabel(family) };
    this.metaUpdateDuration.observe(label, checkSeconds(this.metaUpdateDuration, seconds));
    this.metaUpdates.inc({ ...label, outcome });
    if (outcome === 'adopted' && version !== undefined) this.setMetaVersion(family, version);
  }

  /** Sets the meta version the stream adapts with (also when loaded from the meta topic). */
  setMetaVersion(family: string, version: number): void {
    this.metaVersion.set(
      { family: this.familyLabel(family) },
      checkCount(this.metaVersion, version),
    );
  }

  /** Sets how many adapted mappings the bank holds for a family. */
  setBankSize(family: string, mappings: number): void {
    this.bankMappings.set(
      { family: this.familyLabel(family) },
      checkCount(this.bankMappings, mappings),
    );
  }

  // --- Kafka ------------------------------------------------------------------------

  /** Sets one partition's lag: its high watermark minus the group's committed offset. */
  setConsumerLag(topic: string, partition: number, records: number): void {
    const labels = { topic, partition: String(partition) };
    this.consumerLag.set(labels, Math.max(0, checkInteger(this.consumerLag, records)));
  }

  /** Drops a partition's lag series once it is revoked, so no stale lag lingers. */
  removeConsumerLag(topic: string, partition: number): void {
    this.consumerLag.remove({ topic, partition: String(partition) });
  }

  /** Sets the number of episodes consumed but not yet committed. */
  setEpisodesInFlight(episodes: number): void {
    this.inFlight.set(checkCount(this.inFlight, episodes));
  }

  /** Moves the in-flight count by `delta` (+n on consume, -n on commit or dead letter). */
  addEpisodesInFlight(delta: number): void {
    this.inFlight.inc(checkInteger(this.inFlight, delta));
  }

  // --- exposition -------------------------------------------------------------------

  /** The registry in the Prometheus text format, as `/metrics` serves it. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** The Content-Type header that goes with `metrics()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Every series name this registry can export, sorted: a counter or gauge by its name,
   * a histogram as `_bucket`, `_sum` and `_count` (never its bare name, which no series
   * carries), a summary as its name plus `_sum` and `_count`.
   */
  metricNames(): string[] {
    const names = this.registry.getMetricsAsArray().flatMap((metric) => seriesNames(metric));
    return [...new Set(names)].sort();
  }

  private startFamiliesAtZero(): void {
    for (const family of this.families) {
      for (const counter of [this.consumed, this.adapted, this.published]) {
        counter.inc({ family }, 0);
      }
      for (const reason of DEAD_LETTER_REASONS) this.deadLettered.inc({ family, reason }, 0);
    }
  }

  private familyLabel(family: string | undefined): string {
    return family !== undefined && this.families.has(family) ? family : UNKNOWN_FAMILY;
  }
}

/** Durations must be finite and not negative: a clock read backwards is a bug upstream. */
function checkSeconds(metric: unknown, value: number): number {
  if (Number.isFinite(value) && value >= 0) return value;
  throw new InvalidObservationError(nameOf(metric), 'a finite number of seconds >= 0', value);
}

function checkCount(metric: unknown, value: number): number {
  if (Number.isSafeInteger(value) && value >= 0) return value;
  throw new InvalidObservationError(nameOf(metric), 'an integer >= 0', value);
}

function checkInteger(metric: unknown, value: number): number {
  if (Number.isSafeInteger(value)) return value;
  throw new InvalidObservationError(nameOf(metric), 'an integer', value);
}

function nameOf(metric: unknown): string {
  return (metric as { name: string }).name;
}

function observeFinite<T extends string>(
  histogram: Histogram<T>,
  labels: Record<T, string>,
  value: number | undefined,
): void {
  if (value !== undefined && Number.isFinite(value)) histogram.observe(labels, value);
}

function seriesNames(metric: unknown): string[] {
  const name = nameOf(metric);
  if (metric instanceof Histogram) return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (metric instanceof Summary) return [name, `${name}_sum`, `${name}_count`];
  return [name];
}
