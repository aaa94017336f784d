/**
 * The meta-updater: refits phi and psi on the bank and publishes each adopted meta version
 * to the meta topic, where every instance (this one included) follows it.
 *
 * Exactly one instance of a consumer group runs meta-updates, and Kafka's own group
 * assignment chooses it: the instance that owns partition 0 of the episodes topic. Every
 * rebalance moves that partition to exactly one member, so there is never a second
 * meta-updater for long (during a rebalance the old owner loses the partition before the new
 * one gets it). While it leads, the meta-updater follows the bank topic too, so it trains on
 * tasks remembered by every instance, not only its own; when it stops leading, it stops
 * following. An update still running when leadership moves is finished but not published.
 *
 * On shutdown an update in progress is abandoned, not waited for (it can take seconds): its
 * result is dropped whenever it arrives, and the next meta-updater runs a fresh one.
 */
import type { AvroCodec } from '../codec/index.js';
import type { Logger } from '../log/logger.js';
import type { LearnerMetrics } from '../observability/metrics.js';
import type { Consumer, Producer, TopicPartition, Transport } from '../transport/index.js';
import { type LearnerPort, metaVersionToRecord } from './learner-port.js';
import {
  BANK_INSTANCE_HEADER,
  decodeBankEntry,
  decodeOrLog,
  followTopic,
  type MetaVersionSwitch,
} from './meta-versions.js';

export interface MetaUpdaterOptions {
  readonly transport: Transport;
  readonly producer: Producer;
  readonly codec: AvroCodec;
  readonly port: LearnerPort;
  readonly versions: MetaVersionSwitch;
  readonly topics: { readonly episodes: string; readonly meta: string; readonly bank: string };
  /** This process's id, as its bank records carry it. */
  readonly instanceId: string;
  readonly logger: Logger;
  readonly metrics?: LearnerMetrics;
}

export class MetaUpdater {
  /** Counts changes of leadership: an update begun under an older count is not published. */
  private term = 0;
  private isLeading = false;
  private isClosing = false;
  private bankFollower: Promise<Consumer | undefined> | undefined;
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly options: MetaUpdaterOptions) {}

  get isMetaUpdater(): boolean {
    return this.isLeading;
  }

  /** Follows the assignment: leading while partition 0 of the episodes topic is ours. */
  assigned(partitions: readonly TopicPartition[]): void {
    if (!partitions.some((p) => this.isLeaderPartition(p)) || this.isLeading) return;
    this.isLeading = true;
    this.term += 1;
    this.options.logger.info({ term: this.term }, 'this instance is the meta-updater now');
    this.bankFollower = this.followBank();
  }

  revoked(partitions: readonly TopicPartition[]): void {
    if (!partitions.some((p) => this.isLeaderPartition(p)) || !this.isLeading) return;
    this.isLeading = false;
    this.term += 1;
    this.options.logger.info('this instance is no longer the meta-updater');
    void this.stopFollowingBank();
  }

  /** Called after each batch: starts a meta-update of the family when one is due. */
  afterBatch(family: string): void {
    if (!this.isLeading || this.isClosing || !this.options.port.isUpdateDue(family)) return;
    const update = this.update(family, this.term);
    this.running.add(update);
    void update.finally(() => this.running.delete(update));
  }

  /** True while a meta-update runs; after `close`, one that was abandoned and not yet over. */
  get isUpdating(): boolean {
    return this.running.size > 0;
  }

  /**
   * Starts no more updates, abandons those in progress (their results are dropped, nothing
   * more is published) and stops following the bank.
   */
  async close(): Promise<void> {
    this.isClosing = true;
    if (this.running.size > 0) {
      this.options.logger.info(
        { updates: this.running.size },
        'stopping: meta-update in progress abandoned; its result will be dropped',
      );
    }
    await this.stopFollowingBank();
  }

  private async update(family: string, term: number): Promise<void> {
    const { port, metrics, logger } = this.options;
    let outcome: Awaited<ReturnType<LearnerPort['update']>>;
    try {
      outcome = await port.update(family);
    } catch (error) {
      // Closing the learner may end the worker under an abandoned update: not a failure.
      if (this.isClosing) return;
      logger.error({ err: error, family }, 'meta-update failed; the meta version in use stays');
      return;
    }
    if (this.isClosing) return;

    const { adopted, candidate, wallMs } = outcome;
    metrics?.observeMetaUpdate(family, adopted ? 'adopted' : 'rejected', wallMs / 1000);
    if (!adopted) return;
    if (term !== this.term) {
      logger.info(
        { family, metaVersion: candidate.metaVersion },
        'no longer the meta-updater: meta version dropped',
      );
      return;
    }
    await this.publish(candidate);
  }

  /** Publishes an adopted version, then uses it here without waiting to read it back. */
  private async publish(candidate: Parameters<typeof metaVersionToRecord>[0]): Promise<void> {
    const { producer, codec, topics, versions, logger } = this.options;
    const encoded = codec.encode('MetaVersion', metaVersionToRecord(candidate));
    try {
      await producer.send(topics.meta, [{ key: candidate.family, ...encoded }]);
    } catch (error) {
      const { family, metaVersion } = candidate;
      if (this.isClosing) {
        // The producer closed under it at shutdown: the next meta-updater publishes anew.
        logger.info({ family, metaVersion }, 'stopping: meta version not published; dropped');
        return;
      }
      logger.error({ err: error, family, metaVersion }, 'meta version not published; not used');
      return;
    }
    versions.apply(candidate, 'adopted');
  }

  private isLeaderPartition({ topic, partition }: TopicPartition): boolean {
    return topic === this.options.topics.episodes && partition === 0;
  }

  /** Offers the meta-updater's bank every entry another instance remembered. */
  private async followBank(): Promise<Consumer | undefined> {
    const { transport, codec, port, topics, instanceId, logger, metrics } = this.options;
    try {
      return await followTopic(transport, topics.bank, (record) => {
        if (record.headers[BANK_INSTANCE_HEADER]?.toString() === instanceId) return;
        // A task another instance's bank dropped stays here; this bank has its own bound.
        const entry = decodeOrLog(logger, record, () => decodeBankEntry(codec, record));
        if (entry === undefined) return;
        port.restore([entry]);
        metrics?.setBankSize(entry.family, port.bankSize(entry.family));
      });
    } catch (error) {
      logger.error({ err: error }, 'cannot follow the bank topic; training on this instance only');
      return undefined;
    }
  }

  private async stopFollowingBank(): Promise<void> {
    const follower = this.bankFollower;
    this.bankFollower = undefined;
    await (await follower)?.stop();
  }
}
