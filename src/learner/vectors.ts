/**
 * Small vector glue over Float32Array (sums, scalings, the element-wise product the
 * learning-rate gradient needs). Every matrix product runs in the engine; these loops only
 * combine its results.
 */

/** `target += scale * source`, in place (target is always the caller's own accumulator). */
export function addScaled(target: Float32Array, source: Float32Array, scale = 1): void {
  for (let i = 0; i < target.length; i++) target[i] = target[i]! + scale * source[i]!;
}

/** `scale * a`, as a new array. */
export function scaled(a: Float32Array, scale: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = scale * a[i]!;
  return out;
}

/** The mean of equally long vectors, as a new array. */
export function meanOf(vectors: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(vectors[0]?.length ?? 0);
  for (const vector of vectors) addScaled(out, vector, 1 / vectors.length);
  return out;
}

/** Sums gradients by tensor name into a new map (missing names count as zero). */
export function sumGradients(
  ...parts: ReadonlyMap<string, Float32Array>[]
): Map<string, Float32Array> {
  const total = new Map<string, Float32Array>();
  for (const part of parts) {
    for (const [name, gradient] of part) {
      const sum = total.get(name);
      if (sum) addScaled(sum, gradient);
      else total.set(name, gradient.slice());
    }
  }
  return total;
}

/** Element-wise `exp`, as a new array. */
export function exp(a: Float32Array): Float32Array {
  return a.map(Math.exp);
}
