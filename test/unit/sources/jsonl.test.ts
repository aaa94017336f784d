import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Episode } from '../../../src/episode/episode.js';
import { JsonlEpisodeError } from '../../../src/sources/errors.js';
import { jsonlEpisodes, parseEpisodeLine } from '../../../src/sources/jsonl.js';

const sinusoidLine = {
  taskId: 'curve-1',
  family: 'sinusoid',
  producedAt: 1_700_000_000_000,
  support: { inputs: [[-1], [0.5]], targets: [[0.25], [1]] },
  query: { inputs: [[2]], targets: [[-0.5]] },
  metadata: { amplitude: '1' },
};

const pixels = (value: number) => new Array(784).fill(value);
const classLine = {
  taskId: 'shirts',
  family: 'fashion-mnist-2way',
  support: { inputs: [pixels(0), pixels(1)], labels: [0, 1] },
  query: { inputs: [pixels(0.5)], labels: [1] },
};

async function readAll(
  text: string,
  onError?: (error: JsonlEpisodeError) => void,
): Promise<Episode[]> {
  const episodes: Episode[] = [];
  const options = {
    input: Readable.from([text]),
    path: 'episodes.jsonl',
    clock: () => 42,
    onError,
  };
  for await (const episode of jsonlEpisodes(options)) episodes.push(episode);
  return episodes;
}

async function failure(text: string): Promise<JsonlEpisodeError> {
  const error = await readAll(text).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (error instanceof JsonlEpisodeError) return error;
  throw new Error(`expected a JsonlEpisodeError, received ${String(error)}`);
}

const lines = (...values: unknown[]) =>
  values.map((value) => (typeof value === 'string' ? value : JSON.stringify(value))).join('\n');

describe('JSON Lines episodes', () => {
  it('read regression and classification episodes, skipping blank lines', async () => {
    const [curve, shirts] = await readAll(lines(sinusoidLine, '', '   ', classLine));
    expect(curve).toEqual({
      taskId: 'curve-1',
      family: 'sinusoid',
      producedAt: 1_700_000_000_000,
      support: {
        inputs: new Float32Array([-1, 0.5]),
        inputDim: 1,
        targets: { kind: 'regression', values: new Float32Array([0.25, 1]), outputDim: 1 },
      },
      query: {
        inputs: new Float32Array([2]),
        inputDim: 1,
        targets: { kind: 'regression', values: new Float32Array([-0.5]), outputDim: 1 },
      },
      metadata: { amplitude: '1' },
    });
    expect(shirts?.support.targets).toEqual({
      kind: 'classification',
      labels: new Int32Array([0, 1]),
      classCount: 2,
    });
    expect(shirts?.producedAt).toBe(42);
  });

  it('read a file by its path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'allmap-jsonl-'));
    const path = join(dir, 'episodes.jsonl');
    await writeFile(path, `${lines(sinusoidLine, classLine)}\n`);
    const taskIds: string[] = [];
    for await (const episode of jsonlEpisodes({ path })) taskIds.push(episode.taskId);
    expect(taskIds).toEqual(['curve-1', 'shirts']);
    await rm(dir, { recursive: true, force: true });
  });

  it('name the line of invalid JSON', async () => {
    const error = await failure(lines(sinusoidLine, '', '{"taskId": '));
    expect(error.reason).toBe('invalid-json');
    expect(error.line).toBe(3);
    expect(error.message).toMatch(/^episodes.jsonl line 3 \(invalid-json\): /);
  });

  it('name the line and the field of a malformed episode', async () => {
    const ragged = { ...sinusoidLine, support: { inputs: [[1], [2, 3]], targets: [[0], [0]] } };
    const ragError = await failure(lines(sinusoidLine, ragged));
    expect(ragError.reason).toBe('invalid-format');
    expect(ragError.message).toMatch(
      /line 2 \(invalid-format\): support.inputs\[1\] has 2 values; row 0 has 1/,
    );

    const both = { ...sinusoidLine, query: { inputs: [[1]], targets: [[1]], labels: [0] } };
    expect((await failure(lines(both))).message).toMatch(/query needs exactly one of targets/);

    const text = { ...sinusoidLine, query: { inputs: [['x']], targets: [[1]] } };
    expect((await failure(lines(text))).message).toMatch(
      /query.inputs\[0\]\[0\] must be a number; received the string "x"/,
    );
  });

  it('name the line and the reason of an episode that fails validation', async () => {
    const badLabel = { ...classLine, query: { inputs: [pixels(0)], labels: [2] } };
    const error = await failure(lines(classLine, sinusoidLine, badLabel));
    expect(error.reason).toBe('label-out-of-range');
    expect(error.line).toBe(3);
    expect(error.message).toMatch(
      /line 3 \(label-out-of-range\): .*label of row 0 is 2; allowed 0 to 1/,
    );

    const overflow = lines({ ...sinusoidLine, query: { inputs: [[1e300]], targets: [[1]] } });
    expect((await failure(overflow)).reason).toBe('non-finite');
    expect((await failure(lines({ ...sinusoidLine, family: 'tides' }))).reason).toBe(
      'unknown-family',
    );
  });

  it('report bad lines and go on when given onError', async () => {
    const errors: JsonlEpisodeError[] = [];
    const episodes = await readAll(
      lines('nope', sinusoidLine, { ...sinusoidLine, support: 3 }, classLine),
      (error) => errors.push(error),
    );
    expect(episodes.map((episode) => episode.taskId)).toEqual(['curve-1', 'shirts']);
    expect(errors.map((error) => [error.line, error.reason])).toEqual([
      [1, 'invalid-json'],
      [3, 'invalid-format'],
    ]);
  });

  it('parse single lines with the caller naming source and line', () => {
    const episode = parseEpisodeLine(JSON.stringify(sinusoidLine), { source: 'stdin', line: 7 });
    expect(episode.taskId).toBe('curve-1');
    expect(() => parseEpisodeLine('[]', { source: 'stdin', line: 7 })).toThrow(
      /^stdin line 7 \(invalid-format\): the line must be an object; received an array/,
    );
  });
});
