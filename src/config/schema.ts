import { z } from 'zod';

/** Comma-separated strings from the environment become lists. */
const list = z.preprocess(
  (value) =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item.length > 0)
      : value,
  z.array(z.string().min(1)),
);

const flag = z.preprocess((value) => {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return value;
}, z.boolean());

const count = (min: number) => z.coerce.number().int().min(min);
const positive = z.coerce.number().positive();

/**
 * Every setting allmap reads, with its default. Nested keys are written with dots in
 * error messages and config files (`engine.intraOpThreads`), and as upper snake case
 * after `ALLMAP_` in the environment (`ALLMAP_ENGINE_INTRA_OP_THREADS`).
 */
export const configSchema = z.strictObject({
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  kafka: z
    .strictObject({
      /** Empty: no broker; commands that need one say so, `allmap run` uses the embedded log. */
      brokers: list.default([]),
      clientId: z.string().min(1).default('allmap'),
      topicPrefix: z.string().default('allmap.'),
      partitions: count(1).default(4),
      replicationFactor: count(1).default(1),
      groupId: z.string().min(1).default('allmap-learner'),
      delivery: z.enum(['at-least-once', 'exactly-once']).default('at-least-once'),
      /** Consumer group timings; tests shorten them so that a lost member is noticed fast. */
      sessionTimeoutMs: count(1).default(30_000),
      heartbeatIntervalMs: count(1).default(3_000),
      rebalanceTimeoutMs: count(1).default(60_000),
      maxWaitTimeMs: count(1).default(1_000),
      /** How long a transaction may stay open before the broker aborts it (exactly-once). */
      transactionTimeoutMs: count(1).default(60_000),
    })
    .prefault({}),
  engine: z
    .strictObject({
      provider: z.enum(['cpu', 'cuda']).default('cpu'),
      intraOpThreads: count(1).default(1),
      interOpThreads: count(1).default(1),
    })
    .prefault({}),
  adapt: z
    .strictObject({
      steps: count(1).default(10),
      /** Unset: each family's own cold-start rate (src/stream/learner-port.ts). */
      learningRate: positive.optional(),
      optimizer: z.enum(['sgd', 'adam']).default('sgd'),
    })
    .prefault({}),
  stream: z
    .strictObject({
      batchSize: count(1).default(16),
      batchWindowMs: count(0).default(20),
      maxInFlight: count(1).default(256),
      shutdownGraceMs: count(0).default(10_000),
      maxEpisodeBytes: count(1024).default(16 * 1024 * 1024),
    })
    .prefault({}),
  meta: z
    .strictObject({
      everyEpisodes: count(1).default(500),
      everySeconds: positive.default(60),
      codeDim: count(1).default(32),
      bankCapacity: count(1).default(4096),
      /** No meta-update before the bank holds this many mappings. */
      minBankSize: count(1).default(64),
      /** Meta-training steps in one meta-update. */
      stepsPerUpdate: count(1).default(100),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      port: count(0).max(65_535).default(9464),
      enabled: flag.default(true),
    })
    .prefault({}),
  dataDir: z.string().optional(),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
