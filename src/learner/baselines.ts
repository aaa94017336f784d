import type { MappingEngine, MappingSpec } from '../engine/index.js';
import { Adam } from './adam.js';
import type { EngineSet } from './sets.js';
import { meanOf } from './vectors.js';

/**
 * A shared initial mapping that moves toward every adapted mapping it is shown: Reptile
 * (Nichol et al., 2018) in its batched form, `theta <- theta + rate (mean theta* - theta)`.
 * With the adapted mappings of tasks adapted from this very theta it is Reptile; with any
 * adapted mappings it is a running mean of them (DESIGN.md's shared init).
 */
export class SharedInit {
  private current: Float32Array;

  constructor(
    theta0: Float32Array,
    private readonly rate: number,
  ) {
    this.current = theta0.slice();
  }

  /** The shared initial mapping now (a copy: the caller may keep it). */
  get theta(): Float32Array {
    return this.current.slice();
  }

  /** One move toward the mean of `adapted` (a batch of theta*). */
  observe(adapted: readonly Float32Array[]): void {
    if (adapted.length === 0) return;
    const target = meanOf(adapted);
    const next = this.current.slice();
    for (let i = 0; i < next.length; i++) next[i] = next[i]! + this.rate * (target[i]! - next[i]!);
    this.current = next;
  }
}

export interface FomamlOptions {
  /** Adaptation steps K in each meta-training step (the MAML paper used 1 for sinusoids). */
  readonly innerSteps: number;
  readonly innerLearningRate: number;
  /** Adam's step size on the shared initial mapping. */
  readonly outerLearningRate: number;
}

/**
 * A shared initial mapping trained by first-order MAML (Finn et al., 2017): adapt from it
 * on each task's support set, take the query loss's gradient at the adapted mapping, and
 * move the initial mapping against the mean of those gradients (Adam).
 */
export class FomamlInit {
  private readonly parameters: Map<string, { name: string; shape: number[]; values: Float32Array }>;
  private readonly adam: Adam;

  constructor(
    private readonly engine: MappingEngine,
    private readonly spec: MappingSpec,
    theta0: Float32Array,
    private readonly options: FomamlOptions,
  ) {
    const values = theta0.slice();
    this.parameters = new Map([['theta', { name: 'theta', shape: [values.length], values }]]);
    this.adam = new Adam({ learningRate: options.outerLearningRate });
  }

  get theta(): Float32Array {
    return this.parameters.get('theta')!.values.slice();
  }

  /** One meta-training step on a batch of tasks; returns their mean query loss. */
  async observe(tasks: readonly { support: EngineSet; query: EngineSet }[]): Promise<number> {
    const theta = this.parameters.get('theta')!.values;
    const adapted = await this.engine.adaptBatch(this.spec, {
      theta0: tasks.map(() => theta),
      support: tasks.map((task) => task.support),
      steps: this.options.innerSteps,
      learningRate: this.options.innerLearningRate,
    });
    const judged = await this.engine.gradient(this.spec, {
      thetas: adapted.map((result) => result.theta),
      sets: tasks.map((task) => task.query),
    });

    const gradient = meanOf(judged.map((result) => result.dTheta));
    this.adam.update(this.parameters, new Map([['theta', gradient]]));
    return judged.reduce((sum, result) => sum + result.loss!, 0) / judged.length;
  }
}
