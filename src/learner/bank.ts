import type { LabelledSet } from '../episode/episode.js';
import { Random } from '../util/random.js';
import { LearnerInputError } from './errors.js';

/**
 * How one adaptation went, judged on the task's query set. Mirrors the Avro
 * `AdaptationMetrics` record: absent optional values are written as Avro nulls.
 */
export interface AdaptationMetrics {
  readonly lossBefore: number;
  readonly lossAfter: number;
  readonly accuracyBefore?: number;
  readonly accuracyAfter?: number;
  readonly steps: number;
  readonly status: 'ok' | 'failed';
  readonly failure?: string;
  readonly adaptMs: number;
}

/**
 * A task the bank remembers: what it looked like (its support set, and its query set
 * when known) and the mapping adapted for it (`theta`, theta*). Meta-updates train the
 * encoder and the generator on these.
 */
export interface BankEntry {
  readonly taskId: string;
  readonly family: string;
  /** The meta version whose generated initial mapping was adapted into `theta`. */
  readonly metaVersion: number;
  readonly support: LabelledSet;
  /**
   * The query set, when the bank was given one. The end-to-end objective judges a
   * generated mapping on it; an entry without one is judged on its support set.
   */
  readonly query?: LabelledSet;
  /** theta*, the adapted parameters. */
  readonly theta: Float32Array;
  readonly metrics: AdaptationMetrics;
  /** Milliseconds since the Unix epoch. */
  readonly rememberedAt: number;
}

/** What happened to an entry the bank was offered. */
export type RememberOutcome =
  /** Stored in free room or in place of an entry of another, over-quota group. */
  | 'added'
  /** A task of that id was already stored; the new entry took its place. */
  | 'updated'
  /** Stored in place of an entry of its own group (a reservoir draw that hit). */
  | 'replaced'
  /** Not stored (a reservoir draw that missed). */
  | 'skipped';

/** A change the persistence of the bank must follow: an entry stored, or one dropped. */
export type BankChange =
  | { readonly kind: 'stored'; readonly entry: BankEntry }
  | { readonly kind: 'dropped'; readonly taskId: string };

export interface BankOptions {
  /** The most entries the bank holds, over all groups. */
  readonly capacity: number;
  /** Fixes every replacement draw. */
  readonly seed: number;
  /**
   * The group whose quota an entry counts against; the entry's family unless given.
   * Evaluations of a continual stream may group by the task's class split instead.
   */
  readonly groupOf?: (entry: BankEntry) => string;
}

interface Group {
  /** Entries of the group the bank has been offered (the reservoir's `n`). */
  seen: number;
  /** Task ids of the group's stored entries, in no particular order. */
  readonly taskIds: string[];
}

/**
 * The mapping bank: a bounded memory of adapted tasks.
 *
 * Replacement policy, reservoir sampling with equal quotas per group (per family by
 * default; Vitter's algorithm R within each group):
 * - while the bank has free room, every new task is stored;
 * - when it is full, a task whose group holds fewer than its quota (capacity divided by
 *   the number of groups seen) is stored in place of a random entry of the group most
 *   over its quota, so a new family gets its share;
 * - otherwise the task replaces a random entry of its own group with probability
 *   `held / seen`, which keeps each group a uniform sample of everything it has been
 *   offered: early tasks of a long stream stay represented (what protects a continual
 *   stream from forgetting) and the memory never grows.
 * A task id already stored is updated in place. Every draw comes from one seeded
 * generator, so the same offers in the same order leave the same bank.
 */
export class MappingBank {
  readonly capacity: number;
  private readonly random: Random;
  private readonly groupOf: (entry: BankEntry) => string;
  private readonly byTaskId = new Map<string, BankEntry>();
  private readonly groups = new Map<string, Group>();
  private readonly listeners = new Set<(change: BankChange) => void>();

