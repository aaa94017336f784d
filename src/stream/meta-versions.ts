/**
 * Meta versions and the bank on their compacted topics: reading them back on start
 * (recovery), following the meta topic while running, and following the bank topic while
 * this instance is the meta-updater.
 */
import { randomUUID } from 'node:crypto';
import { Subject } from 'rxjs';
import type { AvroCodec } from '../codec/index.js';
import type { Logger } from '../log/logger.js';
import type { LearnerMetrics } from '../observability/metrics.js';
import type { Readiness } from '../observability/readiness.js';
import {
  type ConsumedRecord,
  type Consumer,
  readLatestByKey,
  type Transport,
} from '../transport/index.js';
import {
  type BankEntry,
  type LearnerPort,
  type MetaVersion,
  metaVersionFromRecord,
} from './learner-port.js';
import { bankEntryFromRecord } from './records.js';

/** The bank-topic header naming the instance that wrote an entry. */
export const BANK_INSTANCE_HEADER = 'allmap-instance';

/** A meta version the stream switched to, for progress lines and tests. */
export interface AppliedVersion {
  readonly family: string;
  readonly metaVersion: number;
  /** `recovered` on start, `followed` from the meta topic, `adopted` by this instance. */
  readonly source: 'recovered' | 'followed' | 'adopted';
}

/** Reads a meta version from a meta-topic record; throws what the codec or learner throws. */
export function decodeMetaVersion(codec: AvroCodec, record: ConsumedRecord): MetaVersion {
  const decoded = codec.decode('MetaVersion', record.value!, record.headers, record);
  return metaVersionFromRecord(decoded);
}

export function decodeBankEntry(codec: AvroCodec, record: ConsumedRecord): BankEntry {
  return bankEntryFromRecord(codec.decode('BankEntry', record.value!, record.headers, record));
}

/**
 * Applies meta versions to the port and says so everywhere it matters: the gauge, the
 * readiness report, the log, and `applied$`.
 */
export class MetaVersionSwitch {
  readonly applied$ = new Subject<AppliedVersion>();

  constructor(
    private readonly port: LearnerPort,
    private readonly logger: Logger,
    private readonly metrics?: LearnerMetrics,
    private readonly readiness?: Readiness,
  ) {}

  /** Applies `version` unless one as new is in use; a version that does not fit is logged. */
  apply(version: MetaVersion, source: AppliedVersion['source']): boolean {
    const { family, metaVersion } = version;
    let isApplied: boolean;
    try {
      isApplied = this.port.apply(version);
    } catch (error) {
      this.logger.error({ err: error, family, metaVersion }, 'meta version refused');
      return false;
    }
    if (!isApplied) return false;

    this.metrics?.setMetaVersion(family, metaVersion);
    this.readiness?.setMetaVersionLoaded(family, metaVersion);
    this.logger.info({ family, metaVersion, source }, 'meta version in use from the next batch');
    this.applied$.next({ family, metaVersion, source });
    return true;
  }
}

/**
 * Recovery, before the first episode is read: phi and psi of every family from the meta
 * topic, and the bank from the bank topic, each read to its end offsets.
 */
export async function recoverFromTopics(options: {
  transport: Transport;
  codec: AvroCodec;
  port: LearnerPort;
  versions: MetaVersionSwitch;
  topics: { meta: string; bank: string };
  logger: Logger;
}): Promise<{ metaVersions: number; bankEntries: number }> {
  const { transport, codec, port, versions, topics, logger } = options;

  let metaVersions = 0;
  for (const record of (await readLatestByKey(transport, topics.meta)).values()) {
    const version = decodeOrLog(logger, record, () => decodeMetaVersion(codec, record));
    if (version && versions.apply(version, 'recovered')) metaVersions += 1;
  }

  const entries: BankEntry[] = [];
  for (const record of (await readLatestByKey(transport, topics.bank)).values()) {
    const entry = decodeOrLog(logger, record, () => decodeBankEntry(codec, record));
    if (entry) entries.push(entry);
  }
  port.restore(entries);
  logger.info({ metaVersions, bankEntries: entries.length }, 'recovered meta versions and bank');
  return { metaVersions, bankEntries: entries.length };
}

/**
 * Follows a compacted topic from its start with a consumer group of its own that never
 * commits: every instance sees every record, whatever the other members of its group do.
 */
export async function followTopic(
  transport: Transport,
  topic: string,
  onRecord: (record: ConsumedRecord) => void,
): Promise<Consumer> {
  return transport.consume({
    groupId: `allmap-follower-${randomUUID()}`,
    topics: [topic],
    autoOffsetReset: 'earliest',
    isolationLevel: 'read_committed',
    eachBatch: async ({ records }) => {
      for (const record of records) onRecord(record);
    },
  });
}

/** Every instance follows the meta topic and switches to each newer version it sees. */
export function followMetaVersions(options: {
  transport: Transport;
  codec: AvroCodec;
  versions: MetaVersionSwitch;
  topic: string;
  logger: Logger;
}): Promise<Consumer> {
  const { transport, codec, versions, topic, logger } = options;
  return followTopic(transport, topic, (record) => {
    if (record.value === null) return;
    const version = decodeOrLog(logger, record, () => decodeMetaVersion(codec, record));
    if (version) versions.apply(version, 'followed');
  });
}

function decodeOrLog<T>(logger: Logger, record: ConsumedRecord, decode: () => T): T | undefined {
  if (record.value === null) return undefined;
  try {
    return decode();
  } catch (error) {
    const { topic, partition, offset } = record;
    logger.error({ err: error, topic, partition, offset }, 'record skipped: cannot read it');
    return undefined;
  }
}

export { decodeOrLog };
