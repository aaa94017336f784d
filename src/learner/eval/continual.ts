import { fashionSpec, MappingEngine } from '../../engine/index.js';
import type { Episode } from '../../episode/episode.js';
import { fashionMnistFamily } from '../../episode/families.js';
import { getLogger } from '../../log/logger.js';
import {
  DEFAULT_CONTINUAL_TASKS,
  type FashionMnistSplit,
  fashionMnistContinualEpisodes,
  loadFashionMnist,
  sampleSets,
} from '../../sources/index.js';
import { Random } from '../../util/random.js';
import { estimateMean } from '../stats.js';
import { type EvalTask, evalTask, metaTest } from './meta-test.js';
import type { EvalReport, ForgettingResult, MethodScores } from './report.js';
import type { EvalOptions } from './run.js';
import { Streamer } from './streamer.js';

const WAYS = 2;
const SHOTS = 5;
const QUERIES_PER_CLASS = 15;
const STEPS = [0, 1, 5, 10] as const;
/** The compared methods of the forgetting measure (the brief's pair). */
const FORGETTING_METHODS = ['shared', 'allmap'];

const settings = {
  adapt: { steps: 10, learningRate: 0.1 },
  bankCapacity: 1000,
  everyEpisodes: 200,
  stepsPerUpdate: 60,
  codeDim: 64,
  initialRate: 0.01,
  trainer: { batchSize: 16, maxQueryRows: 30 },
  sharedRate: 0.5,
};

/**
 * W3: a sequence of class-split tasks ({0,1}, {2,3}, ..., {8,9}), each streamed for a
 * while and then left. After each task is learned the stream stops to score every task so
 * far on held-out test-split episodes (a row of the accuracy matrix); forgetting of a task
 * is its accuracy right after it was learned minus its accuracy at the end.
 *
 * All episodes of a continual task share its task id, and the bank keeps one entry per
 * task id; here each episode is remembered as its own entry (`<task id>/<episode index>`)
 * with the bank's quotas per task, so the bank replays many episodes of every earlier
 * task — the mechanism that is meant to protect them.
 */
export async function continualEvaluation(options: EvalOptions): Promise<EvalReport> {
  const log = getLogger('learner.eval', { workload: 'w3' });
  const started = performance.now();
  const location = options.dataDir ? { dataDir: options.dataDir } : {};
  const [train, test] = await Promise.all([
    loadFashionMnist('train', location),
    loadFashionMnist('test', location),
  ]);
  const tasks = DEFAULT_CONTINUAL_TASKS;
  const episodesPerTask = Math.max(1, Math.floor(options.episodes / tasks.length));
  const testPerTask = Math.ceil(options.testEpisodes / tasks.length);
  const testTasks = tasks.map((classes, i) =>
    testEpisodesOf(test, classes, testPerTask, options.seed + 1_000_003 + i),
  );

  const spec = fashionSpec(WAYS);
  const engine = MappingEngine.create();
  const streamer = new Streamer(engine, {
    ...settings,
    ...(options.everyEpisodes && { everyEpisodes: options.everyEpisodes }),
    ...(options.stepsPerUpdate && { stepsPerUpdate: options.stepsPerUpdate }),
    ...(options.bankCapacity && { bankCapacity: options.bankCapacity }),
    family: fashionMnistFamily(WAYS).name,
    spec,
    seed: options.seed,
    bankGroupOf: (entry) => entry.taskId.split('/')[0]!,
    log,
  });

  try {
    const accuracy = await streamTasks(
      engine,
      streamer,
      train,
      options,
      episodesPerTask,
      testTasks,
    );
    const streamSeconds = (performance.now() - started) / 1000;

    const testStarted = performance.now();
    const all = testTasks.flat();
    const methods: Record<string, MethodScores> = {};
    for (const method of streamer.methods().filter((m) => m.name !== 'fomaml')) {
      const scores = await metaTest(engine, spec, method, all, STEPS);
      methods[method.name] = Object.fromEntries(
        [...scores].map(([K, values]) => [String(K), estimateMean(values)]),
      );
    }

    return {
      workload: 'w3',
      family: fashionMnistFamily(WAYS).name,
      metric: 'accuracy',
      seed: options.seed,
      episodes: streamer.episodesSeen,
      testEpisodes: all.length,
      steps: [...STEPS],
      settings: {
        ...settings,
        spec,
        tasks,
        episodesPerTask,
        shots: SHOTS,
        queriesPerClass: QUERIES_PER_CLASS,
      },
      metaTest: [
        { setting: `2-way ${SHOTS}-shot, all tasks at the end`, episodes: all.length, methods },
      ],
      learningCurve: [],
      forgetting: forgettingOf(accuracy, testPerTask),
      updates: streamer.updates,
      cost: {
        total: (performance.now() - started) / 1000,
        stream: streamSeconds,
        waitingForUpdates: streamer.waitMs / 1000,
        metaTest: (performance.now() - testStarted) / 1000,
        metaTraining: streamer.updates.reduce((sum, update) => sum + update.trainMs, 0) / 1000,
      },
    };
  } finally {
    await streamer.close();
    await engine.dispose();
  }
}

