import avro from 'avsc';
import { defaultCodec, encodeEpisode, SCHEMA_HEADER } from '../../src/codec/codec.js';
import { float32ToBytes } from '../../src/codec/convert.js';
import type { Episode } from '../../src/episode/episode.js';
import type { DeadLetterReason } from '../../src/observability/metrics.js';
import { sinusoidEpisodes } from '../../src/sources/sinusoid.js';
import type { ProducerRecord } from '../../src/transport/transport.js';
import { classificationEpisode, sinusoidEpisode } from './episodes.js';

/**
 * Episodes for the learner's tests: good sinusoid tasks, and one record of every kind of
 * bad input DESIGN.md section 5 and the streaming spec name, each with the dead-letter reason
 * the learner must give it. Keys start with `bad-` so tests can tell them apart.
 */

export interface BadInput {
  readonly name: string;
  readonly record: ProducerRecord;
  readonly reason: DeadLetterReason;
}

/** `count` valid sinusoid episodes as records, keyed by task id. */
export function sinusoidRecords(count: number, seed = 1, prefix = 'task'): ProducerRecord[] {
  return [...sinusoidEpisodes({ seed, count })].map((episode, i) => {
    const taskId = `${prefix}-${seed}-${i}`;
    return { key: taskId, ...encodeEpisode({ ...episode, taskId }) };
  });
}

/** The size limit the bad inputs assume: `stream.maxEpisodeBytes` must be set to this. */
export const MAX_EPISODE_BYTES = 65_536;

const codec = defaultCodec();
const header = { [SCHEMA_HEADER]: codec.headerOf('Episode') };

function encoded(name: string, episode: Episode): ProducerRecord {
  return { key: `bad-${name}`, ...encodeEpisode({ ...episode, taskId: `bad-${name}` }) };
}

function regression(values: number[], inputs = values): Episode['support'] {
  return {
    inputs: new Float32Array(inputs),
    inputDim: 1,
    targets: { kind: 'regression', values: new Float32Array(values), outputDim: 1 },
  };
}

/** Avro bytes whose targets union names branch 2 of a two-branch union. */
function invalidUnionBranch(): Buffer {
  const long = (n: number) => avro.Type.forSchema('long').toBuffer(n);
  const text = (s: string) => avro.Type.forSchema('string').toBuffer(s);
  const floats = (values: number[]) =>
    avro.Type.forSchema('bytes').toBuffer(float32ToBytes(new Float32Array(values)));
  return Buffer.concat([
    text('bad-union'),
    text('sinusoid'),
    long(1),
    floats([0.5]),
    long(2),
    long(1),
    floats([1]),
  ]);
}

export function badInputs(): BadInput[] {
  const valid = sinusoidEpisode();
  const rows = (n: number) => Array.from({ length: n }, (_, i) => i / n);
  const { value } = encodeEpisode(valid);
  return [
    {
      name: 'undecodable',
      reason: 'decode',
      record: { key: 'bad-undecodable', value: Buffer.from([1, 2, 3, 250]), headers: header },
    },
    {
      name: 'unknown-schema',
      reason: 'schema',
      record: {
        key: 'bad-unknown-schema',
        value,
        headers: { [SCHEMA_HEADER]: `Episode@${'0'.repeat(32)}` },
      },
    },
    { name: 'no-schema-header', reason: 'schema', record: { key: 'bad-no-schema-header', value } },
    {
      name: 'union',
      reason: 'decode',
      record: { key: 'bad-union', value: invalidUnionBranch(), headers: header },
    },
    { name: 'tombstone', reason: 'tombstone', record: { key: 'bad-tombstone', value: null } },
    {
      name: 'nan',
      reason: 'non-finite',
      record: encoded('nan', { ...valid, support: regression([0.1, Number.NaN, 0.3]) }),
    },
    {
      name: 'infinite',
      reason: 'non-finite',
      record: encoded('infinite', { ...valid, query: regression([Number.POSITIVE_INFINITY, 1]) }),
    },
    {
      name: 'dimensions',
      reason: 'wrong-dimensions',
      record: encoded('dimensions', {
        ...valid,
        support: { ...regression([1, 2]), inputDim: 2, inputs: new Float32Array([1, 2, 3, 4]) },
      }),
    },
    {
      name: 'empty',
      reason: 'empty-support',
      record: encoded('empty', { ...valid, support: regression([]) }),
    },
    {
      name: 'label',
      reason: 'label-out-of-range',
      record: encoded(
        'label',
        classificationEpisode({
          query: {
            inputs: new Float32Array(784),
            inputDim: 784,
            targets: { kind: 'classification', labels: new Int32Array([5]), classCount: 2 },
          },
        }),
      ),
    },
    {
      name: 'oversized',
      reason: 'oversized',
      record: encoded('oversized', { ...valid, support: regression(rows(MAX_EPISODE_BYTES / 4)) }),
    },
    {
      name: 'family',
      reason: 'unknown-family',
      record: encoded('family', { ...valid, family: 'weather' }),
    },
    {
      name: 'diverged',
      reason: 'diverged',
      record: encoded('diverged', { ...valid, support: regression([1e6, -1e6, 1e6], [1, 2, 3]) }),
    },
  ];
}
