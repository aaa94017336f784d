import {
  isClassifier,
  type LearningRate,
  type MappingEngine,
  type MappingSpec,
} from '../../engine/index.js';
import type { Episode } from '../../episode/episode.js';
import { type EngineSet, toEngineSet } from '../sets.js';

/** An episode with its sets in the engine's form, converted once. */
export interface EvalTask {
  readonly episode: Episode;
  readonly support: EngineSet;
  readonly query: EngineSet;
}

export function evalTask(episode: Episode): EvalTask {
  return { episode, support: toEngineSet(episode.support), query: toEngineSet(episode.query) };
}

/** A way to start adaptation: one of the compared initialisations. */
export interface InitMethod {
  readonly name: string;
  /** theta0 for each task (may read the support sets: allmap's generated init does). */
  initialise(tasks: readonly EvalTask[]): Promise<Float32Array[]>;
  /** The rates the method adapts with. */
  readonly learningRate: LearningRate;
}

/** The per-task score after each number of steps: query MSE, or query accuracy in percent. */
export type ScoresByStep = Map<number, number[]>;

/** Tasks adapted in one engine call: bounds the memory of B thetas of a large mapping. */
const CHUNK = 100;

/**
 * Meta-tests one method: for every task, theta0 from the method, then K SGD steps on the
 * support set for each K in `steps` (each from theta0 afresh), scored on the query set.
 * The score is the query MSE for regression and the query accuracy (%) for a classifier.
 */
export async function metaTest(
  engine: MappingEngine,
  spec: MappingSpec,
  method: InitMethod,
  tasks: readonly EvalTask[],
  steps: readonly number[],
): Promise<ScoresByStep> {
  const scores: ScoresByStep = new Map(steps.map((K) => [K, []]));
  for (let start = 0; start < tasks.length; start += CHUNK) {
    const chunk = tasks.slice(start, start + CHUNK);
    const theta0 = await method.initialise(chunk);
    for (const K of steps) {
      const thetas = await adapt(engine, spec, theta0, chunk, K, method.learningRate);
      scores.get(K)!.push(...(await score(engine, spec, thetas, chunk)));
    }
  }
  return scores;
}

async function adapt(
  engine: MappingEngine,
  spec: MappingSpec,
  theta0: Float32Array[],
  tasks: readonly EvalTask[],
  K: number,
  learningRate: LearningRate,
): Promise<Float32Array[]> {
  if (K === 0) return theta0;
  const results = await engine.adaptBatch(spec, {
    theta0,
    support: tasks.map((task) => task.support),
    steps: K,
    learningRate,
  });
  return results.map((result) => result.theta);
}

async function score(
  engine: MappingEngine,
  spec: MappingSpec,
  thetas: Float32Array[],
  tasks: readonly EvalTask[],
): Promise<number[]> {
  const results = await engine.evaluateBatch(
    spec,
    thetas,
    tasks.map((task) => task.query),
  );
  return results.map((result) =>
    isClassifier(spec) ? 100 * (result.accuracy ?? Number.NaN) : result.loss,
  );
}
