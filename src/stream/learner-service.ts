/**
 * `allmap run` as a service: starts everything the streaming learner needs, in order, and
 * stops it again.
 *
 * Start: create missing topics; restore phi/psi from the meta topic and the bank from the
 * bank topic; start the metrics server; follow the meta topic; join the consumer group of
 * the episodes topic and resume from the committed offsets.
 *
 * Stop (SIGTERM, SIGINT, or the end of the embedded demo): take no more records, let the
 * episodes in flight finish, publish and commit within `stream.shutdownGraceMs`; whatever
 * is still in flight then is abandoned uncommitted (read again after a restart). Then leave
 * the group, close producers and the meta-update workers.
 */
import { randomUUID } from 'node:crypto';
import { type Observable, Subject, type Subscription } from 'rxjs';
import { type AvroCodec, defaultCodec } from '../codec/index.js';
import type { Config } from '../config/schema.js';
import { type TopicNames, topicNames, topicSpecs } from '../config/topics.js';
import { MappingEngine } from '../engine/index.js';
import { knownFamilies } from '../episode/families.js';
import { defaultEpisodeLimits } from '../episode/validate.js';
import { getLogger, type Logger } from '../log/logger.js';
import { LearnerMetrics } from '../observability/metrics.js';
import { Readiness } from '../observability/readiness.js';
import { type ObservabilityServer, startObservabilityServer } from '../observability/server.js';
import {
  type Consumer,
  createTransport,
  type Producer,
  type Transport,
} from '../transport/index.js';
import { AtLeastOnceDelivery, type Delivery } from './delivery.js';
import { ExactlyOnceDelivery } from './delivery-exactly-once.js';
import { Intake } from './intake.js';
import { LearnerPort, type LearnerSettings } from './learner-port.js';
import { MetaUpdater } from './meta-updater.js';
import {
  type AppliedVersion,
  BANK_INSTANCE_HEADER,
  followMetaVersions,
  MetaVersionSwitch,
  recoverFromTopics,
} from './meta-versions.js';
import { OffsetTracker } from './offsets.js';
import { learnerPipeline } from './pipeline.js';
import type { EpisodeOutcome } from './types.js';

export interface LearnerServiceOptions {
  readonly config: Config;
  /** A transport to run on; otherwise Kafka when brokers are configured, else the embedded log. */
  readonly transport?: Transport;
  readonly logger?: Logger;
  /** Fixes the seeded initialisation, the bank's draws and every meta-update; default 1. */
  readonly seed?: number;
}

export interface LearnerService {
  readonly transport: Transport;
  readonly topics: TopicNames;
  readonly metrics: LearnerMetrics;
  readonly readiness: Readiness;
  /** The port of `/metrics`, when the server runs. */
  readonly metricsPort: number | undefined;
  readonly instanceId: string;
  /** Every episode once its outputs are published and its offset committed. */
  readonly outcomes$: Observable<EpisodeOutcome>;
  /** Every meta version the stream switches to. */
  readonly metaVersions$: Observable<AppliedVersion>;
  /** Episodes taken from the episodes topic and not yet committed (or abandoned). */
  readonly inFlight: number;
  /** Settles when the service has stopped: rejects with what stopped it, if not `stop()`. */
  readonly stopped: Promise<void>;
  /** Drains and stops; resolves once everything is closed. Safe to call more than once. */
  stop(): Promise<void>;
}

/** Starts the streaming learner and resolves once it consumes. */
export async function startLearner(options: LearnerServiceOptions): Promise<LearnerService> {
  const service = new RunningLearner(options);
  try {
    await service.start();
  } catch (error) {
    await service.close();
    throw error;
  }
  return service;
}

class RunningLearner implements LearnerService {
  readonly instanceId = randomUUID();
  readonly topics: TopicNames;
  readonly metrics: LearnerMetrics;
  readonly readiness = new Readiness();
  readonly outcomes$ = new Subject<EpisodeOutcome>();
  readonly stopped: Promise<void>;
  transport!: Transport;
  metricsPort: number | undefined;

  private readonly config: Config;
  private readonly logger: Logger;
  private readonly codec: AvroCodec = defaultCodec();
  private readonly engine: MappingEngine;
  private readonly port: LearnerPort;
  private readonly versions: MetaVersionSwitch;
  private readonly tracker = new OffsetTracker();
  private server: ObservabilityServer | undefined;
  private producer: Producer | undefined;
  private delivery: Delivery | undefined;
  private intake: Intake | undefined;
  private updater: MetaUpdater | undefined;
  private consumer: Consumer | undefined;
  private metaFollower: Consumer | undefined;
  private pipeline: Subscription | undefined;
  private drained: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private settle!: { resolve: () => void; reject: (error: unknown) => void };

