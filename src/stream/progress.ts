/**
 * What a person watching `allmap run` sees: a live line (a progress bar on a terminal, a log
 * line every few seconds otherwise) and, for the embedded demo, a summary at the end. It
 * only reads the service's outcomes and meta versions.
 *
 * Losses are kept per family: a sinusoid's mean squared error and a classifier's
 * cross-entropy are on different scales, and their mean says nothing.
 *
 * While the bar is drawn, info lines would be written into the middle of it (the logger
 * writes from its own thread, so the bar cannot clear its line first). So the bar raises the
 * logger to `warn` while it runs and shows the events worth seeing itself (meta versions
 * applied, stopping); warnings and errors still print.
 */
import cliProgress from 'cli-progress';
import type { Observable, Subscription } from 'rxjs';
import type { Logger } from '../log/logger.js';
import type { AppliedVersion } from './meta-versions.js';
import type { EpisodeOutcome } from './types.js';

/** Mean query losses over a window of adapted episodes of one family. */
export interface LossWindow {
  readonly episodes: number;
  readonly lossBefore: number;
  readonly lossAfter: number;
}

/** One family's share of a run. */
export interface FamilySummary {
  readonly family: string;
  readonly models: number;
  /** Lowest and highest meta version the family's published models were adapted from. */
  readonly usedMetaVersions: readonly [number, number] | undefined;
  /** The newest meta version applied, used by episodes or not (undefined: none). */
  readonly latestMetaVersion: number | undefined;
  /** Query loss before and after adaptation, over the first and the last adapted episodes. */
  readonly start: LossWindow;
  readonly end: LossWindow;
}

export interface RunSummary {
  readonly episodes: number;
  readonly models: number;
  readonly diverged: number;
  readonly deadLetters: number;
  /** Meta versions the stream switched to, every family together. */
  readonly metaVersions: number;
  readonly families: readonly FamilySummary[];
  readonly seconds: number;
  readonly episodesPerSecond: number;
}

/** How many adapted episodes make the "start" and "end" windows of the summary. */
const WINDOW = 200;
/** How many recent adapted episodes the live line averages. */
const LIVE_WINDOW = 50;
const LOG_EVERY_MS = 2_000;
/** Longest wait for lines logged before the bar to reach the terminal. */
const FLUSH_MS = 250;

/** What is known of one family so far. */
class FamilyProgress {
  models = 0;
  usedLowest: number | undefined;
  usedHighest: number | undefined;
  latest: number | undefined;
  readonly first: Array<[number, number]> = [];
  readonly recent: Array<[number, number]> = [];

  constructor(readonly family: string) {}

  adapted(outcome: EpisodeOutcome): void {
    this.models += 1;
    const version = outcome.metaVersion ?? 0;
    this.usedLowest = Math.min(this.usedLowest ?? version, version);
    this.usedHighest = Math.max(this.usedHighest ?? version, version);

    const losses: [number, number] = [outcome.lossBefore!, outcome.lossAfter!];
    if (this.first.length < WINDOW) this.first.push(losses);
    this.recent.push(losses);
    if (this.recent.length > WINDOW) this.recent.shift();
  }

  live(): LossWindow {
    return meanLosses(this.recent.slice(-LIVE_WINDOW));
  }

  summary(): FamilySummary {
    const used = this.usedLowest === undefined ? undefined : this.usedHighest;
    return {
      family: this.family,
      models: this.models,
      usedMetaVersions: used === undefined ? undefined : [this.usedLowest!, used],
      latestMetaVersion: this.latest,
      start: meanLosses(this.first),
      end: meanLosses(this.recent),
    };
  }
}

export class RunProgress {
  private readonly started = performance.now();
  private episodes = 0;
  private models = 0;
  private diverged = 0;
  private deadLetters = 0;
  private metaVersions = 0;
  private readonly families = new Map<string, FamilyProgress>();
  private readonly subscriptions: Subscription[] = [];
  private bar: cliProgress.SingleBar | undefined;
  /** The logger's level before the bar raised it. */
  private levelBeforeBar: string | undefined;
  /** The last event worth seeing, shown at the end of the bar. */
  private event = 'learning';
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Episodes and time at the last log line, for the rate since then. */
  private lastLine = { episodes: 0, at: performance.now() };

  constructor(
    /** The root logger: the bar sets its level, and so every component's, while it runs. */
    private readonly logger: Logger,
    /** The episodes expected, when known (the embedded demo); 0 otherwise. */
    private readonly total: number,
  ) {}

  /** Starts following the service; the live line starts with it. */
  async follow(
    outcomes$: Observable<EpisodeOutcome>,
    versions$: Observable<AppliedVersion>,
  ): Promise<void> {
    this.subscriptions.push(outcomes$.subscribe((outcome) => this.count(outcome)));
    this.subscriptions.push(versions$.subscribe((version) => this.switched(version)));

    // Someone who asked for debug lines gets them, as log lines rather than a bar.
    const isVerbose = this.logger.levelVal < this.logger.levels.values.info!;
    if (process.stderr.isTTY && this.total > 0 && !isVerbose) await this.startBar();
    this.timer = setInterval(() => this.tick(), this.bar ? 250 : LOG_EVERY_MS);
    this.timer.unref();
  }

