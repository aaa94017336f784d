import { describe, expect, it } from 'vitest';
import { OffsetTracker } from '../../src/stream/offsets.js';
import type { ConsumedRecord } from '../../src/transport/transport.js';

const topic = 'allmap.episodes';

function record(partition: number, offset: number): ConsumedRecord {
  return {
    topic,
    partition,
    offset: String(offset),
    key: 'k',
    value: null,
    headers: {},
    timestamp: '0',
  };
}

function trackerWith(partitions: number[]): OffsetTracker {
  const tracker = new OffsetTracker();
  tracker.assign(partitions.map((partition) => ({ topic, partition })));
  return tracker;
}

describe('OffsetTracker', () => {
  it('commits only up to the first offset that is not done, whatever order episodes finish in', () => {
    const tracker = trackerWith([0]);
    const tickets = [10, 11, 12, 13].map((offset) => tracker.take(record(0, offset))!);

    tracker.complete(tickets[1]!);
    tracker.complete(tickets[3]!);
    expect(tracker.commitsDue()).toEqual([{ topic, partition: 0, offset: '10' }]);

    tracker.complete(tickets[0]!);
    expect(tracker.commitsDue()).toEqual([{ topic, partition: 0, offset: '12' }]);

    tracker.complete(tickets[2]!);
    expect(tracker.commitsDue()).toEqual([{ topic, partition: 0, offset: '14' }]);
    expect(tracker.inFlight).toBe(0);
  });

  it('handles gaps between offsets, as transaction markers and compaction leave them', () => {
    const tracker = trackerWith([0]);
    const first = tracker.take(record(0, 5))!;
    const second = tracker.take(record(0, 9))!;

    tracker.complete(first);
    expect(tracker.commitsDue()).toEqual([{ topic, partition: 0, offset: '9' }]);
    tracker.complete(second);
    expect(tracker.commitsDue()).toEqual([{ topic, partition: 0, offset: '10' }]);
  });

  it('does not offer an offset again once it is committed', () => {
    const tracker = trackerWith([0, 1]);
    tracker.complete(tracker.take(record(0, 0))!);
    tracker.complete(tracker.take(record(1, 7))!);
    const due = tracker.commitsDue();
    expect(due).toHaveLength(2);

    tracker.markCommitted(due);
    expect(tracker.commitsDue()).toEqual([]);
  });

  it('abandons the episodes of a revoked partition and ignores their late completion', () => {
    const tracker = trackerWith([0, 1]);
    const stale = tracker.take(record(0, 3))!;
    tracker.take(record(0, 4));
    tracker.take(record(1, 1));
    expect(tracker.inFlight).toBe(3);

    expect(tracker.revoke([{ topic, partition: 0 }])).toBe(2);
    expect(tracker.inFlight).toBe(1);

    // Assigned again: a new epoch, so the old ticket completes nothing.
    tracker.assign([{ topic, partition: 0 }]);
    expect(tracker.isCurrent(stale)).toBe(false);
    expect(tracker.complete(stale)).toBe(false);
    expect(tracker.commitsDue().map((due) => due.partition)).not.toContain(0);
  });

  it('refuses records of partitions it was never given', () => {
    const tracker = trackerWith([0]);
    expect(tracker.take(record(3, 0))).toBeUndefined();
    expect(tracker.inFlight).toBe(0);
  });

  it('tells listeners the count in flight whenever episodes are released', () => {
    const tracker = trackerWith([0]);
    const seen: number[] = [];
    tracker.onRelease((inFlight) => seen.push(inFlight));
    const tickets = [0, 1, 2].map((offset) => tracker.take(record(0, offset))!);

    tracker.complete(tickets[2]!);
    tracker.revoke([{ topic, partition: 0 }]);
    expect(seen).toEqual([2, 0]);
  });

  it('keeps memory bounded over a long run by dropping the finished prefix', () => {
    const tracker = trackerWith([0]);
    for (let offset = 0; offset < 50_000; offset++) {
      tracker.complete(tracker.take(record(0, offset))!);
    }
    const progress = tracker.get({ topic, partition: 0 })!;
    expect(progress.pendingCount).toBe(0);
    expect(tracker.commitsDue()).toEqual([{ topic, partition: 0, offset: '50000' }]);
    // The internal queue is compacted: nothing pending is left to iterate over.
    expect([...progress.pending()]).toEqual([]);
  });
});

describe('the lag an offset tracker reports', () => {
  it('falls to zero once the committed offset reaches the high watermark', () => {
    const tracker = new OffsetTracker();
    const lags: number[] = [];
    tracker.onLag((_partition, lag) => lags.push(lag));
    const partition = { topic: 'episodes', partition: 0 };
    tracker.assign([partition]);

    const progress = tracker.get(partition)!;
    progress.highWatermark = 3n;
    tracker.markCommitted([{ ...partition, offset: '1' }]);
    tracker.markCommitted([{ ...partition, offset: '3' }]);

    expect(lags).toEqual([2, 0]);
  });
});