  constructor(private readonly options: LearnerServiceOptions) {
    this.config = options.config;
    this.logger = options.logger ?? getLogger('stream');
    this.topics = topicNames(this.config);
    this.metrics = new LearnerMetrics({ families: knownFamilies().map((family) => family.name) });
    const { provider, intraOpThreads, interOpThreads } = this.config.engine;
    this.engine = MappingEngine.create({ provider, intraOpThreads, interOpThreads });
    this.port = new LearnerPort(this.engine, this.learnerSettings());
    this.versions = new MetaVersionSwitch(this.port, this.logger, this.metrics, this.readiness);
    this.tracker.onLag(({ topic, partition }, lag) =>
      this.metrics.setConsumerLag(topic, partition, lag),
    );
    this.stopped = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.stopped.catch(() => {});
  }

  get metaVersions$(): Observable<AppliedVersion> {
    return this.versions.applied$;
  }

  get inFlight(): number {
    return this.tracker.inFlight;
  }

  async start(): Promise<void> {
    this.transport = this.options.transport ?? (await this.connect());
    await this.transport.createTopics(topicSpecs(this.config));
    await this.startMetricsServer();

    const recovered = await recoverFromTopics({
      transport: this.transport,
      codec: this.codec,
      port: this.port,
      versions: this.versions,
      topics: this.topics,
      logger: this.logger,
    });
    if (recovered.metaVersions === 0) this.readiness.setColdStart();

    this.producer = await this.transport.producer();
    this.metaFollower = await followMetaVersions({
      transport: this.transport,
      codec: this.codec,
      versions: this.versions,
      topic: this.topics.meta,
      logger: this.logger,
    });
    this.startPipeline();
    await this.consume();
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutDown(undefined);
    return this.stopping;
  }

  /** Releases whatever was started, for a start that failed half way. */
  async close(): Promise<void> {
    await this.stop().catch(() => {});
  }

  private learnerSettings(): LearnerSettings {
    const { adapt, meta, engine } = this.config;
    const updateEngine = {
      provider: engine.provider,
      intraOpThreads: engine.intraOpThreads,
      interOpThreads: engine.interOpThreads,
    };
    return { adapt, meta, updateEngine, seed: this.options.seed ?? 1 };
  }

  private async connect(): Promise<Transport> {
    const { kafka } = this.config;
    return createTransport({
      brokers: kafka.brokers,
      clientId: kafka.clientId,
      replicationFactor: kafka.replicationFactor,
      consumer: {
        sessionTimeoutMs: kafka.sessionTimeoutMs,
        heartbeatIntervalMs: kafka.heartbeatIntervalMs,
        rebalanceTimeoutMs: kafka.rebalanceTimeoutMs,
        maxWaitTimeMs: kafka.maxWaitTimeMs,
      },
      transactionTimeoutMs: kafka.transactionTimeoutMs,
      logger: getLogger('kafka'),
    });
  }

  private async startMetricsServer(): Promise<void> {
    if (!this.config.metrics.enabled) return;
    this.server = await startObservabilityServer({
      port: this.config.metrics.port,
      metrics: this.metrics,
      readiness: this.readiness,
    });
    this.metricsPort = this.server.port;
  }

