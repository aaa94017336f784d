import type { TrainingEntry, UpdateRequest, UpdateResult } from './update-core.js';

/** Messages from the learner to its meta-update worker. */
export type WorkerInbound =
  | {
      readonly kind: 'sync';
      readonly stored: readonly TrainingEntry[];
      readonly dropped: readonly string[];
    }
  | { readonly kind: 'run'; readonly id: number; readonly request: UpdateRequest }
  | { readonly kind: 'close' };

/** Messages from the meta-update worker back to the learner. */
export type WorkerOutbound =
  | { readonly kind: 'result'; readonly id: number; readonly result: UpdateResult }
  | {
      readonly kind: 'failure';
      readonly id: number;
      readonly message: string;
      readonly stack: string;
    }
  | { readonly kind: 'closed' };
