import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  decodeEpisode,
  defaultCodec,
  encodeEpisode,
  SCHEMA_HEADER,
} from '../../../src/codec/codec.js';
import { float32ToBytes } from '../../../src/codec/convert.js';
import { DecodeError, type DecodeReason } from '../../../src/codec/errors.js';
import { Random } from '../../../src/util/random.js';
import { classificationEpisode, sinusoidEpisode } from '../../support/episodes.js';

const at = { topic: 'allmap.episodes', partition: 3, offset: '1234' };
const codec = defaultCodec();
const headers = { [SCHEMA_HEADER]: codec.headerOf('Episode') };

function decodeFailure(value: Buffer): DecodeError {
  return decodeFailureWith(value, headers);
}

function decodeFailureWith(
  value: Buffer,
  messageHeaders: Record<string, string> | undefined,
): DecodeError {
  try {
    decodeEpisode(value, messageHeaders, at);
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw error;
  }
  throw new Error('the bytes were decoded');
}

const long = (n: number) => avro.Type.forSchema('long').toBuffer(n);
const text = (s: string) => avro.Type.forSchema('string').toBuffer(s);
const floats = (values: number[]) =>
  avro.Type.forSchema('bytes').toBuffer(float32ToBytes(new Float32Array(values)));

describe('decoding bad Episode bytes', () => {
  it('names the topic, partition and offset, and is not retriable', () => {
    const error = decodeFailure(Buffer.from([1, 2, 3]));
    expect(error.message).toMatch(
      /^cannot decode Episode from topic allmap.episodes partition 3 offset 1234 /,
    );
    expect(error.location).toEqual(at);
    expect(error.isRetriable).toBe(false);
  });

  it('refuses garbage quickly, always with a typed error', () => {
    const random = new Random(11);
    const reasons = new Set<DecodeReason>();
    const started = performance.now();
    for (let trial = 0; trial < 2000; trial++) {
      const garbage = Buffer.from(
        Array.from({ length: 1 + random.int(64) }, () => random.int(256)),
      );
      reasons.add(decodeFailure(garbage).reason);
    }
    expect(performance.now() - started).toBeLessThan(5000);
    expect(
      [...reasons].every((r) =>
        ['truncated', 'trailing-bytes', 'invalid-union-branch', 'invalid-bytes'].includes(r),
      ),
    ).toBe(true);
  });

  it('refuses counts of billions of items at once instead of looping over them', () => {
    // Support set: inputDim 1, one input, targets branch 1 (classes), 2 classes, then labels.
    const start = [text('t'), text('fashion-mnist-2way'), long(1), floats([0.5]), long(1), long(2)];
    const labels = Buffer.concat([...start, long(2 ** 31)]);
    const query = [long(1), floats([0.5]), long(1), long(2), long(1), long(0), long(0)];
    const metadata = Buffer.concat([
      ...start,
      long(1),
      long(0),
      long(0),
      ...query,
      long(7),
      long(1),
      long(2 ** 40),
    ]);

    const cases = [
      [labels, 'array block claims 2147483648 items'],
      [metadata, 'map block claims 1099511627776 items'],
    ] as const;
    for (const [bytes, claim] of cases) {
      const started = performance.now();
      const error = decodeFailure(bytes);
      expect(performance.now() - started).toBeLessThan(100);
      expect(error.reason).toBe('truncated');
      expect(error.message).toContain(`${claim} but 0 bytes remain`);
    }
  });

  it('refuses float32 bytes that are not a whole number of values, naming the field', () => {
    const start = [text('t'), text('sinusoid'), long(1), floats([0.5])];
    const targets = [long(0), long(1), avro.Type.forSchema('bytes').toBuffer(Buffer.alloc(6))];
    const query = [long(1), floats([1]), long(0), long(1), floats([2])];
    const error = decodeFailure(Buffer.concat([...start, ...targets, ...query, long(0), long(0)]));
    expect(error.reason).toBe('invalid-bytes');
    expect(error.message).toMatch(/support.targets.values holds 6 bytes, not whole float32 values/);
  });

  it('refuses every truncation of a valid message', () => {
    const { value } = encodeEpisode(classificationEpisode());
    for (const length of [0, 1, 5, 20, value.length >> 1, value.length - 1]) {
      const error = decodeFailure(value.subarray(0, length));
      expect(error.reason, `first ${length} bytes`).toBe('truncated');
      expect(error.byteLength).toBe(length);
    }
  });

  it('refuses bytes after the end of the episode', () => {
    const { value } = encodeEpisode(sinusoidEpisode());
    const error = decodeFailure(Buffer.concat([value, Buffer.from([0, 0])]));
    expect(error.reason).toBe('trailing-bytes');
    expect(error.message).toMatch(/2 bytes follow the end of the value/);
  });

  it('refuses a targets union branch that the schema does not have', () => {
    // taskId, family, support.inputDim, support.inputs, then the targets branch index: 2.
    const bytes = Buffer.concat([
      text('t'),
      text('sinusoid'),
      long(1),
      floats([0.5]),
      long(2),
      long(1),
      floats([1]),
    ]);
    const error = decodeFailure(bytes);
    expect(error.reason).toBe('invalid-union-branch');
    expect(error.message).toMatch(/union branch 2; allowed 0 to 1/);
  });

  it('refuses a message without a schema header, or with a malformed one', () => {
    const { value } = encodeEpisode(sinusoidEpisode());
    expect(decodeFailureWith(value, undefined).reason).toBe('missing-schema-header');
    expect(decodeFailureWith(value, {}).reason).toBe('missing-schema-header');
    const malformed = decodeFailureWith(value, { [SCHEMA_HEADER]: 'Episode-v1' });
    expect(malformed.reason).toBe('malformed-schema-header');
    expect(malformed.message).toMatch(/"Episode-v1" is not <Name>@<32 hex digits>/);
  });

  it('refuses a header with an unknown fingerprint or another schema', () => {
    const { value } = encodeEpisode(sinusoidEpisode());
    const unknown = decodeFailureWith(value, { [SCHEMA_HEADER]: `Episode@${'0'.repeat(32)}` });
    expect(unknown.reason).toBe('unknown-schema');
    expect(unknown.header).toBe(`Episode@${'0'.repeat(32)}`);

    const other = decodeFailureWith(value, { [SCHEMA_HEADER]: codec.headerOf('AdaptedModel') });
    expect(other.reason).toBe('wrong-schema');
    expect(other.message).toMatch(/the message holds AdaptedModel, not Episode/);
  });

  it('accepts the header as a Buffer, as Kafka clients hand it over', () => {
    const message = encodeEpisode(sinusoidEpisode());
    const bufferHeaders = { [SCHEMA_HEADER]: Buffer.from(message.headers[SCHEMA_HEADER]) };
    expect(decodeEpisode(message.value, bufferHeaders, at).taskId).toBe('task-1');
  });
});