  private startPipeline(): void {
    const { stream, kafka } = this.config;
    const consumer = () => this.intake?.currentConsumer();
    this.delivery =
      kafka.delivery === 'exactly-once'
        ? new ExactlyOnceDelivery({
            transport: this.transport,
            tracker: this.tracker,
            groupId: kafka.groupId,
            consumer,
            logger: this.logger,
          })
        : new AtLeastOnceDelivery(this.transport, this.tracker, consumer, this.logger);

    this.updater = new MetaUpdater({
      transport: this.transport,
      producer: this.producer!,
      codec: this.codec,
      port: this.port,
      versions: this.versions,
      topics: this.topics,
      instanceId: this.instanceId,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.intake = new Intake({
      maxInFlight: stream.maxInFlight,
      tracker: this.tracker,
      delivery: this.delivery,
      logger: this.logger,
      metrics: this.metrics,
      onAssigned: (partitions) => this.updater?.assigned(partitions),
      onRevoked: (partitions) => this.updater?.revoked(partitions),
      onFailure: (error) => this.fail(error),
    });

    const pipeline = this.intake.inbound$.pipe(
      learnerPipeline({
        codec: this.codec,
        engine: this.engine,
        port: this.port,
        delivery: this.delivery,
        topics: this.topics,
        limits: { ...defaultEpisodeLimits, maxBytes: stream.maxEpisodeBytes },
        batch: { size: stream.batchSize, windowMs: stream.batchWindowMs },
        bankHeaders: { [BANK_INSTANCE_HEADER]: this.instanceId },
        logger: this.logger,
        metrics: this.metrics,
        afterBatch: (family) => this.updater?.afterBatch(family),
      }),
    );
    this.drained = new Promise((resolve) => {
      this.pipeline = pipeline.subscribe({
        next: (finished) => {
          for (const item of finished) this.outcomes$.next(item.outcome);
        },
        error: (error: unknown) => {
          resolve();
          this.fail(error);
        },
        complete: () => resolve(),
      });
    });
  }

  private async consume(): Promise<void> {
    const { kafka } = this.config;
    this.consumer = await this.transport.consume({
      groupId: kafka.groupId,
      topics: [this.topics.episodes],
      autoOffsetReset: 'earliest',
      isolationLevel: 'read_committed',
      ...this.intake!.handlers(),
    });
    this.intake!.attach(this.consumer);
    this.readiness.setConsuming(true);
    this.consumer.stopped.catch((error: unknown) => this.fail(error));
    this.logger.info(
      {
        transport: this.transport.kind,
        topic: this.topics.episodes,
        groupId: kafka.groupId,
        delivery: kafka.delivery,
        instanceId: this.instanceId,
      },
      'consuming episodes',
    );
  }

  /** Something the learner cannot go on after: stop without draining, then report it. */
  private fail(error: unknown): void {
    if (this.stopping !== undefined) return;
    this.logger.error({ err: error }, 'the learner stops: it cannot go on');
    this.stopping = this.shutDown(error);
  }

  private async shutDown(failure: unknown): Promise<void> {
    const graceMs = this.config.stream.shutdownGraceMs;
    const deadline = Date.now() + graceMs;
    // Closing producers and leaving the group takes a moment too: draining gets the rest.
    const drainDeadline = deadline - Math.min(2_000, graceMs / 4);
    this.readiness.setConsuming(false);

    // Take no more records; let what is in flight finish, for at most the grace period.
    this.intake?.stop();
    if (failure === undefined) await this.drain(drainDeadline);
    this.pipeline?.unsubscribe();
    this.outcomes$.complete();

    // A meta-update in progress is abandoned: waiting for it could take longer than the
    // grace period, and the next meta-updater starts a fresh one.
    await this.closeQuietly('meta-updater', () => this.updater?.close());
    await this.closeQuietly('consumer', () => this.consumer?.stop());
    await this.closeQuietly('meta follower', () => this.metaFollower?.stop());
    await this.closeQuietly('delivery', () => this.delivery?.close());
    await this.closeQuietly('producer', () => this.producer?.disconnect());
    // A transport handed in belongs to the caller, who may start another learner on it.
    if (this.options.transport === undefined) {
      await this.closeQuietly('transport', () => this.transport?.close());
    }
    // A worker ends after the update it runs. Its result is dropped, but the process waits
    // for it (within the grace period): exiting while the worker is inside ONNX Runtime can
    // kill the process with a signal instead of a clean exit.
    await this.closeQuietly('learners', () => withTimeout(this.port.close(), remaining(deadline)));
    await this.closeQuietly('engine', () => this.engine.dispose());
    await this.closeQuietly('metrics server', () => this.server?.close());

    this.logger.info({ abandoned: this.tracker.inFlight }, 'learner stopped');
    if (failure === undefined) this.settle.resolve();
    else this.settle.reject(failure);
  }

  private async drain(deadline: number): Promise<void> {
    const isDrained = await withTimeout(
      this.drained.then(() => true),
      remaining(deadline),
    );
    if (isDrained !== true) {
      this.logger.warn(
        { inFlight: this.tracker.inFlight },
        'shutdown grace period over: episodes in flight abandoned uncommitted',
      );
    }
  }

  private async closeQuietly(what: string, close: () => Promise<unknown> | undefined) {
    try {
      await close();
    } catch (error) {
      this.logger.warn({ err: error }, `closing the ${what} failed`);
    }
  }
}

function remaining(deadline: number): number {
  return Math.max(0, deadline - Date.now());
}

/** The promise's value, or `undefined` once `ms` have passed. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref()),
  ]);
}
