import { pino } from 'pino';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { AppliedVersion } from '../../src/stream/meta-versions.js';
import { formatSummary, RunProgress } from '../../src/stream/progress.js';
import type { EpisodeOutcome } from '../../src/stream/types.js';

const ticket = { topic: 'episodes', partition: 0, offset: '0', epoch: 1 };

function adapted(family: string, metaVersion: number, lossBefore: number, lossAfter: number) {
  return { status: 'adapted', family, metaVersion, lossBefore, lossAfter, ticket } as const;
}

describe('the run summary', () => {
  it('keeps losses per family and tells versions used by episodes from those applied later', async () => {
    const outcomes$ = new Subject<EpisodeOutcome>();
    const versions$ = new Subject<AppliedVersion>();
    const progress = new RunProgress(pino({ level: 'silent' }), 0);
    await progress.follow(outcomes$, versions$);

    outcomes$.next(adapted('sinusoid', 0, 4, 3));
    outcomes$.next(adapted('fashion-mnist-5way', 0, 1.6, 1.2));
    versions$.next({ family: 'sinusoid', metaVersion: 1, source: 'adopted' });
    outcomes$.next(adapted('sinusoid', 1, 2, 1));
    versions$.next({ family: 'sinusoid', metaVersion: 2, source: 'adopted' });
    outcomes$.next({ status: 'dead-letter', reason: 'decode', ticket });
    const summary = progress.stop();

    expect(summary.metaVersions).toBe(2);
    const [sinusoid, fashion] = summary.families;
    expect(sinusoid).toMatchObject({ family: 'sinusoid', models: 2, latestMetaVersion: 2 });
    expect(sinusoid!.usedMetaVersions).toEqual([0, 1]);
    expect(sinusoid!.end).toEqual({ episodes: 2, lossBefore: 3, lossAfter: 2 });
    expect(fashion!.end).toEqual({ episodes: 1, lossBefore: 1.6, lossAfter: 1.2 });

    const text = formatSummary(summary);
    expect(text).toMatch(/^ {2}meta versions applied {2,}2$/m);
    expect(text).toMatch(/^ {4}meta versions used by episodes {2,}v0 to v1$/m);
    expect(text).toMatch(/^ {4}applied after the last episode {2,}v2$/m);
    expect(text).toMatch(/^ {2}fashion-mnist-5way\n {4}meta versions used by episodes {2,}v0$/m);
    expect(text).toMatch(/query loss, last 1 episodes: +before 1.6 {2}after 1.2$/m);
  });

  it('shows - for a loss not known yet', () => {
    const text = formatSummary({
      episodes: 1,
      models: 1,
      diverged: 0,
      deadLetters: 0,
      metaVersions: 0,
      families: [
        {
          family: 'sinusoid',
          models: 1,
          usedMetaVersions: [0, 0],
          latestMetaVersion: undefined,
          start: { episodes: 0, lossBefore: Number.NaN, lossAfter: Number.NaN },
          end: { episodes: 0, lossBefore: Number.NaN, lossAfter: Number.NaN },
        },
      ],
      seconds: 1,
      episodesPerSecond: 1,
    });
    expect(text).toMatch(/before - {2}after -$/m);
    expect(text).not.toMatch(/NaN/);
  });
});
