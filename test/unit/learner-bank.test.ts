import { describe, expect, it } from 'vitest';
import type { LabelledSet } from '../../src/episode/episode.js';
import { type BankChange, type BankEntry, MappingBank } from '../../src/learner/bank.js';
import { LearnerInputError } from '../../src/learner/errors.js';

const support: LabelledSet = {
  inputs: Float32Array.of(0.5),
  inputDim: 1,
  targets: { kind: 'regression', values: Float32Array.of(1), outputDim: 1 },
};

function entry(taskId: string, family = 'sinusoid', rememberedAt = 0): BankEntry {
  return {
    taskId,
    family,
    metaVersion: 0,
    support,
    theta: Float32Array.of(1, 2, 3),
    metrics: { lossBefore: 1, lossAfter: 0.5, steps: 1, status: 'ok', adaptMs: 1 },
    rememberedAt,
  };
}

function offer(bank: MappingBank, count: number, family = 'sinusoid', from = 0): void {
  for (let i = from; i < from + count; i++) bank.remember(entry(`${family}-${i}`, family, i));
}

describe('the mapping bank', () => {
  it('never holds more entries than its capacity', () => {
    const bank = new MappingBank({ capacity: 50, seed: 1 });
    offer(bank, 1000);
    expect(bank.size).toBe(50);
    expect(bank.groupCounts().get('sinusoid')).toEqual({ seen: 1000, held: 50 });
  });

  it('keeps a uniform sample of the stream: early tasks stay as likely as late ones', () => {
    // Reservoir sampling keeps each of n offers with probability capacity / n.
    const firstHalf: number[] = [];
    for (let seed = 0; seed < 40; seed++) {
      const bank = new MappingBank({ capacity: 100, seed });
      offer(bank, 1000);
      const ids = bank.toEntries().map((kept) => Number(kept.taskId.split('-')[1]));
      firstHalf.push(ids.filter((id) => id < 500).length);
    }
    const meanFirstHalf = firstHalf.reduce((a, b) => a + b, 0) / firstHalf.length;
    // Expected 50 of 100; a policy that kept the newest would give 0.
    expect(meanFirstHalf).toBeGreaterThan(45);
    expect(meanFirstHalf).toBeLessThan(55);
  });

  it('gives a new family its quota when the bank is full', () => {
    const bank = new MappingBank({ capacity: 40, seed: 2 });
    offer(bank, 200, 'sinusoid');
    offer(bank, 200, 'fashion-mnist-5way');

    const counts = bank.groupCounts();
    expect(counts.get('sinusoid')?.held).toBe(20);
    expect(counts.get('fashion-mnist-5way')?.held).toBe(20);
  });

  it('updates a task id already stored in place', () => {
    const bank = new MappingBank({ capacity: 3, seed: 3 });
    expect(bank.remember(entry('a'))).toBe('added');
    expect(bank.remember({ ...entry('a'), metaVersion: 7 })).toBe('updated');
    expect(bank.size).toBe(1);
    expect(bank.get('a')?.metaVersion).toBe(7);
  });

  it('makes the same choices for the same seed and offers', () => {
    const ids = (seed: number) => {
      const bank = new MappingBank({ capacity: 30, seed });
      offer(bank, 500);
      return bank.toEntries().map((kept) => kept.taskId);
    };
    expect(ids(5)).toEqual(ids(5));
    expect(ids(5)).not.toEqual(ids(6));
  });

  it('reports every stored and dropped entry, so persistence can follow it', () => {
    const bank = new MappingBank({ capacity: 10, seed: 4 });
    const mirror = new Set<string>();
    bank.onChange((change: BankChange) => {
      if (change.kind === 'stored') mirror.add(change.entry.taskId);
      else mirror.delete(change.taskId);
    });
    offer(bank, 300);
    expect([...mirror].sort()).toEqual(
      bank
        .toEntries()
        .map((kept) => kept.taskId)
        .sort(),
    );
  });

  it('round-trips through its entries', () => {
    const bank = new MappingBank({ capacity: 20, seed: 7 });
    offer(bank, 60);
    const restored = MappingBank.fromEntries(bank.toEntries(), { capacity: 20, seed: 7 });
    expect(restored.toEntries()).toEqual(bank.toEntries());
  });

  it('keeps the newest entries when restoring more than fit', () => {
    const entries = Array.from({ length: 10 }, (_, i) => entry(`t${i}`, 'sinusoid', i));
    const restored = MappingBank.fromEntries(entries, { capacity: 4, seed: 0 });
    expect(restored.toEntries().map((kept) => kept.taskId)).toEqual(['t6', 't7', 't8', 't9']);
  });

  it('refuses a capacity below one, naming it', () => {
    expect(() => new MappingBank({ capacity: 0, seed: 1 })).toThrow(LearnerInputError);
    expect(() => new MappingBank({ capacity: 0, seed: 1 })).toThrow(
      'bank capacity: received 0; allowed an integer >= 1',
    );
  });
});
