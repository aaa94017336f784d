import { Worker } from 'node:worker_threads';
import { MetaUpdateError } from './errors.js';
import {
  type TrainingEntry,
  UpdateCore,
  type UpdateCoreOptions,
  type UpdateRequest,
  type UpdateResult,
} from './update-core.js';
import type { WorkerInbound, WorkerOutbound } from './worker-protocol.js';

/** Where meta-updates run: a worker thread (the default), or inline on the caller's thread. */
export type UpdatePlacement = 'worker' | 'inline';

/** Runs meta-updates against a mirror of the bank; one per family. */
export interface UpdateRunner {
  /** Forwards bank changes; they reach every update requested after this call. */
  sync(stored: readonly TrainingEntry[], dropped: readonly string[]): void;
  run(request: UpdateRequest): Promise<UpdateResult>;
  close(): Promise<void>;
}

export function startUpdateRunner(
  family: string,
  options: UpdateCoreOptions,
  placement: UpdatePlacement,
): UpdateRunner {
  return placement === 'worker'
    ? new WorkerUpdateRunner(family, options)
    : new InlineUpdateRunner(options);
}

/**
 * Runs updates on the caller's thread. Each engine run then blocks the event loop for its
 * duration, so this is for tests, tools and the case where workers are unavailable.
 */
export class InlineUpdateRunner implements UpdateRunner {
  private readonly core: UpdateCore;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: UpdateCoreOptions) {
    this.core = new UpdateCore(options);
  }

  sync(stored: readonly TrainingEntry[], dropped: readonly string[]): void {
    // Behind any update in progress, as the worker orders its messages.
    this.queue = this.queue.then(() => this.core.sync(stored, dropped));
  }

  run(request: UpdateRequest): Promise<UpdateResult> {
    const result = this.queue.then(() => this.core.run(request));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.core.dispose();
  }
}

/**
 * Runs updates in a `worker_threads` worker with its own engine (see meta-worker.ts). A
 * worker that dies fails every pending update with a `MetaUpdateError`; the learner keeps
 * its current meta version and may start a new runner.
 */
export class WorkerUpdateRunner implements UpdateRunner {
  private readonly worker: Worker;
  private readonly pending = new Map<number, PendingRun>();
  private nextId = 1;
  private closed?: Promise<void>;
  private failure?: MetaUpdateError;

  constructor(
    private readonly family: string,
    options: UpdateCoreOptions,
  ) {
    this.worker = startWorker(options);
    this.worker.on('message', (message: WorkerOutbound) => this.receive(message));
    this.worker.on('error', (error) =>
      this.fail(new MetaUpdateError(family, error.message, { cause: error })),
    );
    this.worker.on('exit', (code) =>
      this.fail(new MetaUpdateError(family, `worker exited with code ${code}`)),
    );
  }

  sync(stored: readonly TrainingEntry[], dropped: readonly string[]): void {
    this.post({ kind: 'sync', stored, dropped });
  }

  run(request: UpdateRequest): Promise<UpdateResult> {
    if (this.failure) return Promise.reject(this.failure);

    const id = this.nextId++;
    return new Promise<UpdateResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ kind: 'run', id, request });
    });
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.failure) return resolve();
      this.worker.once('exit', () => resolve());
      this.post({ kind: 'close' });
    });
    return this.closed;
  }

  private post(message: WorkerInbound): void {
    if (!this.failure) this.worker.postMessage(message);
  }

  private receive(message: WorkerOutbound): void {
    if (message.kind === 'closed') return;

    const pending = this.pending.get(message.id);
    this.pending.delete(message.id);
    if (message.kind === 'result') pending?.resolve(message.result);
    else pending?.reject(new MetaUpdateError(this.family, message.message));
  }

  private fail(error: MetaUpdateError): void {
    this.failure ??= error;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}

interface PendingRun {
  resolve(result: UpdateResult): void;
  reject(error: Error): void;
}

/**
 * Starts the worker's entry file beside this one: the compiled `.js` in `dist/`, or, when
 * running from source (tests, `tsx`), the `.ts` file loaded through tsx's API, since
 * Node 20 does not apply `--import` loader hooks to a worker's entry module.
 */
function startWorker(options: UpdateCoreOptions): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./meta-worker.js', import.meta.url), { workerData: options });
  }
  const entry = JSON.stringify(new URL('./meta-worker.ts', import.meta.url).href);
  const loader = `import('tsx/esm/api').then((tsx) => tsx.tsImport(${entry}, ${entry}));`;
  return new Worker(loader, { eval: true, workerData: options });
}
