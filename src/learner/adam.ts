import type { Tensor } from './parameters.js';

export interface AdamOptions {
  readonly learningRate: number;
  /** Default 0.9. */
  readonly beta1?: number;
  /** Default 0.999. */
  readonly beta2?: number;
  /** Default 1e-8. */
  readonly epsilon?: number;
  /**
   * Clip the global gradient norm to this value before the update; none when absent.
   * Early end-to-end gradients through a random generator can be large, and one such
   * step can throw every meta parameter far from where training had brought it.
   */
  readonly maxGradientNorm?: number;
  /**
   * Steps over which the step size decays as `learningRate / sqrt(1 + t / decaySteps)`;
   * constant when absent. A long-lived meta-learner otherwise ends up circling its
   * optimum at the noise level of a constant step.
   */
  readonly decaySteps?: number;
}

/**
 * Adam (Kingma and Ba, 2015) with bias correction over named tensors, updated in place.
 * The outer optimiser of every meta-update: one instance lives as long as the trainer,
 * so its moments carry over from one meta-update to the next.
 */
export class Adam {
  private readonly options: Required<Omit<AdamOptions, 'maxGradientNorm' | 'decaySteps'>>;
  private readonly decaySteps: number;
  private readonly maxGradientNorm: number | undefined;
  private readonly first = new Map<string, Float32Array>();
  private readonly second = new Map<string, Float32Array>();
  private step = 0;

  constructor(options: AdamOptions) {
    this.options = {
      learningRate: options.learningRate,
      beta1: options.beta1 ?? 0.9,
      beta2: options.beta2 ?? 0.999,
      epsilon: options.epsilon ?? 1e-8,
    };
    this.maxGradientNorm = options.maxGradientNorm;
    this.decaySteps = options.decaySteps ?? Number.POSITIVE_INFINITY;
  }

  /**
   * One descent step on each tensor of `parameters` that has a gradient in `gradients`
   * (laid out like the tensor's values). Returns the gradient norm before clipping.
   */
  update(parameters: Map<string, Tensor>, gradients: ReadonlyMap<string, Float32Array>): number {
    const norm = globalNorm(gradients);
    const scale =
      this.maxGradientNorm && norm > this.maxGradientNorm ? this.maxGradientNorm / norm : 1;
    this.step += 1;

    for (const [name, gradient] of gradients) {
      const tensor = parameters.get(name);
      if (tensor) this.updateTensor(name, tensor.values, gradient, scale);
    }
    return norm;
  }

  private updateTensor(name: string, values: Float32Array, gradient: Float32Array, scale: number) {
    const { beta1, beta2, epsilon } = this.options;
    const learningRate =
      this.options.learningRate / Math.sqrt(1 + (this.step - 1) / this.decaySteps);
    const m = this.moment(this.first, name, values.length);
    const v = this.moment(this.second, name, values.length);
    const correction1 = 1 - beta1 ** this.step;
    const correction2 = 1 - beta2 ** this.step;

    for (let i = 0; i < values.length; i++) {
      const g = gradient[i]! * scale;
      m[i] = beta1 * m[i]! + (1 - beta1) * g;
      v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
      const mHat = m[i]! / correction1;
      const vHat = v[i]! / correction2;
      values[i] = values[i]! - (learningRate * mHat) / (Math.sqrt(vHat) + epsilon);
    }
  }

  private moment(moments: Map<string, Float32Array>, name: string, size: number): Float32Array {
    let moment = moments.get(name);
    if (!moment) {
      moment = new Float32Array(size);
      moments.set(name, moment);
    }
    return moment;
  }
}

function globalNorm(gradients: ReadonlyMap<string, Float32Array>): number {
  let sum = 0;
  for (const gradient of gradients.values()) {
    for (let i = 0; i < gradient.length; i++) sum += gradient[i]! * gradient[i]!;
  }
  return Math.sqrt(sum);
}
