/**
 * What a person watching `allmap run` sees: a live line (a progress bar on a terminal, a log
 * line every few seconds otherwise) and, for the embedded demo, a summary at the end. It
 * only reads the service's outcomes and meta versions.
 */
import cliProgress from 'cli-progress';
import type { Observable, Subscription } from 'rxjs';
import type { Logger } from '../log/logger.js';
import type { AppliedVersion } from './meta-versions.js';
import type { EpisodeOutcome } from './types.js';

/** Mean query losses over a window of adapted episodes. */
export interface LossWindow {
  readonly episodes: number;
  readonly lossBefore: number;
  readonly lossAfter: number;
}

export interface RunSummary {
  readonly episodes: number;
  readonly models: number;
  readonly diverged: number;
  readonly deadLetters: number;
  /** Meta versions the stream switched to, and the last one per family. */
  readonly metaVersions: number;
  readonly latestMetaVersion: Record<string, number>;
  /** Query loss before and after adaptation, over the first and the last adapted episodes. */
  readonly start: LossWindow;
  readonly end: LossWindow;
  readonly seconds: number;
  readonly episodesPerSecond: number;
}

/** How many adapted episodes make the "start" and "end" windows of the summary. */
const WINDOW = 200;
const LOG_EVERY_MS = 2_000;

export class RunProgress {
  private readonly started = performance.now();
  private episodes = 0;
  private models = 0;
  private diverged = 0;
  private deadLetters = 0;
  private metaVersions = 0;
  private readonly latest: Record<string, number> = {};
  private readonly first: Array<[number, number]> = [];
  private readonly recent: Array<[number, number]> = [];
  private readonly subscriptions: Subscription[] = [];
  private bar: cliProgress.SingleBar | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Episodes and time at the last log line, for the rate since then. */
  private lastLine = { episodes: 0, at: performance.now() };

  constructor(
    private readonly logger: Logger,
    /** The episodes expected, when known (the embedded demo); 0 otherwise. */
    private readonly total: number,
  ) {}

  /** Starts following the service; the live line starts with it. */
  follow(outcomes$: Observable<EpisodeOutcome>, versions$: Observable<AppliedVersion>): void {
    this.subscriptions.push(outcomes$.subscribe((outcome) => this.count(outcome)));
    this.subscriptions.push(versions$.subscribe((version) => this.switched(version)));

    if (process.stderr.isTTY && this.total > 0) {
      this.bar = new cliProgress.SingleBar(
        {
          format:
            'episodes {bar} {value}/{total} | {rate}/s | meta v{meta} | ' +
            'query loss {before} -> {after} | dead letters {dead}',
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.total, 0, this.payload());
    }
    this.timer = setInterval(() => this.tick(), this.bar ? 250 : LOG_EVERY_MS);
    this.timer.unref();
  }

  get finished(): number {
    return this.episodes;
  }

  stop(): RunSummary {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    clearInterval(this.timer);
    this.tick();
    this.bar?.stop();
    return this.summary();
  }

  summary(): RunSummary {
    const seconds = (performance.now() - this.started) / 1000;
    return {
      episodes: this.episodes,
      models: this.models,
      diverged: this.diverged,
      deadLetters: this.deadLetters,
      metaVersions: this.metaVersions,
      latestMetaVersion: { ...this.latest },
      start: meanLosses(this.first),
      end: meanLosses(this.recent),
      seconds,
      episodesPerSecond: this.episodes / Math.max(seconds, 1e-9),
    };
  }

  private count(outcome: EpisodeOutcome): void {
    this.episodes += 1;
    if (outcome.status === 'dead-letter') this.deadLetters += 1;
    if (outcome.status === 'diverged') this.diverged += 1;
    if (outcome.status !== 'adapted') return;

    this.models += 1;
    const losses: [number, number] = [outcome.lossBefore!, outcome.lossAfter!];
    if (this.first.length < WINDOW) this.first.push(losses);
    this.recent.push(losses);
    if (this.recent.length > WINDOW) this.recent.shift();
  }

  private switched(version: AppliedVersion): void {
    this.metaVersions += 1;
    this.latest[version.family] = version.metaVersion;
  }

  private tick(): void {
    if (this.bar) {
      this.bar.update(this.episodes, this.payload());
      return;
    }
    // A learner waiting for episodes has nothing new to say.
    const now = performance.now();
    const episodes = this.episodes - this.lastLine.episodes;
    if (episodes === 0) return;
    const seconds = (now - this.lastLine.at) / 1000;
    this.lastLine = { episodes: this.episodes, at: now };

    const recent = meanLosses(this.recent.slice(-50));
    this.logger.info(
      {
        episodes: this.episodes,
        models: this.models,
        deadLetters: this.deadLetters,
        metaVersion: this.latest,
        queryLossBefore: round(recent.lossBefore),
        queryLossAfter: round(recent.lossAfter),
        episodesPerSecond: round(episodes / Math.max(seconds, 1e-9)),
      },
      'progress',
    );
  }

  private payload() {
    const recent = meanLosses(this.recent.slice(-50));
    const versions = Object.values(this.latest);
    return {
      rate: round(this.summary().episodesPerSecond),
      meta: versions.length === 0 ? 0 : Math.max(...versions),
      before: round(recent.lossBefore),
      after: round(recent.lossAfter),
      dead: this.deadLetters,
    };
  }
}

/** The summary as a few aligned lines, for standard output. */
export function formatSummary(summary: RunSummary): string {
  const row = (label: string, value: string) => `  ${label.padEnd(36)}${value}`;
  const versions = Object.entries(summary.latestMetaVersion)
    .map(([family, version]) => `${family} v${version}`)
    .join(', ');
  const losses = (name: string, w: LossWindow) =>
    row(
      `query loss, ${name} ${w.episodes} episodes:`,
      `before ${round(w.lossBefore)}  after ${round(w.lossAfter)}`,
    );
  const rate = `${round(summary.episodesPerSecond)} episodes/s over ${round(summary.seconds)} s`;

  return [
    'allmap run: summary',
    row('episodes', String(summary.episodes)),
    row('models published', String(summary.models)),
    row('dead letters', `${summary.deadLetters} (diverged ${summary.diverged})`),
    row('meta versions applied', `${summary.metaVersions}${versions ? ` (${versions})` : ''}`),
    losses('first', summary.start),
    losses('last', summary.end),
    row('rate', rate),
    '',
  ].join('\n');
}

function meanLosses(losses: ReadonlyArray<[number, number]>): LossWindow {
  if (losses.length === 0) return { episodes: 0, lossBefore: Number.NaN, lossAfter: Number.NaN };
  let before = 0;
  let after = 0;
  for (const [b, a] of losses) {
    before += b;
    after += a;
  }
  return {
    episodes: losses.length,
    lossBefore: before / losses.length,
    lossAfter: after / losses.length,
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