  constructor(options: BankOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new LearnerInputError('bank capacity', String(options.capacity), 'an integer >= 1');
    }
    this.capacity = options.capacity;
    this.random = new Random(options.seed);
    this.groupOf = options.groupOf ?? ((entry) => entry.family);
  }

  /** A bank holding `entries` (as `toEntries` returned them), e.g. read back from a topic. */
  static fromEntries(entries: readonly BankEntry[], options: BankOptions): MappingBank {
    const bank = new MappingBank(options);

    // Newest last, so that if more entries come back than fit, the newest are kept.
    const ordered = entries.slice().sort((a, b) => a.rememberedAt - b.rememberedAt);
    for (const entry of ordered.slice(-bank.capacity)) bank.restore(entry);
    return bank;
  }

  get size(): number {
    return this.byTaskId.size;
  }

  /** The stored entry of a task, if any. */
  get(taskId: string): BankEntry | undefined {
    return this.byTaskId.get(taskId);
  }

  /** Every stored entry, oldest first by `rememberedAt`, then by task id (a stable order). */
  toEntries(): BankEntry[] {
    return [...this.byTaskId.values()].sort(
      (a, b) => a.rememberedAt - b.rememberedAt || compareIds(a.taskId, b.taskId),
    );
  }

  /** The stored entries of one family, in the order of `toEntries`. */
  entriesOf(family: string): BankEntry[] {
    return this.toEntries().filter((entry) => entry.family === family);
  }

  /** How many entries of each group the bank has been offered and holds. */
  groupCounts(): Map<string, { seen: number; held: number }> {
    const counts = new Map<string, { seen: number; held: number }>();
    for (const [key, group] of this.groups) {
      counts.set(key, { seen: group.seen, held: group.taskIds.length });
    }
    return counts;
  }

  /** Calls `listener` on every later change; returns the function that stops it. */
  onChange(listener: (change: BankChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Offers one adapted task to the bank; the entry is kept as given, never copied or changed. */
  remember(entry: BankEntry): RememberOutcome {
    if (this.byTaskId.has(entry.taskId)) {
      this.store(entry);
      return 'updated';
    }

    const group = this.groupFor(entry);
    group.seen += 1;

    if (this.size < this.capacity) {
      this.insert(group, entry);
      return 'added';
    }
    if (group.taskIds.length < this.quota()) {
      this.drop(this.randomEntryOf(this.mostOverQuota()));
      this.insert(group, entry);
      return 'added';
    }
    return this.drawReservoir(group, entry);
  }

  /** Algorithm R: keep the new entry with probability held / seen, in place of a random one. */
  private drawReservoir(group: Group, entry: BankEntry): RememberOutcome {
    const slot = this.random.int(group.seen);
    if (slot >= group.taskIds.length) return 'skipped';

    this.drop(group.taskIds[slot]!);
    this.insert(group, entry);
    return 'replaced';
  }

  private restore(entry: BankEntry): void {
    if (this.byTaskId.has(entry.taskId)) {
      this.byTaskId.set(entry.taskId, entry);
      return;
    }
    // The offers seen before a restart are not persisted: count the restored entries as
    // seen, which makes the first reservoir draws after a restart favour new tasks a little.
    const group = this.groupFor(entry);
    group.seen += 1;
    group.taskIds.push(entry.taskId);
    this.byTaskId.set(entry.taskId, entry);
  }

  private groupFor(entry: BankEntry): Group {
    const key = this.groupOf(entry);
    let group = this.groups.get(key);
    if (!group) {
      group = { seen: 0, taskIds: [] };
      this.groups.set(key, group);
    }
    return group;
  }

  private quota(): number {
    return Math.max(1, Math.floor(this.capacity / this.groups.size));
  }

  /** The group holding the most entries (ties: the one seen first), never empty when full. */
  private mostOverQuota(): Group {
    let largest: Group | undefined;
    for (const group of this.groups.values()) {
      if (!largest || group.taskIds.length > largest.taskIds.length) largest = group;
    }
    return largest!;
  }

  private randomEntryOf(group: Group): string {
    return group.taskIds[this.random.int(group.taskIds.length)]!;
  }

  private insert(group: Group, entry: BankEntry): void {
    group.taskIds.push(entry.taskId);
    this.store(entry);
  }

  private store(entry: BankEntry): void {
    this.byTaskId.set(entry.taskId, entry);
    this.emit({ kind: 'stored', entry });
  }

  private drop(taskId: string): void {
    const entry = this.byTaskId.get(taskId);
    if (!entry) return;

    const group = this.groups.get(this.groupOf(entry))!;
    const index = group.taskIds.indexOf(taskId);
    // Swap-remove: the order of a group's ids carries no meaning.
    group.taskIds[index] = group.taskIds[group.taskIds.length - 1]!;
    group.taskIds.pop();
    this.byTaskId.delete(taskId);
    this.emit({ kind: 'dropped', taskId });
  }

  private emit(change: BankChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
