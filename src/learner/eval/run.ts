import { MappingEngine } from '../../engine/index.js';
import type { Episode } from '../../episode/episode.js';
import { getLogger } from '../../log/logger.js';
import { distanceRankCorrelation, estimateMean } from '../stats.js';
import { continualEvaluation } from './continual.js';
import { type EvalTask, evalTask, metaTest } from './meta-test.js';
import type { CurvePoint, EvalReport, MethodScores, SettingResult } from './report.js';
import { Streamer } from './streamer.js';
import {
  fashionWorkload,
  type StreamWorkload,
  sinusoidWorkload,
  type WorkloadId,
} from './workloads.js';

export interface EvalOptions {
  readonly workload: WorkloadId;
  /** Meta-training episodes streamed. */
  readonly episodes: number;
  /** Held-out meta-test episodes per setting (at least 600 for the reported intervals). */
  readonly testEpisodes: number;
  readonly seed: number;
  /** Learning-curve checkpoints, evenly spaced over the stream. */
  readonly curvePoints: number;
  /** Test episodes per setting at each checkpoint. */
  readonly curveEpisodes: number;
  /** Overrides of the workload's meta-update schedule and bank. */
  readonly everyEpisodes?: number;
  readonly stepsPerUpdate?: number;
  readonly bankCapacity?: number;
  readonly dataDir?: string;
}

/** Adaptation steps every method is meta-tested after. */
export const META_TEST_STEPS = [0, 1, 5, 10] as const;
/** Steps the learning curve tracks (cheaper than all four). */
const CURVE_STEPS = [1, 10] as const;
/** Stream micro-batch: the live service's default batch size. */
const BATCH = 16;
/** Test tasks whose codes are compared with their true parameters (W1). */
const CODE_TASKS = 200;

/** Runs one workload's evaluation end to end and returns its report. */
export async function runEvaluation(options: EvalOptions): Promise<EvalReport> {
  if (options.workload === 'w3') return continualEvaluation(options);

  const workload =
    options.workload === 'w1' ? sinusoidWorkload() : await fashionWorkload(options.dataDir);
  return streamEvaluation(withOverrides(workload, options), options);
}

function withOverrides(workload: StreamWorkload, options: EvalOptions): StreamWorkload {
  return {
    ...workload,
    everyEpisodes: options.everyEpisodes ?? workload.everyEpisodes,
    stepsPerUpdate: options.stepsPerUpdate ?? workload.stepsPerUpdate,
    bankCapacity: options.bankCapacity ?? workload.bankCapacity,
  };
}

async function streamEvaluation(workload: StreamWorkload, options: EvalOptions) {
  const log = getLogger('learner.eval', { workload: workload.id });
  const started = performance.now();
  const engine = MappingEngine.create();
  const streamer = new Streamer(engine, { ...workload, seed: options.seed, log });

  // Held-out episodes come from another seed (and the test split where there is one).
  const testSeed = options.seed + 1_000_003;
  const tests = workload.settings.map((setting) => ({
    name: setting.name,
    tasks: setting.test(testSeed, options.testEpisodes).map(evalTask),
  }));

  try {
    const curve = await stream(engine, streamer, workload, options, tests, log);
    const streamSeconds = (performance.now() - started) / 1000;

    const testStarted = performance.now();
    const metaTestResults: SettingResult[] = [];
    for (const test of tests) {
      metaTestResults.push(
        await metaTestSetting(engine, workload, streamer, test.name, test.tasks),
      );
    }
    const codes =
      workload.id === 'w1' ? await codeCorrelation(streamer, tests[0]!.tasks) : undefined;

    return {
      workload: workload.id,
      family: workload.family,
      metric: workload.metric,
      seed: options.seed,
      episodes: streamer.episodesSeen,
      testEpisodes: options.testEpisodes,
      steps: [...META_TEST_STEPS],
      settings: settingsOf(workload, options),
      metaTest: metaTestResults,
      learningCurve: curve,
      ...(codes && { codeRankCorrelation: codes }),
      updates: streamer.updates,
      cost: {
        total: (performance.now() - started) / 1000,
        stream: streamSeconds,
        waitingForUpdates: streamer.waitMs / 1000,
        metaTest: (performance.now() - testStarted) / 1000,
        metaTraining: streamer.updates.reduce((sum, update) => sum + update.trainMs, 0) / 1000,
      },
    } satisfies EvalReport;
  } finally {
    await streamer.close();
    await engine.dispose();
  }
}