  get finished(): number {
    return this.episodes;
  }

  /** Shows an event in the bar, or logs it when there is no bar. */
  note(event: string, fields: Record<string, unknown> = {}): void {
    if (this.bar === undefined) {
      this.logger.info(fields, event);
      return;
    }
    this.event = event;
    this.tick();
  }

  /**
   * Ends the live line (the bar, with the logger's level restored) but goes on counting:
   * what the service logs while it stops is seen, and the summary still counts every episode.
   */
  endLive(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.tick();
    this.bar?.stop();
    this.bar = undefined;
    if (this.levelBeforeBar !== undefined) this.logger.level = this.levelBeforeBar;
    this.levelBeforeBar = undefined;
  }

  stop(): RunSummary {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.endLive();
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
      families: [...this.families.values()].map((family) => family.summary()),
      seconds,
      episodesPerSecond: this.episodes / Math.max(seconds, 1e-9),
    };
  }

  private async startBar(): Promise<void> {
    // Lines logged while starting must reach the terminal before the bar is drawn.
    await flushed(this.logger);
    if (this.logger.levelVal < this.logger.levels.values.warn!) {
      this.levelBeforeBar = this.logger.level;
      this.logger.level = 'warn';
    }
    this.bar = new cliProgress.SingleBar(
      {
        format:
          'episodes {bar} {value}/{total} | {rate}/s | meta {meta} | query loss {losses} | ' +
          'dead letters {dead} | {event}',
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(this.total, 0, this.payload());
  }

  private familyOf(name: string): FamilyProgress {
    let family = this.families.get(name);
    if (family === undefined) {
      family = new FamilyProgress(name);
      this.families.set(name, family);
    }
    return family;
  }

  private count(outcome: EpisodeOutcome): void {
    this.episodes += 1;
    if (outcome.status === 'dead-letter') this.deadLetters += 1;
    if (outcome.status === 'diverged') this.diverged += 1;
    if (outcome.status !== 'adapted') return;

    this.models += 1;
    this.familyOf(outcome.family ?? 'unknown').adapted(outcome);
  }

  private switched(version: AppliedVersion): void {
    this.metaVersions += 1;
    this.familyOf(version.family).latest = version.metaVersion;
    this.event = `${version.family} meta v${version.metaVersion} applied`;
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

    const families = [...this.families.values()];
    this.logger.info(
      {
        episodes: this.episodes,
        models: this.models,
        deadLetters: this.deadLetters,
        metaVersion: Object.fromEntries(families.map((f) => [f.family, f.latest ?? 0])),
        queryLoss: Object.fromEntries(
          families.map((f) => {
            const live = f.live();
            return [f.family, { before: round(live.lossBefore), after: round(live.lossAfter) }];
          }),
        ),
        episodesPerSecond: round(episodes / Math.max(seconds, 1e-9)),
      },
      'progress',
    );
  }

  private payload() {
    const families = [...this.families.values()];
    const meta = families.map((f) => `${f.family} v${f.latest ?? 0}`).join(', ');
    const losses = families
      .map((f) => {
        const live = f.live();
        return `${f.family} ${shown(live.lossBefore)} -> ${shown(live.lossAfter)}`;
      })
      .join(', ');
    return {
      rate: round(this.summary().episodesPerSecond),
      meta: meta || 'v0',
      losses: losses || '- -> -',
      dead: this.deadLetters,
      event: this.event,
    };
  }
}

/** The summary as a few aligned lines, for standard output. */
export function formatSummary(summary: RunSummary): string {
  const rate = `${round(summary.episodesPerSecond)} episodes/s over ${round(summary.seconds)} s`;
  return [
    'allmap run: summary',
    row('episodes', String(summary.episodes)),
    row('models published', String(summary.models)),
    row('dead letters', `${summary.deadLetters} (diverged ${summary.diverged})`),
    row('meta versions applied', String(summary.metaVersions)),
    row('rate', rate),
    ...summary.families.flatMap(familyLines),
    '',
  ].join('\n');
}

function familyLines(family: FamilySummary): string[] {
  const used = family.usedMetaVersions;
  const usedText =
    used === undefined
      ? 'none'
      : used[0] === used[1]
        ? `v${used[0]}`
        : `v${used[0]} to v${used[1]}`;
  const lines = [`  ${family.family}`, row('  meta versions used by episodes', usedText)];

  // A version applied after the last episode improved nothing the summary measured.
  const latest = family.latestMetaVersion;
  if (latest !== undefined && (used === undefined || latest > used[1])) {
    lines.push(row('  applied after the last episode', `v${latest}`));
  }
  const losses = (name: string, w: LossWindow) =>
    row(
      `  query loss, ${name} ${w.episodes} episodes:`,
      `before ${shown(w.lossBefore)}  after ${shown(w.lossAfter)}`,
    );
  if (family.models > 0) lines.push(losses('first', family.start), losses('last', family.end));
  return lines;
}

function row(label: string, value: string): string {
  return `  ${label.padEnd(36)}${value}`;
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

/** A loss as shown to a person: `-` until there is one. */
function shown(value: number): string {
  return Number.isFinite(value) ? String(round(value)) : '-';
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Resolves once the logger has handed its buffered lines on, or after a moment. */
export function flushed(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, FLUSH_MS);
    logger.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
