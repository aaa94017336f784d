/**
 * The partition of a keyed record, computed exactly as Kafka's Java client and kafkajs's
 * default partitioner do (murmur2 of the key's UTF-8 bytes, made positive, modulo the
 * partition count), so a key lands on the same partition in the embedded log and in Kafka.
 */
export function partitionForKey(key: string, numPartitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % numPartitions;
}

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's `Utils.murmur2`, in 32-bit integer arithmetic like the Java original. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;

  const whole = length - (length % 4);
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }

  // The last one to three bytes, as the Java switch with fall-through handles them.
  const rest = length % 4;
  if (rest === 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ data[whole]!, M);

  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}