/** Streams the meta-training episodes, taking the learning curve at checkpoints. */
async function stream(
  engine: MappingEngine,
  streamer: Streamer,
  workload: StreamWorkload,
  options: EvalOptions,
  tests: readonly { name: string; tasks: EvalTask[] }[],
  log: ReturnType<typeof getLogger>,
): Promise<CurvePoint[]> {
  const sources = workload.settings.map((setting) => setting.train(options.seed));
  const checkpoints = checkpointsOf(options.episodes, options.curvePoints);
  const curve: CurvePoint[] = [];

  for (let batch = 0; streamer.episodesSeen < options.episodes; batch++) {
    // Settings take turns batch by batch (W2: 5-shot, then 1-shot, ...).
    const source = sources[batch % sources.length]!;
    const size = Math.min(BATCH, options.episodes - streamer.episodesSeen);
    await streamer.streamBatch(take(source, size));

    if (streamer.episodesSeen >= (checkpoints[0] ?? Number.POSITIVE_INFINITY)) {
      checkpoints.shift();
      if (checkpoints.length === 0) await streamer.settle();
      curve.push(await curvePoint(engine, streamer, workload, tests, options.curveEpisodes));
      log.info({ point: curve.at(-1) }, 'eval: learning-curve checkpoint');
    }
  }
  await streamer.settle();
  return curve;
}

async function curvePoint(
  engine: MappingEngine,
  streamer: Streamer,
  workload: StreamWorkload,
  tests: readonly { name: string; tasks: EvalTask[] }[],
  count: number,
): Promise<CurvePoint> {
  const scores: CurvePoint['scores'] = {};
  for (const test of tests) {
    const bySetting: Record<string, Record<string, number>> = {};
    for (const method of streamer.methods()) {
      const result = await metaTest(
        engine,
        workload.spec,
        method,
        test.tasks.slice(0, count),
        CURVE_STEPS,
      );
      bySetting[method.name] = Object.fromEntries(
        [...result].map(([K, values]) => [String(K), estimateMean(values).mean]),
      );
    }
    scores[test.name] = bySetting;
  }
  return { episodes: streamer.episodesSeen, metaVersion: streamer.learner.metaVersion, scores };
}

async function metaTestSetting(
  engine: MappingEngine,
  workload: StreamWorkload,
  streamer: Streamer,
  setting: string,
  tasks: readonly EvalTask[],
): Promise<SettingResult> {
  const methods: Record<string, MethodScores> = {};
  for (const method of streamer.methods()) {
    const scores = await metaTest(engine, workload.spec, method, tasks, META_TEST_STEPS);
    methods[method.name] = Object.fromEntries(
      [...scores].map(([K, values]) => [String(K), estimateMean(values)]),
    );
  }
  return { setting, episodes: tasks.length, methods };
}

/**
 * W1: do tasks close in z have close true parameters? Spearman's rank correlation between
 * pairwise code distances and pairwise distances of (amplitude, phase), each scaled by the
 * width of its range (A in [0.1, 5], b in [0, pi]) so that neither dominates.
 */
async function codeCorrelation(streamer: Streamer, tasks: readonly EvalTask[]) {
  const sample = tasks.slice(0, CODE_TASKS);
  const { z } = await streamer.learner.initialise(sample.map((task) => task.episode));
  const truth = sample.map((task) => {
    const metadata = task.episode.metadata ?? {};
    return [Number(metadata.amplitude) / 4.9, Number(metadata.phase) / Math.PI];
  });
  if (z[0]?.length === 0) return undefined;
  return { value: distanceRankCorrelation(z, truth), tasks: sample.length };
}

function checkpointsOf(episodes: number, points: number): number[] {
  return Array.from({ length: points }, (_, i) => Math.ceil(((i + 1) * episodes) / points));
}

function take(source: Iterator<Episode>, count: number): Episode[] {
  const episodes: Episode[] = [];
  for (let i = 0; i < count; i++) {
    const next = source.next();
    if (next.done) break;
    episodes.push(next.value);
  }
  return episodes;
}

function settingsOf(workload: StreamWorkload, options: EvalOptions): Record<string, unknown> {
  return {
    spec: workload.spec,
    adapt: workload.adapt,
    bankCapacity: workload.bankCapacity,
    everyEpisodes: workload.everyEpisodes,
    stepsPerUpdate: workload.stepsPerUpdate,
    codeDim: workload.codeDim,
    initialRate: workload.initialRate,
    trainer: workload.trainer,
    fomaml: workload.fomaml,
    sharedRate: workload.sharedRate,
    batch: BATCH,
    curvePoints: options.curvePoints,
    curveEpisodes: options.curveEpisodes,
  };
}