/** Streams every task in turn; after each, scores every task so far (one matrix row). */
async function streamTasks(
  engine: MappingEngine,
  streamer: Streamer,
  train: FashionMnistSplit,
  options: EvalOptions,
  episodesPerTask: number,
  testTasks: readonly EvalTask[][],
): Promise<Record<string, number[][]>> {
  const source = fashionMnistContinualEpisodes(train, {
    seed: options.seed,
    episodesPerTask,
    revisitEpisodesPerTask: 0,
    shots: SHOTS,
    queriesPerClass: QUERIES_PER_CLASS,
    clock: () => 0,
  });
  const accuracy: Record<string, number[][]> = Object.fromEntries(
    FORGETTING_METHODS.map((name) => [name, []]),
  );

  const episodes = [...source];
  for (const [i] of testTasks.entries()) {
    const ofTask = episodes.slice(i * episodesPerTask, (i + 1) * episodesPerTask);
    for (let start = 0; start < ofTask.length; start += 16) {
      await streamer.streamBatch(ofTask.slice(start, start + 16), ownEntry);
    }
    await streamer.settle();
    await scoreRow(engine, streamer, testTasks.slice(0, i + 1), accuracy);
  }
  return accuracy;
}

async function scoreRow(
  engine: MappingEngine,
  streamer: Streamer,
  tasksSoFar: readonly EvalTask[][],
  accuracy: Record<string, number[][]>,
): Promise<void> {
  const K = settings.adapt.steps;
  for (const method of streamer.methods().filter((m) => FORGETTING_METHODS.includes(m.name))) {
    const row: number[] = [];
    for (const tasks of tasksSoFar) {
      const scores = await metaTest(engine, streamer.learner.spec, method, tasks, [K]);
      row.push(estimateMean(scores.get(K)!).mean);
    }
    accuracy[method.name]!.push(row);
  }
}

function forgettingOf(accuracy: Record<string, number[][]>, perTask: number): ForgettingResult {
  const tasks = DEFAULT_CONTINUAL_TASKS.map((classes, sequenceIndex) => ({
    sequenceIndex,
    classes: classes.join(','),
  }));
  const last = tasks.length - 1;
  const forgetting: Record<string, number[]> = {};
  const meanForgetting: Record<string, number> = {};
  for (const [method, matrix] of Object.entries(accuracy)) {
    const drops = tasks.slice(0, last).map((_, j) => matrix[j]![j]! - matrix[last]![j]!);
    forgetting[method] = drops;
    meanForgetting[method] = drops.reduce((a, b) => a + b, 0) / Math.max(1, drops.length);
  }
  return {
    tasks,
    accuracy,
    forgetting,
    meanForgetting,
    episodesPerTask: perTask,
    steps: settings.adapt.steps,
  };
}

/** Held-out episodes of one class split, labels in the split's fixed order. */
function testEpisodesOf(
  test: FashionMnistSplit,
  classes: readonly number[],
  count: number,
  seed: number,
): EvalTask[] {
  const random = new Random(seed);
  return Array.from({ length: count }, (_, i) => {
    const sets = sampleSets(test, random.fork(), classes, {
      shots: SHOTS,
      queriesPerClass: QUERIES_PER_CLASS,
    });
    const episode: Episode = {
      taskId: `fashion-mnist-continual-test-${classes.join('')}-${i}`,
      family: fashionMnistFamily(WAYS).name,
      ...sets,
      producedAt: 0,
    };
    return evalTask(episode);
  });
}

/** Each episode of a continual task becomes its own bank entry (see the file comment). */
function ownEntry(episode: Episode): Episode {
  const index = episode.metadata?.episodeIndex ?? '0';
  return { ...episode, taskId: `${episode.taskId}/${index}` };
}
